/**
 * A small HTTP client for tests against a real manager, over the global fetch. Answers are
 * `{ status, body }` only, so a test can compare a whole answer with `toEqual`.
 */

export interface ApiResponse<B = unknown> {
  status: number;
  /** The body parsed as JSON when it parses, else its text ('' when empty). */
  body: B;
}

export interface ApiClient {
  get<B = unknown>(path: string): Promise<ApiResponse<B>>;
  /** Sends `body` as JSON; without a body, sends no body and no content type. */
  post<B = unknown>(path: string, body?: unknown): Promise<ApiResponse<B>>;
  put<B = unknown>(path: string, body: unknown): Promise<ApiResponse<B>>;
  delete<B = unknown>(path: string): Promise<ApiResponse<B>>;
  /** Sends `raw` as it is, for broken-JSON and wrong-content-type tests. */
  postRaw<B = unknown>(path: string, raw: string, contentType: string): Promise<ApiResponse<B>>;
}

/** A request that has not answered in this time fails the test instead of hanging it. */
const REQUEST_TIMEOUT_MS = 10_000;

/** `baseUrl` like `http://127.0.0.1:43121`; `token` is sent as `Authorization: Bearer`. */
export function api(baseUrl: string, token?: string): ApiClient {
  const auth: Record<string, string> =
    token === undefined ? {} : { authorization: `Bearer ${token}` };

  async function send<B>(
    method: string,
    path: string,
    body?: string,
    contentType?: string,
  ): Promise<ApiResponse<B>> {
    const url = new URL(path, baseUrl);
    const headers = contentType === undefined ? auth : { ...auth, 'content-type': contentType };
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new Error(`${method} ${url.href} failed`, { cause: error });
    }
    const text = await response.text();
    return { status: response.status, body: parseBody(text) as B };
  }

  return {
    get: (path) => send('GET', path),
    post: (path, body) =>
      body === undefined
        ? send('POST', path)
        : send('POST', path, JSON.stringify(body), 'application/json'),
    put: (path, body) => send('PUT', path, JSON.stringify(body), 'application/json'),
    delete: (path) => send('DELETE', path),
    postRaw: (path, raw, contentType) => send('POST', path, raw, contentType),
  };
}

function parseBody(text: string): unknown {
  if (text === '') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The client commands' view of the manager's HTTP API (docs/api.md). Every failure
 * becomes one readable Error: an API error as `<code>: <message>`, an unreachable manager
 * as a line naming its URL.
 */
import type { z } from 'zod';
import { errorAnswerSchema } from '../shared/api-schemas.js';
import { ApiError } from '../shared/errors.js';

/** How long one request may take before the command gives up. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface ClientOptions {
  /** Base URL without a trailing slash. */
  url: string;
  token?: string | undefined;
  /** Aborts a request in flight (status --watch on SIGINT). */
  signal?: AbortSignal;
}

export interface Answer<T> {
  body: T;
  /** The JSON text as the manager sent it, for --json. */
  raw: string;
}

/** The API's error answer, read leniently: another server on the way may send a message only. */
const errorBodySchema = errorAnswerSchema
  .pick({ code: true, error: true, message: true })
  .partial({ code: true, error: true });

export function queuePath(queue: string, rest = ''): string {
  return `/v1/queues/${encodeURIComponent(queue)}${rest}`;
}

export class ApiClient {
  constructor(private readonly options: ClientOptions) {}

  get<T>(path: string, schema: z.ZodType<T>): Promise<Answer<T>> {
    return this.request('GET', path, undefined, schema);
  }

  post<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<Answer<T>> {
    return this.request('POST', path, body, schema);
  }

  put<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<Answer<T>> {
    return this.request('PUT', path, body, schema);
  }

  /** For routes that answer 204 without a body. */
  async delete(path: string): Promise<void> {
    await this.request('DELETE', path, undefined, undefined);
  }

  private async request<T>(
    method: string,
    path: string,
    body: unknown,
    /** Undefined: the answer has no body to read. */
    schema: z.ZodType<T> | undefined,
  ): Promise<Answer<T>> {
    const { url, token } = this.options;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const signal = this.options.signal ? AbortSignal.any([this.options.signal, timeout]) : timeout;

    let response: Response;
    let raw: string;
    try {
      response = await fetch(`${url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      raw = await response.text();
    } catch (error) {
      if (this.options.signal?.aborted) throw error;
      if (timeout.aborted) {
        throw new Error(
          `no answer from the manager at ${url} within ${REQUEST_TIMEOUT_MS / 1000} s`,
        );
      }
      // No `cause`: main prints causes, and "fetch failed" would add nothing here.
      throw new Error(`cannot reach the manager at ${url}: ${networkProblem(error)}`);
    }

    if (!response.ok) throw apiError(response, raw, token !== undefined);
    if (schema === undefined) return { body: undefined as T, raw };
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new Error(
        `unexpected answer from ${url}${path}: not JSON (is this a Blockrunner manager?)`,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      throw new Error(
        `unexpected answer from ${url}${path}: ${where}${issue?.message ?? 'invalid'}`,
      );
    }
    return { body: parsed.data, raw };
  }
}

function apiError(response: Response, raw: string, hasToken: boolean): ApiError {
  let parsed: z.infer<typeof errorBodySchema> | undefined;
  try {
    parsed = errorBodySchema.parse(JSON.parse(raw));
  } catch {
    parsed = undefined;
  }
  const code = parsed?.code ?? `HTTP ${response.status}`;
  const message = parsed?.message ?? (response.statusText || 'request failed');
  const hint =
    response.status === 401 && !hasToken ? ' (pass --token or set BLOCKRUNNER_API_TOKEN)' : '';
  return new ApiError(`${code}: ${message}${hint}`, response.status, parsed?.code);
}

/** Node's fetch fails with `TypeError: fetch failed`; the socket error is in its cause. */
function networkProblem(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  const code = errorCode(cause);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the manager running? start one with `blockrunner up`)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connection timed out';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection closed before an answer';
    default:
      if (code !== undefined) return code;
      return cause instanceof Error ? cause.message : (error as Error).message;
  }
}

function errorCode(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const { code, errors } = cause as { code?: unknown; errors?: unknown };
  if (typeof code === 'string') return code;
  // Connecting to every address of a name (happy eyeballs) fails with an AggregateError.
  if (Array.isArray(errors)) return errorCode(errors[0]);
  return undefined;
}

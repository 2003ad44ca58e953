// Calls to the manager's /v1 API with the API token, when the manager has one: asked for once,
// on the first 401, and kept in sessionStorage for the tab's life (docs/dashboard.md).
const TOKEN_KEY = 'blockrunner.apiToken';
const listeners = new Set();
/** Set when the operator dismissed the prompt: no more prompts until they ask for one. */
let declined = false;

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function currentToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function tokenDeclined() {
  return declined;
}

/** Called with no argument whenever the token or the declined flag changes. */
export function onTokenChange(listener) {
  listeners.add(listener);
}

/** Prompts for the token; true when one was given. */
export function askForToken(refused = false) {
  const question = refused
    ? 'The manager refused that token. API token (BLOCKRUNNER_API_TOKEN):'
    : 'This manager needs its API token (BLOCKRUNNER_API_TOKEN):';
  const given = window.prompt(question)?.trim();
  declined = !given;
  if (given) sessionStorage.setItem(TOKEN_KEY, given);
  for (const listener of listeners) listener();
  return !declined;
}

/** JSON in and out; throws ApiError with the answer's `code` and message on 4xx/5xx. */
export async function api(path, { method = 'GET', body } = {}) {
  for (;;) {
    const token = currentToken();
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
    if (response.status === 401) {
      // Another call may have got a token while this one was on its way: just try again.
      if (currentToken() !== token) continue;
      if (!declined && askForToken(token !== undefined)) continue;
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, data?.message ?? response.statusText, data?.code);
    }
    return data;
  }
}

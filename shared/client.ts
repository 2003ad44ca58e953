/**
 * A typed client of the manager's HTTP API (docs/api.md), the package's `blockrunner/client`
 * entry (docs/workers.md, "The HTTP client") and what the CLI's client commands use. Every
 * answer is checked with its schema of shared/api-schemas.ts; every failure becomes one
 * readable Error: an API error as an ApiError `<code>: <message>`, an unreachable manager as a
 * line naming its URL.
 */
import type { z } from 'zod';
import {
  type EnqueueAnswer,
  enqueueAnswerSchema,
  errorAnswerSchema,
  failedPageSchema,
  type QueueSettings,
  type QueueSummary,
  queueListSchema,
  queueSettingsSchema,
  queueSummarySchema,
  type ReorgList,
  reorgListSchema,
  retryAnswerSchema,
  type SourceAnswer,
  sourceAnswerSchema,
} from './api-schemas.js';
import { ApiError } from './errors.js';

export { ApiError };
export type FailedPage = z.infer<typeof failedPageSchema>;
export type RetryAnswer = z.infer<typeof retryAnswerSchema>;
export type { EnqueueAnswer, QueueSummary, ReorgList, SourceAnswer };

/** How long one request may take before the command gives up. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface ClientOptions {
  /** The manager's base URL, `http://127.0.0.1:8080` (a trailing slash is dropped). */
  url: string;
  /** The manager's BLOCKRUNNER_API_TOKEN, sent as `Authorization: Bearer <token>`. */
  token?: string | undefined;
  /** Aborts every request in flight (status --watch on SIGINT). */
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

/** Which heights to enqueue: one range, a list, or a list of ranges (all inclusive). */
export type HeightsToEnqueue =
  | { from: number; to: number }
  | { heights: readonly number[] }
  | { ranges: readonly { from: number; to: number }[] };

export interface EnqueueOptions {
  /** Run heights again that are already done. */
  force?: boolean;
  /** `tip` goes before the queue's backfill (docs/chains.md, "Lanes"). */
  lane?: 'tip' | 'backfill';
}

/** An evm source follows a node; a push source takes heads from POST .../head. */
export type SourceRequest =
  | {
      kind: 'evm';
      url: string;
      from?: number;
      confirmations?: number;
      finality?: number;
      pollMs?: number;
    }
  | { kind: 'push'; from?: number; confirmations?: number; finality?: number; pollMs?: number };

/**
 * The API's calls, each resolving to the checked answer. `client.answers` has the same calls
 * resolving to `{ body, raw }`, with the JSON text as the manager sent it (the CLI's --json).
 */
export class Client {
  readonly answers: ClientAnswers;

  constructor(options: ClientOptions) {
    this.answers = new ClientAnswers({ ...options, url: options.url.replace(/\/+$/, '') });
  }

  /** POST /v1/queues/:queue/heights: resolves once the heights are committed. */
  async enqueue(
    queue: string,
    heights: HeightsToEnqueue,
    options: EnqueueOptions = {},
  ): Promise<EnqueueAnswer> {
    return (await this.answers.enqueue(queue, heights, options)).body;
  }

  /** GET /v1/queues: every queue's summary. */
  async summaries(): Promise<QueueSummary[]> {
    return (await this.answers.summaries()).body.queues;
  }

  /** GET /v1/queues/:queue; an unknown queue is an ApiError with status 404. */
  async summary(queue: string): Promise<QueueSummary> {
    return (await this.answers.summary(queue)).body;
  }

  /** GET /v1/queues/:queue/failed: a page of dead letters; pass `next` as `after`. */
  async failed(queue: string, page: { limit?: number; after?: number } = {}): Promise<FailedPage> {
    return (await this.answers.failed(queue, page)).body;
  }

  /** POST /v1/queues/:queue/failed/retry: requeues every dead letter, or those within a range. */
  async retry(queue: string, range?: { from: number; to: number }): Promise<RetryAnswer> {
    return (await this.answers.retry(queue, range)).body;
  }

  /** GET /v1/queues/:queue/source. */
  async source(queue: string): Promise<SourceAnswer> {
    return (await this.answers.source(queue)).body;
  }

  /** PUT /v1/queues/:queue/source: the queue follows a chain (docs/chains.md). */
  async setSource(queue: string, source: SourceRequest): Promise<SourceAnswer> {
    return (await this.answers.setSource(queue, source)).body;
  }

  /** DELETE /v1/queues/:queue/source: enqueued heights stay. */
  async deleteSource(queue: string): Promise<void> {
    await this.answers.deleteSource(queue);
  }

  /** DELETE /v1/queues/:queue: the queue, its heights and history are gone. */
  async deleteQueue(queue: string): Promise<void> {
    await this.answers.deleteQueue(queue);
  }

  /** GET /v1/queues/:queue/settings. */
  async settings(queue: string): Promise<QueueSettings> {
    return (await this.answers.settings(queue)).body;
  }

  /** PUT /v1/queues/:queue/settings: changes the settings given; answers them all. */
  async updateSettings(queue: string, change: Partial<QueueSettings>): Promise<QueueSettings> {
    return (await this.answers.updateSettings(queue, change)).body;
  }

  /** GET /v1/queues/:queue/reorgs: newest first. */
  async reorgs(queue: string, options: { limit?: number } = {}): Promise<ReorgList['items']> {
    return (await this.answers.reorgs(queue, options)).body.items;
  }
}

/** The calls of Client, each with the answer's JSON text beside the checked body. */
export class ClientAnswers {
  constructor(private readonly options: ClientOptions) {}

  enqueue(
    queue: string,
    heights: HeightsToEnqueue,
    options: EnqueueOptions = {},
  ): Promise<Answer<EnqueueAnswer>> {
    return this.post(queuePath(queue, '/heights'), { ...heights, ...options }, enqueueAnswerSchema);
  }

  summaries(): Promise<Answer<{ queues: QueueSummary[] }>> {
    return this.get('/v1/queues', queueListSchema);
  }

  summary(queue: string): Promise<Answer<QueueSummary>> {
    return this.get(queuePath(queue), queueSummarySchema);
  }

  failed(
    queue: string,
    { limit, after }: { limit?: number; after?: number } = {},
  ): Promise<Answer<FailedPage>> {
    const query = new URLSearchParams();
    if (limit !== undefined) query.set('limit', String(limit));
    if (after !== undefined) query.set('after', String(after));
    const search = query.size > 0 ? `?${query.toString()}` : '';
    return this.get(queuePath(queue, `/failed${search}`), failedPageSchema);
  }

  retry(queue: string, range?: { from: number; to: number }): Promise<Answer<RetryAnswer>> {
    return this.post(queuePath(queue, '/failed/retry'), range ?? {}, retryAnswerSchema);
  }

  source(queue: string): Promise<Answer<SourceAnswer>> {
    return this.get(queuePath(queue, '/source'), sourceAnswerSchema);
  }

  setSource(queue: string, source: SourceRequest): Promise<Answer<SourceAnswer>> {
    return this.put(queuePath(queue, '/source'), source, sourceAnswerSchema);
  }

  deleteSource(queue: string): Promise<void> {
    return this.delete(queuePath(queue, '/source'));
  }

  deleteQueue(queue: string): Promise<void> {
    return this.delete(queuePath(queue));
  }

  settings(queue: string): Promise<Answer<QueueSettings>> {
    return this.get(queuePath(queue, '/settings'), queueSettingsSchema);
  }

  updateSettings(queue: string, change: Partial<QueueSettings>): Promise<Answer<QueueSettings>> {
    return this.put(queuePath(queue, '/settings'), change, queueSettingsSchema);
  }

  reorgs(queue: string, { limit }: { limit?: number } = {}): Promise<Answer<ReorgList>> {
    const search = limit === undefined ? '' : `?limit=${limit}`;
    return this.get(queuePath(queue, `/reorgs${search}`), reorgListSchema);
  }

  /** Any route of the API, its answer checked with `schema`. */
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
  // A missing token and a wrong one both answer 401; each gets the hint that fits it.
  const hint =
    response.status !== 401
      ? ''
      : hasToken
        ? " (the token given was refused: check --token or BLOCKRUNNER_API_TOKEN against the manager's)"
        : ' (pass --token or set BLOCKRUNNER_API_TOKEN)';
  return new ApiError(`${code}: ${message}${hint}`, response.status, parsed?.code);
}

/** Node's fetch fails with `TypeError: fetch failed`; the socket error is in its cause. */
function networkProblem(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  const code = errorCode(cause);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (is a manager running at that address?)';
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

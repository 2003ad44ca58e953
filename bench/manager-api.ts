/** The few calls of the manager's HTTP API (docs/api.md) that the scenarios make. */
import { Agent, request as httpRequest } from 'node:http';
import type { EnqueueAnswer, QueueSummary } from '../shared/api-schemas.js';

const REQUEST_TIMEOUT_MS = 30_000;

export type EnqueueBody = ({ from: number; to: number } | { heights: number[] }) & {
  lane?: 'tip' | 'backfill';
};

export async function enqueue(
  baseUrl: string,
  queue: string,
  body: EnqueueBody,
): Promise<EnqueueAnswer> {
  return request<EnqueueAnswer>(baseUrl, 'POST', `/v1/queues/${queue}/heights`, body, 202);
}

export async function queueSummary(baseUrl: string, queue: string): Promise<QueueSummary> {
  return request<QueueSummary>(baseUrl, 'GET', `/v1/queues/${queue}`, undefined, 200);
}

/** Pauses or resumes `queue`'s dispatch (docs/api.md); answers its summary. */
export async function postQueue(
  baseUrl: string,
  queue: string,
  action: 'pause' | 'resume',
): Promise<QueueSummary> {
  return request<QueueSummary>(baseUrl, 'POST', `/v1/queues/${queue}/${action}`, {}, 200);
}

/** An evm source (PUT /v1/queues/:queue/source, docs/api.md); the other fields keep defaults. */
export interface EvmSource {
  url: string;
  from: number;
  confirmations: number;
  finality: number;
  pollMs: number;
}

export async function putSource(baseUrl: string, queue: string, source: EvmSource): Promise<void> {
  await request(baseUrl, 'PUT', `/v1/queues/${queue}/source`, { kind: 'evm', ...source }, 200);
}

/** Stops following; what was enqueued stays. */
export async function deleteSource(baseUrl: string, queue: string): Promise<void> {
  await requestText(baseUrl, 'DELETE', `/v1/queues/${queue}/source`, undefined, 204);
}

/** A reorganisation as GET /v1/queues/:queue/reorgs lists it. */
export interface ReorgItem {
  detectedAt: string;
  forkHeight: number;
  depth: number;
  revertFrom: number;
  revertTo: number;
  revertedAt: string | null;
}

export async function reorgList(baseUrl: string, queue: string): Promise<ReorgItem[]> {
  const body = await request<{ items: ReorgItem[] }>(
    baseUrl,
    'GET',
    `/v1/queues/${queue}/reorgs`,
    undefined,
    200,
  );
  return body.items;
}

export async function connectedWorkers(baseUrl: string): Promise<number> {
  const body = await request<{ workers: unknown[] }>(baseUrl, 'GET', '/v1/workers', undefined, 200);
  return body.workers.length;
}

/** Handler seconds the workers reported for `queue`, from the manager's /metrics. */
export async function handlerSeconds(baseUrl: string, queue: string): Promise<number> {
  const text = await requestText(baseUrl, 'GET', '/metrics', undefined, 200);
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`blockrunner_handler_seconds_total{queue="${queue}"} `));
  if (!line) throw new Error(`no blockrunner_handler_seconds_total for ${queue} in /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The sum of every series of metric `name` (all labels) in the manager's /metrics. */
export async function metricSum(baseUrl: string, name: string): Promise<number> {
  const text = await requestText(baseUrl, 'GET', '/metrics', undefined, 200);
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

/** True once the manager answers /readyz with 200 (it leads and its database answers). */
export async function isReady(baseUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/**
 * node:http with keep-alive rather than fetch: it writes the request in the calling turn, where
 * fetch first goes through several promise turns of its own (about 0.5 ms more at the median
 * here, 2-4 ms more at p99), which S4 would count as enqueue-to-dispatch latency.
 */
const agent = new Agent({ keepAlive: true });

async function request<T>(
  baseUrl: string,
  method: string,
  path: string,
  body: unknown,
  expected: number,
): Promise<T> {
  return JSON.parse(await requestText(baseUrl, method, path, body, expected)) as T;
}

/** The answer's body, once its status is `expected`; the request is written at once. */
function requestText(
  baseUrl: string,
  method: string,
  path: string,
  body: unknown,
  expected: number,
): Promise<string> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string | number> =
    payload === undefined
      ? {}
      : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
  return new Promise<string>((resolve, reject) => {
    const req = httpRequest(new URL(path, baseUrl), { method, agent, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('error', reject);
      response.on('end', () => {
        if (response.statusCode === expected) resolve(text);
        else
          reject(
            new Error(`${method} ${path} answered ${response.statusCode}: ${text.slice(0, 300)}`),
          );
      });
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () =>
      req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`)),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

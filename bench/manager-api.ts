/** The few calls of the manager's HTTP API (docs/api.md) that the scenarios make. */
import { Agent, request as httpRequest } from 'node:http';
import type { QueueSummary } from '../manager/queue/queue-state.js';

const REQUEST_TIMEOUT_MS = 30_000;

export type { QueueSummary };

export interface EnqueueAnswer {
  queue: string;
  added: number;
  skipped: number;
}

export type EnqueueBody = { from: number; to: number } | { heights: number[] };

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

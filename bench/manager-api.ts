/** The few calls of the manager's HTTP API (docs/api.md) that the scenarios make. */
import type { QueueSummary } from '../manager/queue-state.js';

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

async function request<T>(
  baseUrl: string,
  method: string,
  path: string,
  body: unknown,
  expected: number,
): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  if (response.status !== expected) {
    throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`);
  }
  return JSON.parse(text) as T;
}

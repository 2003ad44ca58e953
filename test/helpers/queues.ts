/** Reading a queue's summary over HTTP, and waiting until it satisfies a condition. */
import type { QueueSummary } from '../../manager/queue/queue-state.js';
import { api } from './http.js';
import { waitFor } from './wait.js';

export type { QueueSummary };

export async function queueSummary(
  url: string,
  queue = 'default',
  token?: string,
): Promise<QueueSummary> {
  const { status, body } = await api(url, token).get(`/v1/queues/${queue}`);
  if (status !== 200)
    throw new Error(`GET /v1/queues/${queue} answered ${status}: ${JSON.stringify(body)}`);
  return body as QueueSummary;
}

/** Polls the summary of `queue` until `until` holds; fails with `message` at the deadline. */
export function waitForQueue(
  url: string,
  until: (summary: QueueSummary) => boolean,
  message: string,
  options: { queue?: string; token?: string; timeoutMs?: number } = {},
): Promise<QueueSummary> {
  return waitFor(
    async () => {
      const summary = await queueSummary(url, options.queue, options.token);
      return until(summary) ? summary : undefined;
    },
    { timeoutMs: options.timeoutMs ?? 30_000, message },
  );
}

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

/**
 * Polls the summary of `queue` until `until` holds; fails with `message` at the deadline, and
 * with the last summary read, which usually says what was missing.
 */
export async function waitForQueue(
  url: string,
  until: (summary: QueueSummary) => boolean,
  message: string,
  options: { queue?: string; token?: string; timeoutMs?: number } = {},
): Promise<QueueSummary> {
  let last: QueueSummary | undefined;
  try {
    return await waitFor(
      async () => {
        last = await queueSummary(url, options.queue, options.token);
        return until(last) ? last : undefined;
      },
      { timeoutMs: options.timeoutMs ?? 30_000, message },
    );
  } catch (error) {
    if (last === undefined) throw error;
    throw new Error(`${(error as Error).message}; last summary ${JSON.stringify(last)}`, {
      cause: error,
    });
  }
}

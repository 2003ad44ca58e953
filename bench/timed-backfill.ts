/**
 * The clock of S1 and S3: enqueue 0..heights-1 in one request on a fresh queue, then wait until
 * PostgreSQL holds every height as done. Afterwards the queue must read every height done once,
 * none failed or retrying: correctness, not timing.
 */
import type { Cluster } from './cluster.js';
import type { CommitWatch } from './commit-watch.js';
import { enqueue, queueSummary } from './manager-api.js';

export interface BackfillTimes {
  /** performance.now() just before the enqueue request was sent. */
  started: number;
  /** When the enqueue request was answered (committed). */
  enqueued: number;
  /** When the probe of PostgreSQL found every height done. */
  finished: number;
}

export async function timeBackfill(
  cluster: Cluster,
  watch: CommitWatch,
  queue: string,
  heights: number,
  timeoutMs: number,
  /** How often PostgreSQL is probed; default COMMIT_POLL_MS (commit-watch.ts). */
  probeMs?: number,
): Promise<BackfillTimes> {
  const started = performance.now();
  const answer = await enqueue(cluster.url, queue, { from: 0, to: heights - 1 });
  const enqueued = performance.now();
  if (answer.added !== heights) {
    throw new Error(`enqueue added ${answer.added} heights, expected ${heights}`);
  }
  const finished = await watch.waitForAllDone(queue, 0, heights - 1, {
    timeoutMs,
    check: () => cluster.assertRunning(),
    ...(probeMs === undefined ? {} : { intervalMs: probeMs }),
  });
  const summary = await queueSummary(cluster.url, queue);
  if (summary.done !== heights || summary.failed !== 0 || summary.retrying !== 0) {
    throw new Error(`after the run, ${queue} reads ${JSON.stringify(summary)}`);
  }
  return { started, enqueued, finished };
}

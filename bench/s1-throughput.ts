/**
 * S1 throughput (docs/performance.md, "What each scenario measures"): 0..N-1 with the `noop`
 * handler, one manager and four worker processes. The clock starts just before the enqueue request
 * is sent and stops at the first probe of PostgreSQL that finds every height committed as done.
 * Each run uses a queue of its own on the same processes; the median run is the figure.
 */
import { Cluster } from './cluster.js';
import { COMMIT_POLL_MS, CommitWatch } from './commit-watch.js';
import type { BenchOptions } from './options.js';
import type { S1Result, S1Run } from './results.js';
import { round } from './stats.js';
import { timeBackfill } from './timed-backfill.js';

const RUN_TIMEOUT_MS = 180_000;

export async function runS1(options: BenchOptions): Promise<S1Result> {
  const { heights, runs, workers, concurrency, prefetch } = options.s1;
  const queues = Array.from({ length: runs }, (_, i) => `s1-run${i + 1}`);
  const cluster = await Cluster.start(options.adminUrl, 's1', options.cpuProfDir);
  try {
    await cluster.addWorkers(workers, { queues, concurrency, prefetch, handler: 'noop' });
    const watch = await CommitWatch.open(cluster.database.url);
    try {
      const results: S1Run[] = [];
      for (const queue of queues) results.push(await runOnce(cluster, watch, queue, heights));
      const middle = medianRun(results);
      return {
        database: cluster.database.name,
        heights,
        workers,
        concurrency,
        prefetch,
        handler: 'noop',
        runs: results,
        elapsedMs: middle.elapsedMs,
        heightsPerSecond: middle.heightsPerSecond,
        measured: `from just before POST /v1/queues/:queue/heights {from:0,to:${heights - 1}} is sent until a probe of PostgreSQL (every ${COMMIT_POLL_MS} ms) finds queues.done containing every height; median of ${runs} run(s), each on its own queue`,
      };
    } finally {
      await watch.close();
    }
  } finally {
    await cluster.stop();
  }
}

async function runOnce(
  cluster: Cluster,
  watch: CommitWatch,
  queue: string,
  heights: number,
): Promise<S1Run> {
  const { started, enqueued, finished } = await timeBackfill(
    cluster,
    watch,
    queue,
    heights,
    RUN_TIMEOUT_MS,
  );
  const elapsedMs = finished - started;
  return {
    queue,
    enqueueMs: round(enqueued - started),
    elapsedMs: round(elapsedMs),
    heightsPerSecond: Math.round(heights / (elapsedMs / 1000)),
  };
}

/** The median run by rate (nearest rank: the lower middle one for an even count). */
function medianRun(runs: S1Run[]): S1Run {
  const sorted = [...runs].sort((a, b) => a.heightsPerSecond - b.heightsPerSecond);
  return sorted[Math.ceil(sorted.length / 2) - 1] as S1Run;
}

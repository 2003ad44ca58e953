/**
 * S6 sparse queue (docs/performance.md, "What each scenario measures"): a user who reprocesses
 * only the blocks that held their contract's events. N isolated heights (every other height) are
 * enqueued in requests of 50,000, with no worker connected, each request timed; then the same
 * count of contiguous heights in the same number of requests on another queue. Both queues are
 * paused, two `noop` workers connect, and each queue is resumed in turn and timed until its
 * summary reads every height done (done in memory means committed). WAL is
 * pg_current_wal_lsn() before and after the sparse queue's enqueues and drain (server-wide: what
 * other sessions of the server wrote meanwhile counts too, so it is an upper bound); database
 * growth is pg_database_size over the same phases; memory is the manager's VmRSS before and
 * after the sparse enqueues.
 */
import type pg from 'pg';
import { Cluster } from './cluster.js';
import { databaseSize, withClient } from './databases.js';
import { enqueue, postQueue, queueSummary } from './manager-api.js';
import type { BenchOptions } from './options.js';
import { residentBytes } from './processes.js';
import type { S6Result } from './results.js';
import { median, round } from './stats.js';
import { waitUntil } from './wait.js';

const SPARSE = 's6-sparse';
const DENSE = 's6-dense';
const DRAIN_TIMEOUT_MS = 300_000;
const RSS_SAMPLES = 7;
const RSS_SAMPLE_GAP_MS = 30;
/** After the last sparse request: lets the write-behind and what it allocated settle (as S2). */
const SETTLE_MS = 500;

export async function runS6(options: BenchOptions): Promise<S6Result> {
  const { heights, perRequest, workers } = options.s6;
  const requests = Math.ceil(heights / perRequest);
  const cluster = await Cluster.start(options.adminUrl, 's6', options.cpuProfDir);
  try {
    return await withClient(cluster.database.url, async (client) => {
      const wal0 = await walPosition(client);
      const db0 = await databaseSize(client);
      const rss0 = await sampleRss(cluster.manager.pid);

      const sparseMs: number[] = [];
      for (let r = 0; r < requests; r++) {
        const count = Math.min(perRequest, heights - r * perRequest);
        const list = Array.from({ length: count }, (_, i) => 2 * (r * perRequest + i));
        const started = performance.now();
        const answer = await enqueue(cluster.url, SPARSE, { heights: list });
        sparseMs.push(round(performance.now() - started));
        if (answer.added !== count) throw new Error(`sparse request ${r} added ${answer.added}`);
      }
      const wal1 = await walPosition(client);
      const db1 = await databaseSize(client);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const rss1 = await sampleRss(cluster.manager.pid);
      await postQueue(cluster.url, SPARSE, 'pause');

      const denseMs: number[] = [];
      for (let r = 0; r < requests; r++) {
        const from = r * perRequest;
        const to = Math.min(heights, from + perRequest) - 1;
        const started = performance.now();
        const answer = await enqueue(cluster.url, DENSE, { from, to });
        denseMs.push(round(performance.now() - started));
        if (answer.added !== to - from + 1)
          throw new Error(`dense request ${r} added ${answer.added}`);
        if (r === 0) await postQueue(cluster.url, DENSE, 'pause');
      }

      await cluster.addWorkers(workers, {
        queues: [DENSE, SPARSE],
        concurrency: options.s1.concurrency,
        prefetch: options.s1.prefetch,
        handler: 'noop',
      });
      const denseDrainMs = await drain(cluster, DENSE, heights);

      const wal2 = await walPosition(client);
      const db2 = await databaseSize(client);
      const sparseDrainMs = await drain(cluster, SPARSE, heights);
      const wal3 = await walPosition(client);
      const db3 = await databaseSize(client);

      const walBytes = Number(wal1 - wal0 + (wal3 - wal2));
      const databaseGrowthBytes = db1 - db0 + (db3 - db2);
      const rssGrowthBytes = median(rss1) - median(rss0);
      const first = sparseMs[0] as number;
      return {
        database: cluster.database.name,
        heights,
        perRequest,
        workers,
        sparseRequestMs: sparseMs,
        denseRequestMs: denseMs,
        sparseEnqueueMs: round(sparseMs.reduce((a, b) => a + b, 0)),
        denseEnqueueMs: round(denseMs.reduce((a, b) => a + b, 0)),
        slowestToFirst: round(Math.max(...sparseMs) / first, 2),
        sparseDrainMs: round(sparseDrainMs),
        denseDrainMs: round(denseDrainMs),
        sparseHeightsPerSecond: Math.round(heights / (sparseDrainMs / 1000)),
        denseHeightsPerSecond: Math.round(heights / (denseDrainMs / 1000)),
        drainShareOfDense: round(denseDrainMs / sparseDrainMs, 3),
        walBytes,
        walBytesPerHeight: round(walBytes / heights, 1),
        databaseGrowthBytes,
        databaseBytesPerHeight: round(databaseGrowthBytes / heights, 1),
        rssGrowthBytes,
        rssBytesPerGap: round(rssGrowthBytes / heights, 1),
        measured: `${requests} requests of ${perRequest} isolated heights (every other height) then ${requests} of ${perRequest} contiguous ones on another queue, no worker connected, each request's round trip; both queues paused, ${workers} noop workers connected, each queue resumed in turn until its summary reads ${heights} done; WAL from pg_current_wal_lsn() (server-wide) and pg_database_size over the sparse queue's enqueues and drain; manager VmRSS median of ${RSS_SAMPLES} samples before and ${SETTLE_MS} ms after the sparse enqueues`,
      };
    });
  } finally {
    await cluster.stop();
  }
}

/** Resumes `queue` and resolves with the ms until its summary reads every height done. */
async function drain(cluster: Cluster, queue: string, heights: number): Promise<number> {
  const started = performance.now();
  await postQueue(cluster.url, queue, 'resume');
  await waitUntil(
    async () => {
      cluster.assertRunning();
      const summary = await queueSummary(cluster.url, queue);
      return summary.done === heights;
    },
    { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: 10, message: `${queue} to be drained` },
  );
  const elapsed = performance.now() - started;
  const summary = await queueSummary(cluster.url, queue);
  if (summary.failed !== 0 || summary.retrying !== 0 || summary.pending !== 0) {
    throw new Error(`after the drain, ${queue} reads ${JSON.stringify(summary)}`);
  }
  return elapsed;
}

async function walPosition(client: pg.ClientBase): Promise<bigint> {
  const { rows } = await client.query<{ at: string }>(
    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text AS at",
  );
  return BigInt(rows[0]?.at ?? '0');
}

export async function sampleRss(pid: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < RSS_SAMPLES; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, RSS_SAMPLE_GAP_MS));
    samples.push(residentBytes(pid));
  }
  return samples;
}

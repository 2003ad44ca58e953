/**
 * S4 tip latency (docs/performance.md, "What each scenario measures"): while two workers run a
 * backfill of 0..99,999,999 on one queue, single heights far above it are enqueued into the same
 * queue's tip lane (`"lane":"tip"`), one per request at 100/s. The workers' handler
 * (handlers/dispatch-recorder.ts) does nothing for backfill heights and prints when each tip
 * height reached it. Latency = that time minus the time the enqueue request was sent, both on the
 * machine's wall clock at sub-millisecond resolution. Requests go out on a fixed schedule whether
 * or not the previous one has answered (open loop), so a slow answer cannot hide the delay of the
 * ones behind it. The same requests are measured first with nothing else running (the same
 * workers idle): the target compares the two p99s.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Cluster } from './cluster.js';
import { monotonicMs, parseDispatchLine } from './handlers/dispatch-recorder.js';
import { enqueue, queueSummary } from './manager-api.js';
import type { BenchOptions } from './options.js';
import type { S4Result } from './results.js';
import { mean, percentile, round } from './stats.js';
import { waitUntil } from './wait.js';

const QUEUE = 's4';
const BACKFILL_HEIGHTS = 100_000_000;
/** Tip heights start here, far above the backfill, so the recorder tells them apart. */
const TIP_BASE = 1_000_000_000;
const WARM_UP_SAMPLES = 50;
const RECORDER = fileURLToPath(new URL('./handlers/dispatch-recorder.js', import.meta.url));

export async function runS4(options: BenchOptions): Promise<S4Result> {
  const { samples, perSecond, backfillWorkers } = options.s4;
  const cluster = await Cluster.start(options.adminUrl, 's4', options.cpuProfDir);
  try {
    const workers = await cluster.addWorkers(backfillWorkers, {
      queues: [QUEUE],
      concurrency: options.s1.concurrency,
      prefetch: options.s1.prefetch,
      handler: RECORDER,
      env: { BENCH_RECORD_FROM: String(TIP_BASE) },
    });
    const dispatchedAt = new Map<number, number>();
    for (const worker of workers) {
      worker.onLine((line) => {
        const record = parseDispatchLine(line);
        if (record?.queue === QUEUE && !dispatchedAt.has(record.height)) {
          dispatchedAt.set(record.height, record.at);
        }
      });
    }
    const probe = (first: number, count: number) =>
      measureLatencies(cluster, dispatchedAt, TIP_BASE + first, count, perSecond);

    // Untimed: the first requests pay for connections and for compiling the manager's hot path.
    await probe(0, WARM_UP_SAMPLES);
    // The same tip path with the workers idle: what the machine gives without a backfill. As
    // many requests as under the backfill, so both p99s are read at the same rank.
    const idle = await probe(WARM_UP_SAMPLES, samples);

    await enqueue(cluster.url, QUEUE, { from: 0, to: BACKFILL_HEIGHTS - 1 });
    const before = await waitUntil(
      async () => {
        cluster.assertRunning();
        const summary = await queueSummary(cluster.url, QUEUE);
        return summary.done > 0 && { done: summary.done, at: performance.now() };
      },
      { timeoutMs: 30_000, message: 'the backfill to commit its first heights' },
    );
    // Untimed as at the start: the first second of a backfill compiles its path in every process.
    await probe(WARM_UP_SAMPLES + samples, WARM_UP_SAMPLES);
    const busy = await probe(2 * WARM_UP_SAMPLES + samples, samples);
    const after = await queueSummary(cluster.url, QUEUE);
    const backfillSeconds = (performance.now() - before.at) / 1000;

    return {
      database: cluster.database.name,
      samples,
      perSecond,
      p50Ms: round(percentile(busy.latencies, 50)),
      p99Ms: round(percentile(busy.latencies, 99)),
      maxMs: round(Math.max(...busy.latencies)),
      meanMs: round(mean(busy.latencies)),
      requestP50Ms: round(percentile(busy.requestMs, 50)),
      requestP99Ms: round(percentile(busy.requestMs, 99)),
      // Tip heights are counted in `done` too; a few hundred beside millions of backfill heights.
      backfillHeightsPerSecond: Math.round((after.done - before.done) / backfillSeconds),
      withoutBackfill: {
        samples,
        p50Ms: round(percentile(idle.latencies, 50)),
        p99Ms: round(percentile(idle.latencies, 99)),
        maxMs: round(Math.max(...idle.latencies)),
      },
      measured: `${samples} single-height POSTs with "lane":"tip" at ${perSecond}/s (open loop) on ${QUEUE} while ${backfillWorkers} workers (concurrency ${options.s1.concurrency}, prefetch ${options.s1.prefetch}) run its backfill 0..${BACKFILL_HEIGHTS - 1}; their handler does nothing for backfill heights and logs when a tip height starts; latency = handler start - request sent, both read from the machine's monotonic clock (process.hrtime); each phase starts with ${WARM_UP_SAMPLES} untimed POSTs; withoutBackfill: ${samples} POSTs the same way before the backfill is enqueued`,
    };
  } finally {
    await cluster.stop();
  }
}

/**
 * Enqueues heights first..first+count-1 one per request at `perSecond`, on a fixed schedule
 * (open loop), and gives each one's enqueue-to-handler latency and request round trip.
 */
async function measureLatencies(
  cluster: Cluster,
  dispatchedAt: Map<number, number>,
  first: number,
  count: number,
  perSecond: number,
): Promise<{ latencies: number[]; requestMs: number[] }> {
  const sentAt = new Map<number, number>();
  const requestMs: number[] = [];
  const answers: Promise<void>[] = [];
  const intervalMs = 1000 / perSecond;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const height = first + i;
    const wait = start + i * intervalMs - performance.now();
    if (wait > 0) await delay(wait);
    const sent = performance.now();
    sentAt.set(height, monotonicMs());
    answers.push(
      enqueue(cluster.url, QUEUE, { heights: [height], lane: 'tip' }).then(() => {
        requestMs.push(performance.now() - sent);
      }),
    );
  }
  await Promise.all(answers);
  await waitUntil(
    () => {
      cluster.assertRunning();
      return [...sentAt.keys()].every((height) => dispatchedAt.has(height));
    },
    { timeoutMs: 30_000, message: `all ${count} tip heights to reach the handler` },
  );
  const latencies = [...sentAt].map(
    ([height, sent]) => (dispatchedAt.get(height) as number) - sent,
  );
  return { latencies, requestMs };
}

/**
 * S4 latency (DESIGN "Performance targets"): while two noop workers run a backfill of
 * 0..99,999,999 on one queue, single heights are enqueued one per request at 100/s on another
 * queue, served by a third worker whose handler (handlers/dispatch-recorder.ts) prints when each
 * height reached it. Latency = that time minus the time the enqueue request was sent, both on
 * the machine's wall clock at sub-millisecond resolution. Requests go out on a fixed schedule
 * whether or not the previous one has answered (open loop), so a slow answer cannot hide the
 * delay of the ones behind it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Cluster } from './cluster.js';
import { parseDispatchLine } from './handlers/dispatch-recorder.js';
import { enqueue, queueSummary } from './manager-api.js';
import type { BenchOptions } from './options.js';
import type { S4Result } from './results.js';
import { mean, percentile, round } from './stats.js';
import { waitUntil } from './wait.js';

const BACKFILL_QUEUE = 's4-backfill';
const LIVE_QUEUE = 's4-live';
const BACKFILL_HEIGHTS = 100_000_000;
const RECORDER = fileURLToPath(new URL('./handlers/dispatch-recorder.js', import.meta.url));

export async function runS4(options: BenchOptions): Promise<S4Result> {
  const { samples, perSecond, backfillWorkers } = options.s4;
  const cluster = await Cluster.start(options.adminUrl, 's4', options.cpuProfDir);
  try {
    await cluster.addWorkers(backfillWorkers, {
      queues: [BACKFILL_QUEUE],
      concurrency: options.s1.concurrency,
      prefetch: options.s1.prefetch,
      handler: 'noop',
    });
    const [live] = await cluster.addWorkers(1, {
      queues: [LIVE_QUEUE],
      concurrency: 4,
      prefetch: 0,
      handler: RECORDER,
    });
    if (!live) throw new Error('the live worker did not start');
    const dispatchedAt = new Map<number, number>();
    live.onLine((line) => {
      const record = parseDispatchLine(line);
      if (record?.queue === LIVE_QUEUE && !dispatchedAt.has(record.height)) {
        dispatchedAt.set(record.height, record.at);
      }
    });

    await enqueue(cluster.url, BACKFILL_QUEUE, { from: 0, to: BACKFILL_HEIGHTS - 1 });
    const before = await waitUntil(
      async () => {
        cluster.assertRunning();
        const summary = await queueSummary(cluster.url, BACKFILL_QUEUE);
        return summary.done > 0 && { done: summary.done, at: performance.now() };
      },
      { timeoutMs: 30_000, message: 'the backfill to commit its first heights' },
    );

    const sentAt: number[] = [];
    const requestMs: number[] = [];
    const answers: Promise<void>[] = [];
    const intervalMs = 1000 / perSecond;
    const start = performance.now();
    for (let height = 0; height < samples; height++) {
      const wait = start + height * intervalMs - performance.now();
      if (wait > 0) await delay(wait);
      const sent = performance.now();
      sentAt[height] = performance.timeOrigin + sent;
      answers.push(
        enqueue(cluster.url, LIVE_QUEUE, { heights: [height] }).then(() => {
          requestMs.push(performance.now() - sent);
        }),
      );
    }
    await Promise.all(answers);
    await waitUntil(
      () => {
        cluster.assertRunning();
        return dispatchedAt.size >= samples;
      },
      { timeoutMs: 30_000, message: `all ${samples} live heights to reach the handler` },
    );
    const after = await queueSummary(cluster.url, BACKFILL_QUEUE);
    const backfillSeconds = (performance.now() - before.at) / 1000;

    const latencies = sentAt.map((sent, height) => (dispatchedAt.get(height) as number) - sent);
    return {
      database: cluster.database.name,
      samples,
      perSecond,
      p50Ms: round(percentile(latencies, 50)),
      p99Ms: round(percentile(latencies, 99)),
      maxMs: round(Math.max(...latencies)),
      meanMs: round(mean(latencies)),
      requestP50Ms: round(percentile(requestMs, 50)),
      requestP99Ms: round(percentile(requestMs, 99)),
      backfillHeightsPerSecond: Math.round((after.done - before.done) / backfillSeconds),
      measured: `${samples} single-height POSTs at ${perSecond}/s (open loop) on ${LIVE_QUEUE}, served by 1 worker (concurrency 4, prefetch 0) whose handler logs its start time; meanwhile ${backfillWorkers} noop workers (concurrency ${options.s1.concurrency}, prefetch ${options.s1.prefetch}) run 0..${BACKFILL_HEIGHTS - 1} on ${BACKFILL_QUEUE}; latency = handler start - request sent, same clock`,
    };
  } finally {
    await cluster.stop();
  }
}

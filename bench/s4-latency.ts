/**
 * S4 tip latency (docs/performance.md, "What each scenario measures"): while two workers run a
 * backfill of 0..399,999,999 on one queue, single heights far above it are enqueued into the same
 * queue's tip lane (`"lane":"tip"`), one per request at 100/s. The workers' handler
 * (handlers/dispatch-recorder.ts) does nothing for backfill heights and prints when each tip
 * height reached it. Latency = that time minus the time the enqueue request was sent, both on the
 * machine's monotonic clock. Requests go out on a fixed schedule whether or not the previous one
 * has answered (open loop), so a slow answer cannot hide the delay of the ones behind it. The
 * same requests are measured with nothing else running (the same workers idle, the backfill's
 * queue paused, the requests into a queue of their own), in ROUNDS rounds that alternate with
 * the busy ones: this machine's own latency moves by 2x within a minute, and both p99s then come
 * from the same minutes. The target compares the two p99s.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Cluster } from './cluster.js';
import { monotonicMs, parseDispatchLine } from './handlers/dispatch-recorder.js';
import { enqueue, postQueue, queueSummary } from './manager-api.js';
import type { BenchOptions } from './options.js';
import type { S4Result } from './results.js';
import { mean, percentile, round } from './stats.js';
import { waitUntil } from './wait.js';

const QUEUE = 's4';
/** The idle rounds' queue: the backfill's queue is paused meanwhile, and nothing else runs. */
const IDLE_QUEUE = 's4-idle';
/** Enough for the busy rounds at 10 million heights/s and more, so the backfill never runs dry. */
const BACKFILL_HEIGHTS = 400_000_000;
/** Tip heights start here, far above the backfill, so the recorder tells them apart. */
const TIP_BASE = 1_000_000_000;
/** Idle and busy phases, alternated, each with a quarter of the samples. */
const ROUNDS = 4;
/** Untimed requests at the start of the first phase of each kind: connections, compiled code. */
const WARM_UP_SAMPLES = 50;
/** Untimed requests at the start of each later phase: the backfill's resumption settles. */
const ROUND_WARM_UP_SAMPLES = 10;
const RECORDER = fileURLToPath(new URL('./handlers/dispatch-recorder.js', import.meta.url));

export async function runS4(options: BenchOptions): Promise<S4Result> {
  const { samples, perSecond, backfillWorkers } = options.s4;
  const cluster = await Cluster.start(options.adminUrl, 's4', options.cpuProfDir);
  try {
    const workers = await cluster.addWorkers(backfillWorkers, {
      queues: [QUEUE, IDLE_QUEUE],
      concurrency: options.s1.concurrency,
      prefetch: options.s1.prefetch,
      handler: RECORDER,
      env: { BENCH_RECORD_FROM: String(TIP_BASE) },
    });
    const dispatchedAt = new Map<number, number>();
    for (const worker of workers) {
      worker.onLine((line) => {
        const record = parseDispatchLine(line);
        if (record && !dispatchedAt.has(record.height)) {
          dispatchedAt.set(record.height, record.at);
        }
      });
    }
    let next = TIP_BASE;
    // Each probe takes the next `count` tip heights, so no height is enqueued twice.
    const probe = (queue: string, count: number) => {
      const first = next;
      next += count;
      return measureLatencies(cluster, queue, dispatchedAt, first, count, perSecond);
    };
    const idle: Latencies = { latencies: [], requestMs: [] };
    const busy: Latencies = { latencies: [], requestMs: [] };
    const perRound = Math.ceil(samples / ROUNDS);
    let backfillHeights = 0;
    let backfillMs = 0;

    for (let roundIndex = 0; roundIndex < ROUNDS; roundIndex++) {
      const count = Math.min(perRound, samples - roundIndex * perRound);
      if (count <= 0) break;
      const firstRound = roundIndex === 0;
      // The same tip path with the workers idle: what the machine gives without a backfill.
      await probe(IDLE_QUEUE, firstRound ? WARM_UP_SAMPLES : ROUND_WARM_UP_SAMPLES);
      add(idle, await probe(IDLE_QUEUE, count));

      const stopped = firstRound ? 0 : await doneOf(cluster);
      if (firstRound) await enqueue(cluster.url, QUEUE, { from: 0, to: BACKFILL_HEIGHTS - 1 });
      else await postQueue(cluster.url, QUEUE, 'resume');
      const before = await backfillMoved(cluster, stopped);
      await probe(QUEUE, firstRound ? WARM_UP_SAMPLES : ROUND_WARM_UP_SAMPLES);
      add(busy, await probe(QUEUE, count));
      const after = { done: await doneOf(cluster), at: performance.now() };
      backfillHeights += after.done - before.done;
      backfillMs += after.at - before.at;
      // Nothing else runs in the idle round that follows: the workers finish what they hold.
      await postQueue(cluster.url, QUEUE, 'pause');
      await waitUntil(
        async () => {
          cluster.assertRunning();
          return (await queueSummary(cluster.url, QUEUE)).leased === 0;
        },
        { timeoutMs: 30_000, message: 'the paused backfill to hand in its leased heights' },
      );
    }

    return {
      database: cluster.database.name,
      samples,
      perSecond,
      rounds: ROUNDS,
      p50Ms: round(percentile(busy.latencies, 50)),
      p99Ms: round(percentile(busy.latencies, 99)),
      maxMs: round(Math.max(...busy.latencies)),
      meanMs: round(mean(busy.latencies)),
      requestP50Ms: round(percentile(busy.requestMs, 50)),
      requestP99Ms: round(percentile(busy.requestMs, 99)),
      // Tip heights are counted in `done` too; a few hundred beside millions of backfill heights.
      backfillHeightsPerSecond: Math.round(backfillHeights / (backfillMs / 1000)),
      withoutBackfill: {
        samples: idle.latencies.length,
        p50Ms: round(percentile(idle.latencies, 50)),
        p99Ms: round(percentile(idle.latencies, 99)),
        maxMs: round(Math.max(...idle.latencies)),
      },
      measured: `${samples} single-height POSTs with "lane":"tip" at ${perSecond}/s (open loop) on ${QUEUE} while ${backfillWorkers} workers (concurrency ${options.s1.concurrency}, prefetch ${options.s1.prefetch}) run its backfill 0..${BACKFILL_HEIGHTS - 1}; their handler does nothing for backfill heights and logs when a tip height starts; latency = handler start - request sent, both read from the machine's monotonic clock (process.hrtime); withoutBackfill: as many POSTs the same way into ${IDLE_QUEUE} while ${QUEUE} is paused and its leases are in; ${ROUNDS} rounds of an idle phase then a busy one, each phase of a round ${perRound} requests; the first phase of each kind starts with ${WARM_UP_SAMPLES} untimed POSTs, later ones with ${ROUND_WARM_UP_SAMPLES}`,
    };
  } finally {
    await cluster.stop();
  }
}

interface Latencies {
  latencies: number[];
  requestMs: number[];
}

function add(into: Latencies, from: Latencies): void {
  into.latencies.push(...from.latencies);
  into.requestMs.push(...from.requestMs);
}

async function doneOf(cluster: Cluster): Promise<number> {
  return (await queueSummary(cluster.url, QUEUE)).done;
}

/** Resolves once the backfill has committed past `done`: it runs, and its rate can be read. */
async function backfillMoved(
  cluster: Cluster,
  done: number,
): Promise<{ done: number; at: number }> {
  return waitUntil(
    async () => {
      cluster.assertRunning();
      const now = await doneOf(cluster);
      return now > done && { done: now, at: performance.now() };
    },
    { timeoutMs: 30_000, message: 'the backfill to commit heights' },
  );
}

/**
 * Enqueues heights first..first+count-1 one per request at `perSecond`, on a fixed schedule
 * (open loop), and gives each one's enqueue-to-handler latency and request round trip.
 */
async function measureLatencies(
  cluster: Cluster,
  queue: string,
  dispatchedAt: Map<number, number>,
  first: number,
  count: number,
  perSecond: number,
): Promise<Latencies> {
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
      enqueue(cluster.url, queue, { heights: [height], lane: 'tip' }).then(() => {
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

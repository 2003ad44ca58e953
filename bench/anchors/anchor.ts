/**
 * What every anchor (pg-boss, graphile-worker, BullMQ) implements: S1, N no-op jobs enqueued
 * in bulk then drained, end to end; S2, N jobs enqueued in bulk with no worker, measuring time
 * and how much the store grew. Each runs in a child process of its own (bench/anchors/child.ts).
 */
import type { AnchorBigEnqueue, AnchorThroughput } from '../results.js';
import { round } from '../stats.js';

/** The line on which bench/anchors/child.ts prints its result, as JSON. */
export const RESULT_LINE_PREFIX = 'bench-result ';

export interface AnchorContext {
  /** A fresh, empty database for the PostgreSQL anchors, created and dropped by the bench. */
  databaseUrl: string;
  redisHost: string;
  redisPort: number;
}

export interface Anchor {
  throughput(jobs: number, context: AnchorContext): Promise<AnchorThroughput>;
  bigEnqueue(jobs: number, context: AnchorContext): Promise<AnchorBigEnqueue>;
}

/** S2's anchor figures scaled linearly to 100,000,000 jobs: an estimate, labelled as one. */
export function extrapolateTo100M(jobs: number, enqueueMs: number, storeGrowthBytes: number) {
  const factor = 100_000_000 / jobs;
  return {
    enqueueSeconds: Math.round((enqueueMs * factor) / 100) / 10,
    storeGrowthBytes: Math.round(storeGrowthBytes * factor),
  };
}

/** [0, 1, ..., count-1] in slices of at most `size`, for bulk calls of bounded size. */
export function* chunks(count: number, size: number): Generator<number[]> {
  for (let start = 0; start < count; start += size) {
    const end = Math.min(count, start + size);
    yield Array.from({ length: end - start }, (_, i) => start + i);
  }
}

/** A promise with its resolve, for "the last job was handled". */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Counts the jobs a handler has seen in the round under way; resolves at the round's size. */
export class RoundCounter {
  private target = Number.POSITIVE_INFINITY;
  private count = 0;
  private reached = deferred();

  /** Starts a round of `target` jobs; the promise resolves once all of them were counted. */
  start(target: number): Promise<void> {
    this.target = target;
    this.count = 0;
    this.reached = deferred();
    return this.reached.promise;
  }

  add(jobs: number): void {
    this.count += jobs;
    if (this.count >= this.target) this.reached.resolve();
  }
}

/** performance.now() marks of one round: enqueue call, its answer, last completion stored. */
export interface RoundTimes {
  started: number;
  enqueued: number;
  finished: number;
}

/**
 * S1 for an anchor: one untimed round first, as S1 of Blockrunner runs three times on the same
 * processes, so that no anchor is measured cold (JIT, pools; for pg-boss also the planner
 * statistics that `betweenRounds` refreshes with ANALYZE, as autovacuum would in a running
 * system); then the timed round.
 */
export async function warmThenTimed(
  jobs: number,
  round: () => Promise<RoundTimes>,
  betweenRounds: () => Promise<void>,
  describe: { settings: Record<string, unknown>; measured: string },
): Promise<AnchorThroughput> {
  await round();
  await betweenRounds();
  const { started, enqueued, finished } = await round();
  const elapsedMs = finished - started;
  return {
    jobs,
    enqueueMs: Math.round((enqueued - started) * 100) / 100,
    elapsedMs: Math.round(elapsedMs * 100) / 100,
    jobsPerSecond: Math.round(jobs / (elapsedMs / 1000)),
    settings: describe.settings,
    measured: `${describe.measured}; the timed round follows an untimed warm-up round of the same size`,
  };
}

export const BIG_ENQUEUE_CHUNK = 10_000;

export function bigEnqueueMeasured(jobs: number, store: string): string {
  return `${jobs} jobs inserted in bulk calls of ${BIG_ENQUEUE_CHUNK}, no worker running; time of all calls; ${store} before and after; enqueuing process RSS growth; extrapolatedTo100M is a linear extrapolation, not a measurement`;
}

export interface BigEnqueueRun<T> {
  jobs: number;
  /** One bulk call per slice of BIG_ENQUEUE_CHUNK jobs, built before the clock starts. */
  slices: T[];
  enqueue: (slice: T) => Promise<unknown>;
  /** Size of the anchor's store in bytes (pg_database_size, Redis used_memory). */
  storeSize: () => Promise<number>;
  storeMeasure: string;
  settings: Record<string, unknown>;
}

/** S2 for an anchor: time the bulk calls, measure store and client memory growth around them. */
export async function measureBigEnqueue<T>(run: BigEnqueueRun<T>): Promise<AnchorBigEnqueue> {
  const sizeBefore = await run.storeSize();
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  for (const slice of run.slices) await run.enqueue(slice);
  const enqueueMs = performance.now() - started;
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  const growth = (await run.storeSize()) - sizeBefore;
  return {
    jobs: run.jobs,
    enqueueMs: round(enqueueMs),
    storeGrowthBytes: growth,
    storeMeasure: run.storeMeasure,
    clientRssGrowthBytes: rssGrowth,
    extrapolatedTo100M: extrapolateTo100M(run.jobs, enqueueMs, growth),
    settings: run.settings,
    measured: bigEnqueueMeasured(run.jobs, run.storeMeasure),
  };
}

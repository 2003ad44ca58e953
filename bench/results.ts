/**
 * The shape of bench/results/latest.json: every figure the bench prints, with the settings,
 * versions and machine that produced it. A scenario or anchor that did not run says why.
 */
import type { AnchorName, BenchOptions, ScenarioId } from './options.js';

export type Outcome<T> =
  | ({ status: 'ok' } & T)
  | { status: 'failed'; error: string }
  | { status: 'skipped'; reason: string };

export interface S1Run {
  queue: string;
  enqueueMs: number;
  elapsedMs: number;
  heightsPerSecond: number;
}

export interface S1Result {
  /** The fresh database the scenario ran on, dropped after. */
  database: string;
  heights: number;
  workers: number;
  concurrency: number;
  prefetch: number;
  handler: 'noop';
  runs: S1Run[];
  /** Median run. */
  elapsedMs: number;
  heightsPerSecond: number;
  measured: string;
}

export interface S2Result {
  /** The fresh database the scenario ran on, dropped after. */
  database: string;
  heights: number;
  added: number;
  requestMs: number;
  databaseBytesBefore: number;
  databaseBytesAfter: number;
  databaseGrowthBytes: number;
  rssBytesBefore: number;
  rssBytesAfter: number;
  rssGrowthBytes: number;
  rssSamplesBefore: number[];
  rssSamplesAfter: number[];
  measured: string;
}

export interface S3Result {
  /** The fresh database the scenario ran on, dropped after. */
  database: string;
  heights: number;
  workers: number;
  concurrency: number;
  prefetch: number;
  sleepMs: number;
  slots: number;
  elapsedMs: number;
  heightsPerSecond: number;
  idealPerSecond: number;
  shareOfIdeal: number;
  /**
   * Mean handler time per height as the workers measured it (the manager's
   * blockrunner_handler_seconds_total), and the share of the slots' time it took: what is left
   * is the time a slot waited between two heights.
   */
  handlerMeanMs: number;
  handlerShareOfSlotTime: number;
  measured: string;
}

export interface S4Result {
  /** The fresh database the scenario ran on, dropped after. */
  database: string;
  samples: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Round trip of the enqueue request itself (answered once committed). */
  requestP50Ms: number;
  requestP99Ms: number;
  backfillHeightsPerSecond: number;
  /** The same live path measured before the backfill starts. */
  withoutBackfill: { samples: number; p50Ms: number; p99Ms: number; maxMs: number };
  measured: string;
}

export interface AnchorThroughput {
  jobs: number;
  enqueueMs: number;
  elapsedMs: number;
  jobsPerSecond: number;
  settings: Record<string, unknown>;
  measured: string;
}

export interface AnchorBigEnqueue {
  jobs: number;
  enqueueMs: number;
  storeGrowthBytes: number;
  /** What storeGrowthBytes measures: pg_database_size, or Redis used_memory. */
  storeMeasure: string;
  clientRssGrowthBytes: number;
  /** Linear extrapolation from `jobs` to 100,000,000 jobs: an estimate, not a measurement. */
  extrapolatedTo100M: { enqueueSeconds: number; storeGrowthBytes: number };
  settings: Record<string, unknown>;
  measured: string;
}

export interface AnchorResults {
  version: string;
  S1: Outcome<AnchorThroughput>;
  S2: Outcome<AnchorBigEnqueue>;
}

export interface TargetCheck {
  scenario: ScenarioId;
  target: string;
  measured: string;
  /** null when the figure was not measured in this run. */
  met: boolean | null;
}

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  platform: string;
  kernel: string;
  postgres: string;
  redis: string;
  /**
   * 1-minute load average when the run started and ended. Above about 1 at the start, something
   * besides the bench was using the cores and every figure is lower than this machine can do;
   * at the end it mostly shows the bench's own last scenario.
   */
  loadAverage: { start: number; end: number };
}

export interface BenchResults {
  date: string;
  command: string;
  durationMs: number;
  machine: Machine;
  versions: Record<string, string>;
  options: BenchOptions;
  scenarios: {
    S1: Outcome<S1Result>;
    S2: Outcome<S2Result>;
    S3: Outcome<S3Result>;
    S4: Outcome<S4Result>;
  };
  anchors: Record<AnchorName, AnchorResults>;
  comparison: {
    bestAnchor: AnchorName | null;
    bestAnchorJobsPerSecond: number | null;
    /** Blockrunner S1 heights/s divided by the best anchor's jobs/s. */
    s1ToBestAnchor: number | null;
  };
  targets: TargetCheck[];
}

/** Runs a scenario and turns any error into a `failed` outcome with its message. */
export async function outcome<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { status: 'ok', ...(await run()) };
  } catch (error) {
    return { status: 'failed', error: describeError(error) };
  }
}

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const parts = [error.message];
  let cause = error.cause;
  for (let depth = 0; cause instanceof Error && depth < 3; depth++) {
    parts.push(cause.message);
    cause = cause.cause;
  }
  return parts.join('\ncaused by: ');
}

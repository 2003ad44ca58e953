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
   * A bare Node process sleeping in as many loops, in the same run: the machine's ceiling, the
   * mean of `ceilingRuns` (one right before Blockrunner's run, one right after).
   */
  ceilingPerSecond: number;
  ceilingRuns: [number, number];
  shareOfCeiling: number;
  /**
   * Mean handler time per height as the workers measured it (the manager's
   * blockrunner_handler_seconds_total), and the share of the slots' time it took: what is left
   * is the time a slot waited between two heights.
   */
  handlerMeanMs: number;
  handlerShareOfSlotTime: number;
  /** CPU time over the timed run, and the share of the machine's cores that were busy. */
  cpu: { managerMs: number; workersMs: number; postgresMs: number; machineBusyShare: number };
  measured: string;
}

export interface S4Result {
  /** The fresh database the scenario ran on, dropped after. */
  database: string;
  samples: number;
  perSecond: number;
  /** Idle and busy phases alternated this many times, each with samples / rounds requests. */
  rounds: number;
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

/** One side of S5: the same handler over the same blocks, into a fresh database of its own. */
export interface S5Side {
  /** The fresh database the handler wrote evm_blocks/evm_transactions to, dropped after. */
  database: string;
  /** Blockrunner's: the manager's fresh database, dropped after; null for the bare loop. */
  managerDatabase: string | null;
  elapsedMs: number;
  blocksPerSecond: number;
  /** Rows found afterwards: every block once, every transfer once. */
  blockRows: number;
  transactionRows: number;
  /** Mean time of one handler call, measured around it (by the worker, or by the loop). */
  handlerMeanMs: number;
  /** The manager's group commits while the clock ran (its /metrics); null for the bare loop. */
  commits: number | null;
  commitMeanMs: number | null;
  /** Results frames the workers sent while the clock ran (its /metrics); null for the bare loop. */
  resultsFrames: number | null;
  /** CPU time used while the clock ran, in ms (bench/cpu.ts). */
  cpu: {
    /** The processes running the handler: workers, or bare-loop processes. */
    handlerProcessesMs: number;
    /** Blockrunner's manager; 0 for the bare loop. */
    managerMs: number;
    anvilMs: number;
    /** PostgreSQL backends serving the handler's database. */
    postgresHandlerMs: number;
    /** PostgreSQL backends serving the manager's database (the bench's probes apart). */
    postgresManagerMs: number;
    /**
     * Every other PostgreSQL process: background writers, autovacuum, and the backends of
     * anything else using the server meanwhile.
     */
    postgresOtherMs: number;
    /** The bench process and its probe's backend. */
    benchMs: number;
    /** The rest of the machine's busy time: processes none of the above. */
    restMs: number;
    /** Busy time of all cores over all their time: near 1, the cores were the limit. */
    machineBusyShare: number;
  };
}

export interface S5Run {
  /** Whether the bare loop ran before Blockrunner in this run. */
  bareFirst: boolean;
  blockrunner: S5Side;
  bareLoop: S5Side;
}

export interface S5Result {
  blocks: number;
  transfers: number;
  processes: number;
  concurrency: number;
  prefetch: number;
  handler: string;
  runs: S5Run[];
  /** Each side's best run. */
  blockrunner: S5Side;
  bareLoop: S5Side;
  /** Blockrunner's best blocks/s over the bare loop's best. */
  shareOfBareLoop: number;
  /**
   * Blockrunner's own CPU over the handlers' (ownCpuShare of s5-real-chain.ts), per run and over
   * the runs together (the figure).
   */
  ownCpuShareByRun: number[];
  ownCpuShare: number;
  /** Ponder on the same node, or why it did not run. */
  ponder: { ran: false; reason: string };
  measured: string;
}

/** Block produced (first seen on the node) to handler start, for one way of following the head. */
export interface S7HeadMode {
  mode: string;
  queue: string;
  /** The source's pollMs; with newHeads, how often it polls while the subscription is down. */
  pollMs: number;
  newHeads: boolean;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** How far first seen can be from produced: the bench's polling window, p99. */
  seenWindowP99Ms: number;
  /** Blocks the bench heard of from its own newHeads subscription before its poll saw them. */
  heardByNewHeads: number;
  /**
   * First seen minus the block's own timestamp as the handler wrote it to evm_blocks (whole
   * seconds on anvil, so anywhere from 0 to about 1,000 ms): why it is not the clock.
   */
  timestampToSeenMs: { min: number; max: number };
}

export interface S7Reorg {
  /** The fresh database of this part (the manager's tables and the handler's), dropped after. */
  database: string;
  blocks: number;
  depth: number;
  pollMs: number;
  /** Mean handler time per height while the blocks were first indexed. */
  handlerMeanMs: number;
  /** From the anvil_reorg call until every re-indexed height's row holds its new hash. */
  elapsedMs: number;
  /** pollMs + depth x handlerMeanMs: the target. */
  boundMs: number;
  /** Milestones, in ms after the anvil_reorg call (null when not seen). */
  detectedMs: number | null;
  revertStartedMs: number | null;
  revertedMs: number | null;
  firstRerunStartMs: number | null;
  lastRerunFinishMs: number | null;
  rerunHandlerMeanMs: number;
}

export interface S7Result {
  /** The fresh database of the head part, dropped after. */
  database: string;
  blockTime: number;
  modes: S7HeadMode[];
  reorg: S7Reorg;
  measured: string;
}

export interface S6Result {
  /** The fresh database the scenario ran on, dropped after. */
  database: string;
  heights: number;
  perRequest: number;
  workers: number;
  sparseRequestMs: number[];
  denseRequestMs: number[];
  sparseEnqueueMs: number;
  denseEnqueueMs: number;
  /** The slowest sparse request divided by the first. */
  slowestToFirst: number;
  sparseDrainMs: number;
  denseDrainMs: number;
  sparseHeightsPerSecond: number;
  denseHeightsPerSecond: number;
  /** Sparse drain rate divided by the dense one. */
  drainShareOfDense: number;
  walBytes: number;
  walBytesPerHeight: number;
  databaseGrowthBytes: number;
  databaseBytesPerHeight: number;
  rssGrowthBytes: number;
  rssBytesPerGap: number;
  measured: string;
}

export interface S8Result {
  /** The fresh database the scenario ran on, dropped after. */
  database: string;
  gaps: number;
  deadLetters: number;
  /** From spawning the restarted manager to its first /readyz 200. */
  readyMs: number;
  measured: string;
  /** The fleet half: many links on one manager, and how evenly it spreads a backfill. */
  fleet: S8Fleet;
}

export interface S8Fleet {
  links: number;
  heights: number;
  elapsedMs: number;
  heightsPerSecond: number;
  /** Heights run by the median link, the busiest and the idlest. */
  medianHeights: number;
  busiestHeights: number;
  idlestHeights: number;
  busiestToMedian: number;
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
    S5: Outcome<S5Result>;
    S6: Outcome<S6Result>;
    S7: Outcome<S7Result>;
    S8: Outcome<S8Result>;
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

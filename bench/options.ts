/**
 * Command-line options of `npm run bench` (docs/performance.md lists them). Every size and
 * setting of a scenario is an option, so the lead can probe one figure without editing code;
 * `--quick` shrinks the sizes for a run of about three minutes (S7 waits for anvil's blocks, one a
 * second, whatever the size).
 */
import { parseArgs } from 'node:util';

export const SCENARIOS = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7', 'S8'] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

export const ANCHORS = ['pg-boss', 'graphile-worker', 'bullmq'] as const;
export type AnchorName = (typeof ANCHORS)[number];

/** Worker capacity (concurrency + prefetch) may not exceed this (docs/protocol.md, hello). */
const MAX_CAPACITY = 100_000;

export interface BenchOptions {
  scenarios: ScenarioId[];
  anchors: AnchorName[];
  quick: boolean;
  /** Admin URL of the PostgreSQL server; fresh databases are created next to it. */
  adminUrl: string;
  redisHost: string;
  redisPort: number;
  out: string;
  /** When set, managers and workers run with --cpu-prof and write their profiles here. */
  cpuProfDir: string | undefined;
  s1: { heights: number; runs: number; workers: number; concurrency: number; prefetch: number };
  /** Jobs per anchor in S1 (enqueued in bulk, then drained). */
  anchorJobs: number;
  s2: { heights: number; anchorJobs: number };
  s3: {
    heights: number;
    workers: number;
    concurrency: number;
    prefetch: number;
    sleepMs: number;
  };
  s4: { samples: number; perSecond: number; backfillWorkers: number };
  s5: {
    blocks: number;
    transfers: number;
    processes: number;
    concurrency: number;
    prefetch: number;
    runs: number;
  };
  s6: { heights: number; perRequest: number; workers: number };
  s7: { samples: number; reorgBlocks: number; reorgDepth: number; reorgPollMs: number };
  s8: { gaps: number; deadLetters: number; links: number; heightsPerLink: number };
}

export const USAGE = `Usage: npm run bench -- [options]

  --only S1,...,S8           scenarios to run: S1,S2,S3,S4,S5,S6,S7,S8 (default: all)
  --anchors LIST|none        anchors to run beside S1/S2: pg-boss,graphile-worker,bullmq (default: all)
  --quick                    smaller sizes, for a run of about three minutes
  --out PATH                 results file (default: bench/results/latest.json)
  --database-url URL         admin URL of PostgreSQL (default: TEST_DATABASE_URL or
                             postgres://postgres@127.0.0.1:5432/postgres)
  --redis-port N             Redis on 127.0.0.1 for BullMQ (default: 6379)
  --cpu-prof DIR             run managers and workers with node --cpu-prof, profiles in DIR
  --s1-heights N             S1 heights per run (default 1,000,000; quick 200,000)
  --s1-runs N                S1 runs, the median is the figure (default 3; quick 1)
  --s1-workers N             S1 worker processes (default 4)
  --concurrency N            S1/S4 backfill worker BLOCKRUNNER_CONCURRENCY (default 64)
  --prefetch N               S1/S4 backfill worker BLOCKRUNNER_PREFETCH (default 4096)
  --anchor-jobs N            S1 jobs per anchor (default 100,000; quick 20,000)
  --s2-anchor-jobs N         S2 jobs per anchor (default 1,000,000; quick 100,000)
  --s3-heights N             S3 heights (default 40,000; quick 8,000)
  --s3-concurrency N         S3 concurrency per worker, 2 workers (default 8)
  --s3-prefetch N            S3 prefetch per worker (default 32, 4x the concurrency: docs/workers.md)
  --s4-samples N             S4 single-height enqueues (default 1,000; quick 200)
  --s5-blocks N              S5 blocks indexed, 0..N-1 (default 5,000; quick 1,000)
  --s5-transfers N           S5 transfers spread over the blocks (default 200; quick 40)
  --s5-processes N           S5 worker processes, and bare-loop processes (default 2)
  --s5-concurrency N         S5 concurrency per process, both sides (default 16)
  --s5-prefetch N            S5 prefetch per worker (default 4x the concurrency: docs/workers.md)
  --s5-runs N                S5 runs of both sides, best of each is the figure (default 2; quick 1)
  --s6-heights N             S6 isolated heights, and contiguous ones (default 1,000,000; quick 200,000)
  --s8-gaps N                S8 gaps of the restarted queue (default 1,000,000; quick 200,000)
  --s8-dead-letters N        S8 dead letters of the restarted queue (default 100,000; quick 20,000)
  --s8-links N               S8 worker links on one manager (default 8,000; quick 1,000)
  --s7-samples N             S7 blocks timed per head mode (default 60; quick 15)
  --s7-reorg-depth N         S7 depth of the reorg, at most 100 (default 10)
  --s7-reorg-poll-ms N       S7 pollMs of the source during the reorg (default 1,000)
  --help                     this text
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseBenchArgs(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): BenchOptions | 'help' {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const quick = v.quick ?? false;
  const s5Concurrency = count(v['s5-concurrency'], 16, '--s5-concurrency', 1_000);
  const options: BenchOptions = {
    scenarios: listOf(v.only, SCENARIOS, '--only', true) as ScenarioId[],
    anchors: v.anchors === 'none' ? [] : (listOf(v.anchors, ANCHORS, '--anchors') as AnchorName[]),
    quick,
    adminUrl:
      v['database-url'] ?? env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    redisHost: '127.0.0.1',
    redisPort: count(v['redis-port'], 6379, '--redis-port', 65_535),
    out: v.out ?? 'bench/results/latest.json',
    cpuProfDir: v['cpu-prof'],
    s1: {
      heights: count(v['s1-heights'], quick ? 200_000 : 1_000_000, '--s1-heights'),
      runs: count(v['s1-runs'], quick ? 1 : 3, '--s1-runs', 20),
      workers: count(v['s1-workers'], 4, '--s1-workers', 64),
      concurrency: count(v.concurrency, 64, '--concurrency', 10_000),
      prefetch: count(v.prefetch, 4096, '--prefetch', MAX_CAPACITY, 0),
    },
    anchorJobs: count(v['anchor-jobs'], quick ? 20_000 : 100_000, '--anchor-jobs'),
    s2: {
      heights: 100_000_000,
      anchorJobs: count(v['s2-anchor-jobs'], quick ? 100_000 : 1_000_000, '--s2-anchor-jobs'),
    },
    s3: {
      heights: count(v['s3-heights'], quick ? 8_000 : 40_000, '--s3-heights'),
      workers: 2,
      concurrency: count(v['s3-concurrency'], 8, '--s3-concurrency', 10_000),
      prefetch: count(v['s3-prefetch'], 32, '--s3-prefetch', MAX_CAPACITY, 0),
      sleepMs: 2,
    },
    s4: {
      samples: count(v['s4-samples'], quick ? 200 : 1_000, '--s4-samples', 100_000),
      perSecond: 100,
      backfillWorkers: 2,
    },
    s5: {
      blocks: count(v['s5-blocks'], quick ? 1_000 : 5_000, '--s5-blocks', 1_000_000),
      transfers: count(v['s5-transfers'], quick ? 40 : 200, '--s5-transfers', 100_000, 0),
      processes: count(v['s5-processes'], 2, '--s5-processes', 64),
      concurrency: s5Concurrency,
      prefetch: count(v['s5-prefetch'], 4 * s5Concurrency, '--s5-prefetch', MAX_CAPACITY, 0),
      runs: count(v['s5-runs'], quick ? 1 : 2, '--s5-runs', 20),
    },
    s6: {
      heights: count(v['s6-heights'], quick ? 200_000 : 1_000_000, '--s6-heights', 10_000_000),
      perRequest: 50_000,
      workers: 2,
    },
    s7: {
      samples: count(v['s7-samples'], quick ? 15 : 60, '--s7-samples', 3_600),
      reorgBlocks: 100,
      // anvil keeps 128 states (bench/anvil.ts): a reorg may go back at most 127 blocks.
      reorgDepth: count(v['s7-reorg-depth'], 10, '--s7-reorg-depth', 100),
      reorgPollMs: count(v['s7-reorg-poll-ms'], 1_000, '--s7-reorg-poll-ms', 60_000, 50),
    },
    s8: {
      gaps: count(v['s8-gaps'], quick ? 200_000 : 1_000_000, '--s8-gaps', 10_000_000),
      deadLetters: count(
        v['s8-dead-letters'],
        quick ? 20_000 : 100_000,
        '--s8-dead-letters',
        10_000_000,
        0,
      ),
      links: count(v['s8-links'], quick ? 1_000 : 8_000, '--s8-links', 16_000),
      heightsPerLink: 25,
    },
  };
  if (options.s8.deadLetters > options.s8.gaps) {
    throw new UsageError('--s8-dead-letters must be at most --s8-gaps');
  }
  if (options.s1.concurrency + options.s1.prefetch > MAX_CAPACITY) {
    throw new UsageError(`--concurrency plus --prefetch must be at most ${MAX_CAPACITY}`);
  }
  return options;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      only: { type: 'string' },
      anchors: { type: 'string' },
      quick: { type: 'boolean' },
      out: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'database-url': { type: 'string' },
      'redis-port': { type: 'string' },
      's1-heights': { type: 'string' },
      's1-runs': { type: 'string' },
      's1-workers': { type: 'string' },
      concurrency: { type: 'string' },
      prefetch: { type: 'string' },
      'anchor-jobs': { type: 'string' },
      's2-anchor-jobs': { type: 'string' },
      's3-heights': { type: 'string' },
      's3-concurrency': { type: 'string' },
      's3-prefetch': { type: 'string' },
      's4-samples': { type: 'string' },
      's5-blocks': { type: 'string' },
      's5-transfers': { type: 'string' },
      's5-processes': { type: 'string' },
      's5-concurrency': { type: 'string' },
      's5-prefetch': { type: 'string' },
      's5-runs': { type: 'string' },
      's6-heights': { type: 'string' },
      's7-samples': { type: 'string' },
      's8-gaps': { type: 'string' },
      's8-dead-letters': { type: 'string' },
      's8-links': { type: 'string' },
      's7-reorg-depth': { type: 'string' },
      's7-reorg-poll-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** A comma-separated subset of `allowed`; unset means all of them. */
function listOf(
  raw: string | undefined,
  allowed: readonly string[],
  flag: string,
  upper = false,
): string[] {
  if (raw === undefined) return [...allowed];
  const items = raw
    .split(',')
    .map((item) => (upper ? item.trim().toUpperCase() : item.trim()))
    .filter((item) => item !== '');
  for (const item of items) {
    if (!allowed.includes(item)) {
      throw new UsageError(`${flag}: unknown "${item}", expected some of ${allowed.join(',')}`);
    }
  }
  // Keep the canonical order whatever order the user typed.
  return allowed.filter((item) => items.includes(item));
}

/** A whole number, written with or without `_`/`,` separators (1_000_000, 1,000,000). */
function count(raw: string | undefined, fallback: number, flag: string, max = 1e9, min = 1) {
  if (raw === undefined) return fallback;
  const text = raw.replace(/[_,]/g, '');
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new UsageError(`${flag}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

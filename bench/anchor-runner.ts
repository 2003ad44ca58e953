/**
 * Runs the anchors, each scenario in a child process (anchors/child.ts) on this process's Node,
 * with a deadline. An anchor that fails, times out or cannot run (no Redis, a Node older than
 * its current major needs) is reported with the reason. `npm run bench` runs the whole bench on
 * Node 24 (.ci/node24/node), so Blockrunner and the anchors share one Node (docs/performance.md).
 */
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../shared/package-root.js';
import { RESULT_LINE_PREFIX } from './anchors/anchor.js';
import { type BenchDatabase, createDatabase } from './databases.js';
import type { AnchorName, BenchOptions } from './options.js';
import { BenchProcess } from './processes.js';
import { ensureRedis, type RedisCheck } from './redis.js';
import type { AnchorBigEnqueue, AnchorThroughput, Outcome } from './results.js';

const CHILD = fileURLToPath(new URL('./anchors/child.js', import.meta.url));
const TIMEOUT_MS = { S1: 180_000, S2: 300_000 } as const;

type AnchorScenario = 'S1' | 'S2';
export type AnchorFigures<S extends AnchorScenario> = S extends 'S1'
  ? AnchorThroughput
  : AnchorBigEnqueue;

/** The oldest Node each anchor's current major supports (its package.json `engines`). */
const NODE_NEEDED: Record<AnchorName, readonly [number, number]> = {
  'pg-boss': [22, 12],
  'graphile-worker': [22, 18],
  bullmq: [20, 0],
};

let redis: Promise<RedisCheck> | undefined;

/** Why `name` cannot run on `version` (process.versions.node), or undefined when it can. */
export function nodeTooOld(name: AnchorName, version: string): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [needMajor, needMinor] = NODE_NEEDED[name];
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return undefined;
  return `not run: ${name} needs Node ${needMajor}.${needMinor} or newer, this is ${version} (npm run bench runs on .ci/node24/node)`;
}

export async function runAnchor<S extends AnchorScenario>(
  name: AnchorName,
  scenario: S,
  options: BenchOptions,
): Promise<Outcome<AnchorFigures<S>>> {
  const tooOld = nodeTooOld(name, process.versions.node);
  if (tooOld !== undefined) return { status: 'failed', error: tooOld };
  if (name === 'bullmq') {
    redis ??= ensureRedis(options.redisHost, options.redisPort);
    const check = await redis;
    if (!check.ok) return { status: 'failed', error: `not run: ${check.reason}` };
  }
  // Made and dropped here, not in the child, so that a child killed at its deadline leaves
  // no database behind.
  let database: BenchDatabase | undefined;
  if (name !== 'bullmq') {
    const label = `${name.replace(/[^a-z]/g, '')}_${scenario.toLowerCase()}`;
    database = await createDatabase(options.adminUrl, label);
  }
  try {
    return await runChild(name, scenario, options, database?.url ?? '');
  } finally {
    await database?.drop();
  }
}

async function runChild<S extends AnchorScenario>(
  name: AnchorName,
  scenario: S,
  options: BenchOptions,
  databaseUrl: string,
): Promise<Outcome<AnchorFigures<S>>> {
  const jobs = scenario === 'S1' ? options.anchorJobs : options.s2.anchorJobs;
  const child = new BenchProcess(
    `${name} ${scenario}`,
    [CHILD, name, scenario, String(jobs)],
    {
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_REDIS_HOST: options.redisHost,
      BENCH_REDIS_PORT: String(options.redisPort),
    },
    packageRoot(),
  );
  let line: string | undefined;
  child.onLine((text) => {
    if (text.startsWith(RESULT_LINE_PREFIX)) line = text.slice(RESULT_LINE_PREFIX.length);
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), TIMEOUT_MS[scenario]);
  });
  const status = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (status === 'timeout') {
    await child.stop(5_000);
    return {
      status: 'failed',
      error: `did not finish within ${TIMEOUT_MS[scenario] / 1000} s: ${child.describe()}`,
    };
  }
  if (status.code !== 0 || line === undefined) return { status: 'failed', error: child.describe() };
  return { status: 'ok', ...(JSON.parse(line) as AnchorFigures<S>) };
}

/** Whether the bench had to start redis-server itself (reported in the output). */
export async function redisStartedByBench(): Promise<boolean> {
  const check = await redis;
  return check?.ok === true && check.started;
}

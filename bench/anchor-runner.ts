/**
 * Runs the anchors, each scenario in a child process (anchors/child.ts) with a deadline. An
 * anchor that fails, times out or cannot run (no Redis) is reported with the reason.
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

let redis: Promise<RedisCheck> | undefined;

export async function runAnchor<S extends AnchorScenario>(
  name: AnchorName,
  scenario: S,
  options: BenchOptions,
): Promise<Outcome<AnchorFigures<S>>> {
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

/**
 * Runs one anchor scenario in a process of its own, so that each anchor starts with a fresh
 * heap and event loop and its failure cannot take the bench down:
 *   node dist/bench/anchors/child.js <pg-boss|graphile-worker|bullmq> <S1|S2> <jobs>
 * with BENCH_DATABASE_URL (a fresh database, for the PostgreSQL anchors), BENCH_REDIS_HOST and BENCH_REDIS_PORT set. Prints one
 * `bench-result <json>` line and exits 0, or prints the error and exits 1.
 */
import { describeError } from '../results.js';
import { type Anchor, RESULT_LINE_PREFIX } from './anchor.js';
import { bullmqAnchor } from './bullmq.js';
import { graphileWorkerAnchor } from './graphile-worker.js';
import { pgBossAnchor } from './pg-boss.js';

const anchors: Record<string, Anchor> = {
  'pg-boss': pgBossAnchor,
  'graphile-worker': graphileWorkerAnchor,
  bullmq: bullmqAnchor,
};

async function main(argv: string[]): Promise<void> {
  const [name = '', scenario, jobsText = ''] = argv;
  const anchor = anchors[name];
  const jobs = Number(jobsText);
  if (!anchor || (scenario !== 'S1' && scenario !== 'S2') || !Number.isInteger(jobs) || jobs < 1) {
    throw new Error(`usage: child.js <${Object.keys(anchors).join('|')}> <S1|S2> <jobs>`);
  }
  const context = {
    databaseUrl: process.env.BENCH_DATABASE_URL ?? '',
    redisHost: process.env.BENCH_REDIS_HOST ?? '127.0.0.1',
    redisPort: Number(process.env.BENCH_REDIS_PORT ?? 6379),
  };
  const result =
    scenario === 'S1'
      ? await anchor.throughput(jobs, context)
      : await anchor.bigEnqueue(jobs, context);
  process.stdout.write(`${RESULT_LINE_PREFIX}${JSON.stringify(result)}\n`);
}

main(process.argv.slice(2)).then(
  // Anchors may leave timers or sockets of their own behind; the result is out, so stop.
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${describeError(error)}\n`);
    process.exit(1);
  },
);

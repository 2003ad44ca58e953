/**
 * pg-boss 10 as an anchor. Settings from its own docs and maintainer:
 * - enqueue with `boss.insert(jobs)`, its bulk insert (docs/api/jobs.md, "insert");
 * - v10 removed teamSize/teamConcurrency: throughput comes from `batchSize` (jobs fetched per
 *   poll, handed to the handler as an array) and from calling `work()` several times, each call
 *   being its own polling worker (timgit in pg-boss issues #483 and #542);
 * - `pollingIntervalSeconds` at its minimum, 0.5 (docs/api/workers.md, "work"; src/attorney.js
 *   enforces MIN_POLLING_INTERVAL_MS = 500). A worker fetches at most one batch per interval
 *   (src/worker.js waits out the rest of it), so 4 workers x 2,500 allow 20,000 jobs/s, above
 *   what pg-boss reaches here: the fetch and complete queries, not the polling, set its pace.
 */
import type pg from 'pg';
import PgBoss from 'pg-boss';
import { analyze, databaseSize, withClient } from '../databases.js';
import type { AnchorBigEnqueue, AnchorThroughput } from '../results.js';
import { waitUntil } from '../wait.js';
import {
  type Anchor,
  BIG_ENQUEUE_CHUNK,
  chunks,
  measureBigEnqueue,
  RoundCounter,
  type RoundTimes,
  warmThenTimed,
} from './anchor.js';

const QUEUE = 'bench-noop';
const SETTINGS = {
  workCalls: 4,
  batchSize: 2_500,
  pollingIntervalSeconds: 0.5,
  poolSize: 10,
  insert: 'boss.insert(all jobs) in one call',
};

async function startBoss(url: string): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: url, max: SETTINGS.poolSize });
  boss.on('error', (error) => process.stderr.write(`pg-boss error: ${String(error)}\n`));
  await boss.start();
  await boss.createQueue(QUEUE);
  return boss;
}

function jobsFor(heights: number[]): PgBoss.JobInsert[] {
  return heights.map((height) => ({ name: QUEUE, data: { height } }));
}

export const pgBossAnchor: Anchor = {
  async throughput(jobs, context): Promise<AnchorThroughput> {
    const url = context.databaseUrl;
    const boss = await startBoss(url);
    try {
      const counter = new RoundCounter();
      const options = {
        batchSize: SETTINGS.batchSize,
        pollingIntervalSeconds: SETTINGS.pollingIntervalSeconds,
      };
      for (let i = 0; i < SETTINGS.workCalls; i++) {
        await boss.work(QUEUE, options, async (batch) => counter.add(batch.length));
      }
      const round = async (): Promise<RoundTimes> => {
        // Built before the clock starts: what is timed is the queue, not making the array.
        const all = jobsFor(Array.from({ length: jobs }, (_, i) => i));
        const handled = counter.start(jobs);
        const started = performance.now();
        await boss.insert(all);
        const enqueued = performance.now();
        await handled;
        // The handler has seen every job; the end is when the last completion is committed.
        const finished = await withClient(url, (client) =>
          waitUntil(async () => (await openJobs(client)) === 0 && performance.now(), {
            timeoutMs: 60_000,
            intervalMs: 5,
            message: 'pg-boss to complete every job',
          }),
        );
        return { started, enqueued, finished };
      };
      return await warmThenTimed(jobs, round, () => analyze(url), {
        settings: SETTINGS,
        measured:
          'from the insert call until no job is left in a state before completed (probed every 5 ms once the handler has seen every job); workers polling before the insert',
      });
    } finally {
      await boss.stop({ graceful: false, wait: true });
    }
  },

  async bigEnqueue(jobs, context): Promise<AnchorBigEnqueue> {
    const url = context.databaseUrl;
    const boss = await startBoss(url);
    try {
      return await withClient(url, (client) =>
        measureBigEnqueue({
          jobs,
          slices: [...chunks(jobs, BIG_ENQUEUE_CHUNK)].map(jobsFor),
          enqueue: (slice) => boss.insert(slice),
          storeSize: () => databaseSize(client),
          storeMeasure: 'pg_database_size',
          settings: { insert: `boss.insert in calls of ${BIG_ENQUEUE_CHUNK}` },
        }),
      );
    } finally {
      await boss.stop({ graceful: false, wait: true });
    }
  },
};

async function openJobs(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ open: number }>(
    `SELECT count(*)::int AS open FROM pgboss.job WHERE name = $1 AND state < 'completed'`,
    [QUEUE],
  );
  return rows[0]?.open ?? -1;
}

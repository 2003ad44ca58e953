/**
 * pg-boss 12 as an anchor. Settings from its own docs and maintainer:
 * - enqueue with `boss.insert(name, jobs)`, its bulk insert (docs/api/jobs.md, "insert");
 * - throughput comes from `batchSize` (jobs fetched per poll, handed to the handler as an array)
 *   and from `localConcurrency`, the workers one `work()` call starts, each polling on its own
 *   (v12's WorkOptions; it replaces calling `work()` several times, as v10 needed: timgit in
 *   pg-boss issues #483 and #542);
 * - `pollingIntervalSeconds` at its minimum, 0.5 (JobPollingOptions: "Must be >= 0.5"), and
 *   `burstWhenBatchFull`, with which a worker whose fetch came back full fetches again at once
 *   instead of waiting out the interval (JobPollingOptions, "burst"), the mode v12 gives a
 *   backlog like this one. Without it a worker fetches at most one batch per interval, so
 *   4 workers x 2,500 would cap it at 20,000 jobs/s.
 */
import type pg from 'pg';
import { type JobInsert, PgBoss } from 'pg-boss';
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
  localConcurrency: 4,
  batchSize: 2_500,
  pollingIntervalSeconds: 0.5,
  burstWhenBatchFull: true,
  poolSize: 10,
  insert: 'boss.insert(queue, all jobs) in one call',
};

async function startBoss(url: string): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: url, max: SETTINGS.poolSize });
  // PgBoss is an EventEmitter, but its declaration file default-imports node:events, which
  // this project's settings (esModuleInterop off) cannot type: the listener goes on through the
  // EventEmitter interface. An 'error' event without a listener would throw.
  const events = boss as unknown as NodeJS.EventEmitter;
  events.on('error', (error: unknown) => process.stderr.write(`pg-boss error: ${String(error)}\n`));
  await boss.start();
  await boss.createQueue(QUEUE);
  return boss;
}

function jobsFor(heights: number[]): JobInsert[] {
  return heights.map((height) => ({ data: { height } }));
}

export const pgBossAnchor: Anchor = {
  async throughput(jobs, context): Promise<AnchorThroughput> {
    const url = context.databaseUrl;
    const boss = await startBoss(url);
    try {
      const counter = new RoundCounter();
      const options = {
        localConcurrency: SETTINGS.localConcurrency,
        batchSize: SETTINGS.batchSize,
        pollingIntervalSeconds: SETTINGS.pollingIntervalSeconds,
        burstWhenBatchFull: SETTINGS.burstWhenBatchFull,
      };
      await boss.work(QUEUE, options, async (batch) => counter.add(batch.length));
      const round = async (): Promise<RoundTimes> => {
        // Built before the clock starts: what is timed is the queue, not making the array.
        const all = jobsFor(Array.from({ length: jobs }, (_, i) => i));
        const handled = counter.start(jobs);
        const started = performance.now();
        await boss.insert(QUEUE, all);
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
      await boss.stop({ graceful: false });
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
          enqueue: (slice) => boss.insert(QUEUE, slice),
          storeSize: () => databaseSize(client),
          storeMeasure: 'pg_database_size',
          settings: { insert: `boss.insert(queue, jobs) in calls of ${BIG_ENQUEUE_CHUNK}` },
        }),
      );
    } finally {
      await boss.stop({ graceful: false });
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

/**
 * graphile-worker 0.18 as an anchor, configured as its performance page does for its own
 * figures (worker.graphile.org/docs/performance): concurrentJobs 24, maxPoolSize 25, a local
 * queue of 500 jobs fetched at once, and batched completion (completeJobBatchDelay 0,
 * failJobBatchDelay 0). New jobs wake idle workers through its LISTEN/NOTIFY, so pollInterval
 * (default 2000 ms) only matters for jobs scheduled in the future. Jobs are enqueued with
 * `addJobs`, the bulk form of addJob (worker.graphile.org/docs/library/add-job, `add_jobs`).
 */
import { Logger, makeWorkerUtils, run, type WorkerUtils } from 'graphile-worker';
import type pg from 'pg';
import { databaseSize, withClient } from '../databases.js';
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

const TASK = 'bench_noop';
const SETTINGS = {
  concurrentJobs: 24,
  maxPoolSize: 25,
  localQueue: { size: 500 },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
  pollInterval: 2000,
  enqueue: 'addJobs(all jobs) in one call',
};

/** Only errors reach stderr: info lines per start and stop would drown the bench's output. */
const logger = new Logger(() => (level, message) => {
  if (level === 'error') process.stderr.write(`graphile-worker: ${message}\n`);
});

function specsFor(heights: number[]) {
  return heights.map((height) => ({ identifier: TASK, payload: { height } }));
}

async function migratedUtils(url: string): Promise<WorkerUtils> {
  const utils = await makeWorkerUtils({ connectionString: url, logger });
  await utils.migrate();
  return utils;
}

export const graphileWorkerAnchor: Anchor = {
  async throughput(jobs, context): Promise<AnchorThroughput> {
    const url = context.databaseUrl;
    const utils = await migratedUtils(url);
    const counter = new RoundCounter();
    const runner = await run({
      noHandleSignals: true,
      logger,
      taskList: { [TASK]: async () => counter.add(1) },
      preset: {
        worker: {
          connectionString: url,
          concurrentJobs: SETTINGS.concurrentJobs,
          maxPoolSize: SETTINGS.maxPoolSize,
          localQueue: SETTINGS.localQueue,
          completeJobBatchDelay: SETTINGS.completeJobBatchDelay,
          failJobBatchDelay: SETTINGS.failJobBatchDelay,
          pollInterval: SETTINGS.pollInterval,
        },
      },
    });
    try {
      const round = async (): Promise<RoundTimes> => {
        // Built before the clock starts: what is timed is the queue, not making the array.
        const specs = specsFor(Array.from({ length: jobs }, (_, i) => i));
        const handled = counter.start(jobs);
        const started = performance.now();
        await utils.addJobs(specs);
        const enqueued = performance.now();
        await handled;
        // Completed jobs are deleted; the end is when the last deletion is committed.
        const finished = await withClient(url, (client) =>
          waitUntil(async () => (await openJobs(client)) === 0 && performance.now(), {
            timeoutMs: 60_000,
            intervalMs: 5,
            message: 'graphile-worker to complete every job',
          }),
        );
        return { started, enqueued, finished };
      };
      // No ANALYZE between the rounds, unlike pg-boss: its jobs are fetched and deleted through
      // indexes either way, and after an ANALYZE of its emptied job table graphile-worker
      // 0.17.3 stopped fetching after the first 500 jobs of the next round (seen here; kept
      // the same with 0.18 so that its figures stay comparable).
      return await warmThenTimed(jobs, round, async () => {}, {
        settings: SETTINGS,
        measured:
          'from the addJobs call until no job row is left (probed every 5 ms once the task has run for every job); worker pool running before the call',
      });
    } finally {
      await runner.stop();
      await utils.release();
    }
  },

  async bigEnqueue(jobs, context): Promise<AnchorBigEnqueue> {
    const url = context.databaseUrl;
    const utils = await migratedUtils(url);
    try {
      return await withClient(url, (client) =>
        measureBigEnqueue({
          jobs,
          slices: [...chunks(jobs, BIG_ENQUEUE_CHUNK)].map(specsFor),
          enqueue: (slice) => utils.addJobs(slice),
          storeSize: () => databaseSize(client),
          storeMeasure: 'pg_database_size',
          settings: { enqueue: `addJobs in calls of ${BIG_ENQUEUE_CHUNK}` },
        }),
      );
    } finally {
      await utils.release();
    }
  },
};

async function openJobs(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ open: number }>(
    'SELECT count(*)::int AS open FROM graphile_worker._private_jobs',
  );
  return rows[0]?.open ?? -1;
}

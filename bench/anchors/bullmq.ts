/**
 * BullMQ 5 as an anchor, on Redis at 127.0.0.1. Settings from its docs:
 * - enqueue with `Queue.addBulk` (docs.bullmq.io/guide/queues/adding-bulks: fewer round trips);
 * - a Worker with a local concurrency factor (docs.bullmq.io/guide/workers/concurrency, whose
 *   example uses 50; no-op jobs are pure I/O to Redis, the case concurrency is for);
 * - completed jobs removed (docs.bullmq.io/guide/going-to-production, "auto-removal of jobs"),
 *   so Redis memory does not grow with finished jobs.
 * Every key lives under a prefix of its own; the queue is obliterated after the run.
 */
import { randomBytes } from 'node:crypto';
import { type ConnectionOptions, Queue, Worker } from 'bullmq';
import { redisInfoField, redisVersion } from '../redis.js';
import type { AnchorBigEnqueue, AnchorThroughput } from '../results.js';
import {
  type Anchor,
  type AnchorContext,
  BIG_ENQUEUE_CHUNK,
  chunks,
  measureBigEnqueue,
  RoundCounter,
  type RoundTimes,
  warmThenTimed,
} from './anchor.js';

const QUEUE = 'bench-noop';
const SETTINGS = {
  concurrency: 50,
  removeOnComplete: true,
  enqueue: 'addBulk(all jobs) in one call',
};

function connectionOf(context: AnchorContext): ConnectionOptions {
  return { host: context.redisHost, port: context.redisPort, maxRetriesPerRequest: null };
}

function jobsFor(heights: number[]) {
  return heights.map((height) => ({
    name: 'noop',
    data: { height },
    opts: { removeOnComplete: SETTINGS.removeOnComplete },
  }));
}

export const bullmqAnchor: Anchor = {
  async throughput(jobs, context): Promise<AnchorThroughput> {
    const prefix = `blockrunner-bench-${randomBytes(4).toString('hex')}`;
    const connection = connectionOf(context);
    const queue = new Queue(QUEUE, { connection, prefix });
    const counter = new RoundCounter();
    const worker = new Worker(QUEUE, async () => {}, {
      connection,
      prefix,
      concurrency: SETTINGS.concurrency,
    });
    worker.on('error', (error) => process.stderr.write(`bullmq worker: ${error.message}\n`));
    // 'completed' is emitted once the job's completion is written to Redis.
    worker.on('completed', () => counter.add(1));
    try {
      await worker.waitUntilReady();
      await queue.waitUntilReady();
      const round = async (): Promise<RoundTimes> => {
        // Built before the clock starts: what is timed is the queue, not making the array.
        const bulk = jobsFor(Array.from({ length: jobs }, (_, i) => i));
        const completed = counter.start(jobs);
        const started = performance.now();
        await queue.addBulk(bulk);
        const enqueued = performance.now();
        await completed;
        return { started, enqueued, finished: performance.now() };
      };
      const result = await warmThenTimed(jobs, round, async () => {}, {
        settings: SETTINGS,
        measured:
          "from the addBulk call until the worker has emitted 'completed' for every job (emitted after the completion is written to Redis); worker running before the call",
      });
      return { ...result, settings: { ...SETTINGS, redis: await versionOf(context) } };
    } finally {
      await worker.close(true);
      await removeQueue(queue);
      await queue.close();
    }
  },

  async bigEnqueue(jobs, context): Promise<AnchorBigEnqueue> {
    const prefix = `blockrunner-bench-${randomBytes(4).toString('hex')}`;
    const queue = new Queue(QUEUE, { connection: connectionOf(context), prefix });
    try {
      await queue.waitUntilReady();
      return await measureBigEnqueue({
        jobs,
        slices: [...chunks(jobs, BIG_ENQUEUE_CHUNK)].map(jobsFor),
        enqueue: (slice) => queue.addBulk(slice),
        storeSize: () => usedMemory(context),
        storeMeasure: 'Redis INFO used_memory',
        settings: {
          enqueue: `addBulk in calls of ${BIG_ENQUEUE_CHUNK}`,
          redis: await versionOf(context),
        },
      });
    } finally {
      await removeQueue(queue);
      await queue.close();
    }
  },
};

async function usedMemory(context: AnchorContext): Promise<number> {
  const value = await redisInfoField(context.redisHost, context.redisPort, 'memory', 'used_memory');
  if (value === undefined) throw new Error('Redis did not answer INFO memory');
  return Number(value);
}

async function versionOf(context: AnchorContext): Promise<string> {
  return (await redisVersion(context.redisHost, context.redisPort)) ?? 'unknown';
}

/** BullMQ's own way to delete a queue and all its jobs; the prefix is this run's alone. */
async function removeQueue(queue: Queue): Promise<void> {
  await queue.obliterate({ force: true });
}

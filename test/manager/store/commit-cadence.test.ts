/**
 * The write-behind's commit cadence against a real PostgreSQL (docs/architecture.md,
 * "Write-behind"): results that nobody waits for are committed at most once per
 * UNAWAITED_COMMIT_INTERVAL_MS, so one commit carries many frames; a `committed()` call, or
 * `soon()` for a queue's last results, cuts that wait to COMMIT_INTERVAL_MS; and a prepared log
 * parses its statement once per connection.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { QueueState } from '../../../manager/queue/queue-state.js';
import { ChunkLayouts } from '../../../manager/store/chunk-layout.js';
import type { WriteBatch } from '../../../manager/store/pending-writes.js';
import {
  COMMIT_INTERVAL_MS,
  UNAWAITED_COMMIT_INTERVAL_MS,
  WriteBehind,
} from '../../../manager/store/write-behind.js';
import { createLogger } from '../../../shared/logger.js';
import { RangeSet } from '../../../shared/range-set.js';
import { createTestDatabase, holdLeaderLock, type TestDatabase } from '../../helpers/database.js';
import { rangesOf } from '../../helpers/taken.js';
import { waitFor } from '../../helpers/wait.js';

const log = createLogger({ level: 'silent', name: 'commit-cadence-test' });

let db: TestDatabase;
let lock: Awaited<ReturnType<typeof holdLeaderLock>> | undefined;
let fence: { lockKey: number; leaderPid: number };
const writers: WriteBehind[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  lock = await holdLeaderLock(db);
  fence = lock.fence;
});

afterEach(async () => {
  await Promise.all(writers.splice(0).map((writer) => writer.close(5_000)));
});

afterAll(async () => {
  lock?.release();
  await db?.drop();
});

/**
 * Slack on the interval floor, in ms: a commit's start is read as its rows are planned, the
 * statement after the log takes its own reading (a pause for garbage collection may fall
 * between them).
 */
const CLOCK_SLACK_MS = 2;

interface Commit {
  /** When the commit began: the log plans its rows (once per commit) right as it starts one. */
  startedAt: number;
  batch: WriteBatch;
}

/** Layouts that note when each commit plans its rows, its start as the log reads it. */
class TimedLayouts extends ChunkLayouts {
  plannedAt = Number.NaN;

  override plan(batch: WriteBatch): ReturnType<ChunkLayouts['plan']> {
    this.plannedAt = performance.now();
    return super.plan(batch);
  }
}

/** A write-behind on the test database with one queue of `heights` enqueued and committed. */
async function logWithQueue(name: string, heights: number, prepared = false) {
  const queue = new QueueState(name);
  const queues = new Map([[name, queue]]);
  const commits: Commit[] = [];
  const chunks = new TimedLayouts((queueName) => queues.get(queueName));
  const writer = new WriteBehind({
    pool: db.pool,
    fence: () => fence,
    log,
    chunks,
    prepared,
    onCommitted: (batch) => {
      for (const [queueName, writes] of batch) queues.get(queueName)?.committed(writes.done);
    },
    metrics: {
      committed: (batch) => commits.push({ startedAt: chunks.plannedAt, batch }),
      commitFailed: () => {},
    },
  });
  writers.push(writer);
  writer.forQueue(name).recordEnqueue(queue.enqueue(RangeSet.from([[0, heights - 1]]), false));
  await writer.committed();
  /** One results frame's worth: the next height leased, succeeded and recorded. */
  const succeedNext = (): void => {
    const [range] = rangesOf(queue.take(1, Date.now()));
    if (!range) throw new Error('nothing left to take');
    queue.succeed(range[0], range[1]);
    writer.forQueue(name).done.add(range[0], range[1]);
  };
  return { writer, queue, commits, succeedNext };
}

async function storedDone(name: string): Promise<string | undefined> {
  const { rows } = await db.pool.query<{ done: string }>(
    'SELECT done::text AS done FROM queue_sets WHERE name = $1',
    [name],
  );
  return rows[0]?.done;
}

it('commits results nobody waits for at most once per UNAWAITED_COMMIT_INTERVAL_MS, losing none', async () => {
  const heights = 150;
  const { writer, queue, commits, succeedNext } = await logWithQueue('results-only', heights);
  const first = commits.length;
  // One result every 2 ms, as a slow handler's frames arrive: ~300 ms of them.
  const started = performance.now();
  for (let i = 0; i < heights; i++) {
    succeedNext();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await waitFor(() => queue.done.count === heights, {
    timeoutMs: 10_000,
    message: 'every result committed',
  });
  const elapsed = performance.now() - started;
  const made = commits.slice(first);
  // Many frames per commit: one commit per interval of the time the frames took (and the last
  // one after them), where 10 ms commits would be five times as many. Counted against the time
  // itself, since on a loaded machine the 2 ms pauses stretch.
  expect(made.length).toBeGreaterThan(1);
  expect(made.length).toBeLessThanOrEqual(Math.ceil(elapsed / UNAWAITED_COMMIT_INTERVAL_MS) + 1);
  expect(made.length).toBeLessThan(heights / 2);
  for (let i = 1; i < made.length; i++) {
    const gap = (made[i] as Commit).startedAt - (made[i - 1] as Commit).startedAt;
    expect(gap).toBeGreaterThanOrEqual(UNAWAITED_COMMIT_INTERVAL_MS - CLOCK_SLACK_MS);
  }
  expect(await storedDone('results-only')).toBe(`{[0,${heights})}`);
  await writer.committed();
});

/**
 * Two results commits of a fresh queue, one result each: the first goes at once (an idle log
 * commits at once); once it is done, `second` records the next result (`record`) and nudges the
 * log, or not, in its own order. Gives the gap between the two commits' starts, and the second.
 */
async function twoCommits(
  name: string,
  second: (writer: WriteBehind, record: () => void) => void | Promise<void>,
): Promise<{ gap: number; next: Commit }> {
  const { commits, succeedNext, writer } = await logWithQueue(name, 10);
  const before = commits.length;
  succeedNext();
  await waitFor(() => commits.length > before, { timeoutMs: 5_000, message: 'first commit' });
  await second(writer, succeedNext);
  await waitFor(() => commits.length > before + 1, {
    timeoutMs: 5_000,
    message: 'the second commit',
  });
  const [first, next] = commits.slice(before) as [Commit, Commit];
  return { gap: next.startedAt - first.startedAt, next };
}

it('cuts the wait to COMMIT_INTERVAL_MS once someone waits for the commit', async () => {
  // The next results commit waits the long interval, unless an enqueue (any committed() caller)
  // waits for it.
  const { gap, next } = await twoCommits('awaited', async (writer, record) => {
    record();
    await writer.committed();
  });
  expect(gap).toBeGreaterThanOrEqual(COMMIT_INTERVAL_MS - CLOCK_SLACK_MS);
  expect(gap).toBeLessThan(UNAWAITED_COMMIT_INTERVAL_MS);
  expect(next.batch.get('awaited')?.done.count).toBe(1);
});

it('cuts the wait to COMMIT_INTERVAL_MS for the last results of a queue (soon())', async () => {
  const { gap, next } = await twoCommits('drained', (writer, record) => {
    record();
    writer.soon();
  });
  expect(gap).toBeGreaterThanOrEqual(COMMIT_INTERVAL_MS - CLOCK_SLACK_MS);
  expect(gap).toBeLessThan(UNAWAITED_COMMIT_INTERVAL_MS);
  expect(next.batch.get('drained')?.done.count).toBe(1);
  expect(await storedDone('drained')).toBe('{[0,2)}');
});

it('ignores soon() with nothing recorded: the results after it wait the long interval', async () => {
  const { gap } = await twoCommits('idle-soon', (writer, record) => {
    writer.soon();
    record();
  });
  expect(gap).toBeGreaterThanOrEqual(UNAWAITED_COMMIT_INTERVAL_MS - CLOCK_SLACK_MS);
});

it('parses a prepared commit statement once per connection and reuses it', async () => {
  const { writer, succeedNext } = await logWithQueue('prepared', 20, true);
  for (let i = 0; i < 20; i++) {
    succeedNext();
    await writer.committed();
  }
  expect(await storedDone('prepared')).toBe('{[0,20)}');
  // Each of the pool's sessions holds at most one prepared statement per shape: the enqueue's
  // and the results' commits have the same shape (no chain writes), so one name in all.
  const clients = await Promise.all([db.pool.connect(), db.pool.connect()]);
  try {
    const names = new Set<string>();
    for (const client of clients) {
      const { rows } = await client.query<{ name: string }>(
        'SELECT name FROM pg_prepared_statements',
      );
      for (const row of rows) names.add(row.name);
    }
    expect([...names]).toEqual(['blockrunner_commit_1']);
  } finally {
    for (const client of clients) client.release();
  }
});

/**
 * Deleting a queue's rows (manager/store/queue-delete.ts) beside the write-behind log, on a real
 * PostgreSQL with a real leader lock: a commit in flight that holds the queue's writes goes
 * first and the delete after it, so the queue is not made again and the other queues of that
 * batch commit as usual; later writers of the deleted queue record nowhere until a queue of that
 * name is made again; the delete is fenced by the leader lock like every leader write.
 */

import type pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type ChunkedSets, ChunkLayouts } from '../../../manager/store/chunk-layout.js';
import { LeaderLock } from '../../../manager/store/leader-lock.js';
import { deleteQueueRows } from '../../../manager/store/queue-delete.js';
import { saveSettings } from '../../../manager/store/settings-sql.js';
import { WriteBehind } from '../../../manager/store/write-behind.js';
import { DEFAULT_SETTINGS } from '../../../shared/api-schemas.js';
import { LeadershipLostError } from '../../../shared/errors.js';
import { createLogger } from '../../../shared/logger.js';
import { RangeSet } from '../../../shared/range-set.js';
import { createTestDatabase, openPool, type TestDatabase } from '../../helpers/database.js';
import { waitFor } from '../../helpers/wait.js';

const log = createLogger({ level: 'silent', name: 'queue-delete-test' });
let db: TestDatabase;
let lock: LeaderLock;
let pool: pg.Pool;
let writer: WriteBehind | undefined;

beforeEach(async () => {
  memories.clear();
  db = await createTestDatabase();
  pool = openPool(db.url, 4);
  lock = await LeaderLock.acquire({
    connectionString: db.url,
    log,
    signal: AbortSignal.timeout(10_000),
    onLost: () => {},
  });
});

afterEach(async () => {
  await writer?.close(2_000);
  writer = undefined;
  await lock.release();
  await pool.end();
  await db.drop();
});

/** Rows of `queue` per table, as the delete must leave them: all zero. */
async function rowsOf(queue: string) {
  const { rows } = await db.pool.query<Record<string, string>>(
    `SELECT (SELECT count(*) FROM queues WHERE name = $1)::text AS queues,
            (SELECT count(*) FROM height_attempts WHERE queue = $1)::text AS height_attempts,
            (SELECT count(*) FROM block_hashes WHERE queue = $1)::text AS block_hashes,
            (SELECT count(*) FROM reorgs WHERE queue = $1)::text AS reorgs,
            (SELECT count(*) FROM queue_sources WHERE queue = $1)::text AS sources,
            (SELECT count(*) FROM queue_settings WHERE queue = $1)::text AS settings`,
    [queue],
  );
  return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v)]));
}

async function doneOf(queue: string): Promise<string | undefined> {
  const { rows } = await db.pool.query<{ done: string }>(
    'SELECT done::text AS done FROM queue_sets WHERE name = $1',
    [queue],
  );
  return rows[0]?.done;
}

/** The queues' memory, as the leader's QueueStates would hold it: the rows are cut from it. */
const memories = new Map<string, ChunkedSets>();

function record(name: string, from: number, to: number) {
  let memory = memories.get(name);
  if (!memory) {
    memory = { enqueued: new RangeSet(), done: new RangeSet() };
    memories.set(name, memory);
  }
  memory.enqueued.add(from, to);
  const writes = (writer as WriteBehind).forQueue(name);
  writes.recordEnqueue({
    added: to - from + 1,
    skipped: 0,
    fresh: RangeSet.from([[from, to]]),
    undone: new RangeSet(),
    cleared: [],
  });
  return writes;
}

/** A queue with a row in every table of its own. */
async function fullQueue(name: string): Promise<void> {
  const writes = record(name, 0, 99);
  writes.done.add(0, 49);
  writes.history.set(60, {
    attempts: 2,
    lastError: 'boom',
    nextAttemptAt: Date.now(),
    failed: true,
  });
  writes.hashes.set(49, { hash: '0x31', parentHash: '0x30' });
  writes.source = { kind: 'push', from: 0, confirmations: 0, finality: 64, pollMs: 1_000 };
  writes.head = { height: 99, hash: '0x63' };
  writes.reorgs.set(1, {
    id: 1,
    detectedAt: new Date(),
    forkHeight: 10,
    depth: 2,
    oldHash: '0xa',
    newHash: '0xb',
    revertFrom: 11,
    revertTo: 12,
    revertedAt: null,
  });
  await (writer as WriteBehind).committed();
  const fence = lock.fence();
  if (!fence) throw new Error('no fence');
  await saveSettings(pool, fence, name, { ...DEFAULT_SETTINGS, ratePerSecond: 10 });
}

it('deletes every row of the queue, table by table, and nothing of another queue', async () => {
  writer = new WriteBehind({
    pool,
    fence: () => lock.fence(),
    chunks: new ChunkLayouts((name) => memories.get(name)),
    log,
    onCommitted: () => {},
  });
  await fullQueue('gone');
  await fullQueue('kept');
  const full = {
    queues: 1,
    height_attempts: 1,
    block_hashes: 1,
    reorgs: 1,
    sources: 1,
    settings: 1,
  };
  expect(await rowsOf('gone')).toEqual(full);

  const fence = lock.fence();
  if (!fence) throw new Error('no fence');
  expect(await deleteQueueRows(pool, 'gone', fence)).toEqual({
    queues: 1,
    heightAttempts: 1,
    blockHashes: 1,
    reorgs: 1,
    sources: 1,
    settings: 1,
  });
  const none = {
    queues: 0,
    height_attempts: 0,
    block_hashes: 0,
    reorgs: 0,
    sources: 0,
    settings: 0,
  };
  expect(await rowsOf('gone')).toEqual(none);
  expect(await rowsOf('kept')).toEqual(full);
  // Deleting again finds nothing and fails nothing.
  expect(await deleteQueueRows(pool, 'gone', fence)).toMatchObject({ queues: 0 });
});

it('deletes nothing without the leader lock', async () => {
  writer = new WriteBehind({
    pool,
    fence: () => lock.fence(),
    chunks: new ChunkLayouts((name) => memories.get(name)),
    log,
    onCommitted: () => {},
  });
  await fullQueue('gone');
  const fence = lock.fence();
  if (!fence) throw new Error('no fence');
  // Another session's pid: the lock is not held by it.
  await expect(
    deleteQueueRows(pool, 'gone', { ...fence, leaderPid: fence.leaderPid + 1 }),
  ).rejects.toBeInstanceOf(LeadershipLostError);
  expect(await rowsOf('gone')).toMatchObject({ queues: 1, height_attempts: 1, sources: 1 });
});

it('lets a commit in flight with the queue go first, keeps the batch of other queues, and records nothing more for the queue until it is made again', async () => {
  // The commit's connection waits for the test: the batch is taken and held, in flight.
  let inFlight = false;
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const gated = Object.create(pool) as pg.Pool;
  gated.connect = ((callback?: (error?: Error, client?: pg.PoolClient) => void) => {
    inFlight = true;
    const connected = gate.then(() => pool.connect());
    if (!callback) return connected;
    connected.then(
      (client) => callback(undefined, client),
      (error: Error) => callback(error),
    );
    return undefined;
  }) as pg.Pool['connect'];
  const committed: string[][] = [];
  writer = new WriteBehind({
    pool: gated,
    fence: () => lock.fence(),
    chunks: new ChunkLayouts((name) => memories.get(name)),
    log,
    onCommitted: (batch) => committed.push([...batch.keys()]),
  });
  record('gone', 0, 9).done.add(0, 3);
  record('kept', 0, 9).done.add(0, 3);
  await waitFor(() => inFlight, { timeoutMs: 5_000, message: 'the commit in flight' });

  // What the queue service does: forget the queue, wait for the commit running, delete.
  writer.forget('gone');
  // A late writer (a reorganisation still running) records into nothing.
  writer.forQueue('gone').enqueued.add(100, 100);
  writer.forQueue('kept').done.add(4, 5);
  const deleting = (async () => {
    await (writer as WriteBehind).committed();
    const fence = lock.fence();
    if (!fence) throw new Error('no fence');
    return deleteQueueRows(pool, 'gone', fence);
  })();
  open();
  expect(await deleting).toMatchObject({ queues: 1 });
  await writer.committed();

  expect(await rowsOf('gone')).toMatchObject({ queues: 0 });
  expect(await doneOf('kept')).toBe('{[0,6)}');
  expect(writer.healthy).toBe(true);
  // The batch in flight held both queues; the next one only "kept".
  expect(committed).toEqual([['gone', 'kept'], ['kept']]);

  // Made again under the same name: a fresh queue with only its new heights.
  writer.revive('gone');
  // A queue made again is a new QueueState: its rows start from none.
  memories.delete('gone');
  record('gone', 0, 1);
  await writer.committed();
  const { rows } = await db.pool.query<{ enqueued: string; done: string }>(
    "SELECT enqueued::text AS enqueued, done::text AS done FROM queue_sets WHERE name = 'gone'",
  );
  expect(rows).toEqual([{ enqueued: '{[0,2)}', done: '{}' }]);
});

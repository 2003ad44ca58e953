/**
 * The embedded database (PGlite behind pglite-socket) runs the manager's own SQL: migrations
 * (int8multirange), the leader lock and the commit fence that reads pg_locks. It takes the
 * pool's connection and the lock's, refuses a third, and keeps its data across a restart.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { ChunkLayouts } from '../../../manager/store/chunk-layout.js';
import {
  EMBEDDED_POOL_SIZE,
  type EmbeddedDatabase,
  startEmbeddedDatabase,
} from '../../../manager/store/embedded-database.js';
import { LEADER_LOCK_KEY } from '../../../manager/store/leader-lock.js';
import { migrate } from '../../../manager/store/migrate.js';
import { QueueWrites, type WriteBatch } from '../../../manager/store/pending-writes.js';
import { commitBatch } from '../../../manager/store/queue-sql.js';
import { LeadershipLostError } from '../../../shared/errors.js';
import { createLogger } from '../../../shared/logger.js';
import { RangeSet } from '../../../shared/range-set.js';
import { openPool } from '../../helpers/database.js';

const log = createLogger({ level: 'silent', name: 'test' });
let dataDir: string | undefined;
let database: EmbeddedDatabase | undefined;
const clients: { end(): Promise<void> }[] = [];

afterAll(async () => {
  for (const client of clients.splice(0)) await client.end().catch(() => {});
  await database?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function enqueueBatch(from: number, to: number): WriteBatch {
  const writes = new QueueWrites();
  writes.enqueued.add(from, to);
  writes.done.add(from, to);
  return new Map([['default', writes]]);
}

/** The rows a batch writes, for a queue whose memory holds what the batch enqueues. */
function chunksOf(batch: WriteBatch) {
  const memory = { enqueued: new RangeSet(), done: new RangeSet() };
  for (const writes of batch.values()) memory.enqueued.addSet(writes.enqueued);
  return new ChunkLayouts(() => memory).plan(batch);
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  clients.push(client);
  await client.connect();
  return client;
}

// Creating a PGlite database takes 5 to 15 s alone, 40 s while other test files load the machine.
it('migrates, fences commits on the leader lock, and keeps data across a restart', {
  timeout: 180_000,
}, async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'embedded-database-'));
  database = await startEmbeddedDatabase(dataDir, log);
  expect(database.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);

  const pool = openPool(database.url, EMBEDDED_POOL_SIZE);
  clients.push(pool);
  await migrate(pool, log);
  // PGlite is built without lz4: migration 006 leaves queue_chunks on the default method.
  const compression = await pool.query<{ attcompression: string }>(
    `SELECT attcompression FROM pg_attribute
     WHERE attrelid = 'queue_chunks'::regclass AND attname IN ('enqueued', 'done')`,
  );
  expect(compression.rows).toEqual([{ attcompression: '' }, { attcompression: '' }]);
  const leader = await connect(database.url);
  const { rows } = await leader.query<{ locked: boolean; pid: number }>(
    'SELECT pg_try_advisory_lock($1::bigint) AS locked, pg_backend_pid() AS pid',
    [LEADER_LOCK_KEY],
  );
  const lock = rows[0];
  expect(lock?.locked).toBe(true);

  // The fence reads pg_locks: it lets the lock holder's session commit and nobody else.
  const client = await pool.connect();
  try {
    const first = enqueueBatch(0, 999);
    await commitBatch(client, first, chunksOf(first), {
      lockKey: LEADER_LOCK_KEY,
      leaderPid: lock?.pid ?? -1,
    });
    await expect(
      commitBatch(client, enqueueBatch(1000, 1999), chunksOf(enqueueBatch(1000, 1999)), {
        lockKey: LEADER_LOCK_KEY,
        leaderPid: (lock?.pid ?? 0) + 1,
      }),
    ).rejects.toBeInstanceOf(LeadershipLostError);
  } finally {
    client.release();
  }

  // Both connections are taken: a third is refused rather than sharing the session unseen.
  await expect(connect(database.url)).rejects.toThrow();

  for (const open of clients.splice(0)) await open.end();
  await database.close();
  database = await startEmbeddedDatabase(dataDir, log);
  const again = await connect(database.url);
  const kept = await again.query<{ enqueued: string; done: string }>(
    'SELECT enqueued::text AS enqueued, done::text AS done FROM queue_sets',
  );
  expect(kept.rows).toEqual([{ enqueued: '{[0,1000)}', done: '{[0,1000)}' }]);
});

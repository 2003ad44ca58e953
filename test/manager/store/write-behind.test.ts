/**
 * The write-behind log at a stop when PostgreSQL never answers: it gives up after the stop's
 * deadline, rejecting whoever waits instead of hanging. (Commits that succeed are covered by
 * every end-to-end test.)
 */
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { ChunkLayouts } from '../../../manager/store/chunk-layout.js';
import { WriteBehind } from '../../../manager/store/write-behind.js';
import { createLogger } from '../../../shared/logger.js';
import { freePort } from '../../helpers/ports.js';

const log = createLogger({ level: 'silent', name: 'write-behind-test' });
const pools: pg.Pool[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end()));
});

it('gives up at the stop deadline when the database never answers, rejecting waiters', async () => {
  // Nothing listens on this port: every commit attempt fails to connect and is retried.
  const pool = new pg.Pool({
    connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/none`,
    connectionTimeoutMillis: 200,
  });
  pool.on('error', () => {});
  pools.push(pool);
  const committed: unknown[] = [];
  const writer = new WriteBehind({
    pool,
    fence: () => ({ lockKey: 1, leaderPid: 1 }),
    chunks: new ChunkLayouts(() => undefined),
    log,
    onCommitted: (batch) => committed.push(batch),
  });
  writer.forQueue('q').enqueued.add(0, 9);
  const waiting = writer.committed();

  const started = performance.now();
  await expect(writer.close(300)).rejects.toThrow('gave up committing after 300 ms');
  await expect(waiting).rejects.toThrow('gave up committing after 300 ms');
  expect(performance.now() - started).toBeLessThan(5_000);
  expect(writer.healthy).toBe(false);
  expect(committed).toEqual([]);
  // A stopped log refuses new waiters at once rather than leaving them pending.
  await expect(writer.committed()).rejects.toThrow();
});

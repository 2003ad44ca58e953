/**
 * Queue settings and effective range sizes in PostgreSQL (manager/store/settings-sql.ts), on a
 * real database with a real leader lock: an effective range size written is loaded by the next
 * leader; an operator's new rangeSize clears it, the same rangeSize keeps it; a lost fence writes
 * nothing.
 */
import type pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { LeaderLock } from '../../../manager/store/leader-lock.js';
import {
  loadSettings,
  saveEffectiveRangeSize,
  saveSettings,
} from '../../../manager/store/settings-sql.js';
import { DEFAULT_SETTINGS } from '../../../shared/api-schemas.js';
import { createLogger } from '../../../shared/logger.js';
import { createTestDatabase, openPool, type TestDatabase } from '../../helpers/database.js';

const log = createLogger({ level: 'silent', name: 'settings-sql-test' });
let db: TestDatabase;
let lock: LeaderLock;
let pool: pg.Pool;

beforeEach(async () => {
  db = await createTestDatabase();
  pool = openPool(db.url, 2);
  lock = await LeaderLock.acquire({
    connectionString: db.url,
    log,
    signal: AbortSignal.timeout(10_000),
    onLost: () => {},
  });
});

afterEach(async () => {
  await lock.release();
  await pool.end();
  await db.drop();
});

function fence() {
  const current = lock.fence();
  if (!current) throw new Error('the test lost its leader lock');
  return current;
}

it('keeps an effective range size for the next leader until rangeSize changes', async () => {
  const logs = { ...DEFAULT_SETTINGS, rangeSize: 5_000 };
  expect(await saveSettings(pool, fence(), 'logs', logs)).toBe(true);
  expect(await saveSettings(pool, fence(), 'other', { ...logs, rangeSize: 200 })).toBe(true);
  expect(await saveEffectiveRangeSize(pool, fence(), 'logs', 1_000)).toBe(true);
  // A queue without a settings row has nothing to lower: no row is made for it.
  expect(await saveEffectiveRangeSize(pool, fence(), 'nameless', 10)).toBe(true);

  let loaded = await loadSettings(pool);
  expect(loaded.settings.get('logs')).toEqual(logs);
  expect([...loaded.rangeSizes]).toEqual([['logs', 1_000]]);
  expect(loaded.settings.has('nameless')).toBe(false);

  // Another setting changes, rangeSize does not: the size the node served is kept.
  expect(await saveSettings(pool, fence(), 'logs', { ...logs, ratePerSecond: 50 })).toBe(true);
  loaded = await loadSettings(pool);
  expect(loaded.rangeSizes.get('logs')).toBe(1_000);

  // An operator's new rangeSize is tried as it is.
  expect(await saveSettings(pool, fence(), 'logs', { ...logs, rangeSize: 4_000 })).toBe(true);
  loaded = await loadSettings(pool);
  expect(loaded.rangeSizes.has('logs')).toBe(false);
  expect(loaded.settings.get('logs')?.rangeSize).toBe(4_000);

  // Grown back to rangeSize: null, and nothing is loaded for it.
  expect(await saveEffectiveRangeSize(pool, fence(), 'logs', 2_000)).toBe(true);
  expect(await saveEffectiveRangeSize(pool, fence(), 'logs', null)).toBe(true);
  expect((await loadSettings(pool)).rangeSizes.size).toBe(0);
});

it('writes nothing without the leader lock', async () => {
  expect(await saveSettings(pool, fence(), 'logs', { ...DEFAULT_SETTINGS, rangeSize: 5_000 })).toBe(
    true,
  );
  const stale = { ...fence(), leaderPid: fence().leaderPid + 1 };
  expect(await saveEffectiveRangeSize(pool, stale, 'logs', 10)).toBe(false);
  expect((await loadSettings(pool)).rangeSizes.size).toBe(0);
});

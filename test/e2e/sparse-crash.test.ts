/**
 * A sparse queue (isolated heights, stored in many queue_chunks rows) with the manager killed
 * with SIGKILL mid-run and restarted on the same database: nothing enqueued is lost, nothing
 * committed as done is undone, and the queue ends with exactly its heights done
 * (docs/architecture.md, "Store").
 */
import { afterAll, expect, it } from 'vitest';
import { fromMultirange } from '../../manager/store/multirange.js';
import { RangeSet } from '../../shared/range-set.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { queueSummary, waitForQueue } from '../helpers/queues.js';

let db: TestDatabase | undefined;

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

const HEIGHTS = 20_000;
const PER_REQUEST = 5_000;

async function stored(database: TestDatabase): Promise<{ enqueued: RangeSet; done: RangeSet }> {
  const { rows } = await database.pool.query<{ enqueued: string; done: string }>(
    "SELECT enqueued::text AS enqueued, done::text AS done FROM queue_sets WHERE name = 'default'",
  );
  const row = rows[0];
  if (!row) throw new Error('queue default is not stored');
  return { enqueued: fromMultirange(row.enqueued), done: fromMultirange(row.done) };
}

it('loses nothing and undoes nothing when the manager is killed on a sparse queue', async () => {
  db = await createTestDatabase();
  const env = { PORT: String(await freePort()) };
  const first = await startManager({ databaseUrl: db.url, env });
  const expected = new RangeSet();
  for (let r = 0; r < HEIGHTS / PER_REQUEST; r++) {
    const heights = Array.from({ length: PER_REQUEST }, (_, i) => 2 * (r * PER_REQUEST + i));
    for (const height of heights) expected.add(height);
    const answer = await api(first.url).post('/v1/queues/default/heights', { heights });
    expect(answer.status).toBe(202);
  }
  const slow = { BLOCKRUNNER_HANDLER: 'sleep', BLOCKRUNNER_SLEEP_MS: '2' };
  await startWorker({ managerUrl: first.wsUrl, env: slow });
  await startWorker({ managerUrl: first.wsUrl, env: slow });
  await waitForQueue(first.url, (s) => s.done > 3_000, 'some progress before the crash', {
    timeoutMs: 30_000,
  });
  await first.kill();

  const atCrash = await stored(db);
  expect(atCrash.enqueued.toJSON()).toEqual(expected.toJSON());
  expect(atCrash.done.count).toBeGreaterThan(3_000);
  expect(atCrash.done.difference(expected).isEmpty).toBe(true);
  const { rows } = await db.pool.query<{ rows: string }>(
    "SELECT count(*)::text AS rows FROM queue_chunks WHERE queue = 'default'",
  );
  expect(Number(rows[0]?.rows)).toBeGreaterThan(HEIGHTS / 512);

  const second = await startManager({ databaseUrl: db.url, env });
  // Loaded as it was committed: every height done at the crash is still done.
  const loaded = await queueSummary(second.url);
  expect(loaded.done).toBeGreaterThanOrEqual(atCrash.done.count);
  expect(loaded.done + loaded.pending + loaded.leased).toBe(HEIGHTS);

  await waitForQueue(second.url, (s) => s.done === HEIGHTS, 'all done after the restart', {
    timeoutMs: 60_000,
  });
  const after = await stored(db);
  expect(after.enqueued.toJSON()).toEqual(expected.toJSON());
  expect(after.done.toJSON()).toEqual(expected.toJSON());
  expect(await queueSummary(second.url)).toMatchObject({ pending: 0, leased: 0, failed: 0 });
});

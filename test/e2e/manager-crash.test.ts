/**
 * The manager killed with SIGKILL mid-run and restarted on the same database and port: nothing
 * done is lost, the workers reconnect by themselves, and everything ends done exactly once in
 * the books (a height may run twice; it is counted done once).
 */
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';

let db: TestDatabase | undefined;

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

it('loses nothing when the manager is killed and restarted', async () => {
  db = await createTestDatabase();
  const env = { PORT: String(await freePort()) };
  const first = await startManager({ databaseUrl: db.url, env });
  const slow = { BLOCKRUNNER_HANDLER: 'sleep', BLOCKRUNNER_SLEEP_MS: '2' };
  await startWorker({ managerUrl: first.wsUrl, env: slow });
  await startWorker({ managerUrl: first.wsUrl, env: slow });
  await api(first.url).post('/v1/queues/default/heights', { from: 0, to: 19_999 });

  const { done: doneBefore } = await waitForQueue(
    first.url,
    (s) => s.done > 2_000,
    'some progress before the crash',
    { timeoutMs: 20_000 },
  );
  await first.kill();
  const { rows } = await db.pool.query("SELECT done::text FROM queue_sets WHERE name = 'default'");
  const committedAtCrash = rows[0].done as string;

  const second = await startManager({ databaseUrl: db.url, env });
  const summary = await waitForQueue(
    second.url,
    (s) => s.done === 20_000,
    'all 20,000 done after the restart',
    { timeoutMs: 40_000 },
  );
  expect(doneBefore).toBeGreaterThan(2_000);
  expect(committedAtCrash).toMatch(/^\{\[0,\d+\)/);
  expect(summary).toMatchObject({ pending: 0, leased: 0, failed: 0, watermark: 19_999 });
  const after = await db.pool.query("SELECT done::text FROM queue_sets WHERE name = 'default'");
  expect(after.rows[0].done).toBe('{[0,20000)}');
});

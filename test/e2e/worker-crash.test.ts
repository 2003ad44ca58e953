/**
 * A worker killed with SIGKILL mid-run: the manager notices the closed link, its leased heights
 * go back at once with no attempt counted, and the other worker finishes everything.
 */
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase | undefined;

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

it('re-dispatches the heights of a worker killed mid-run', async () => {
  db = await createTestDatabase();
  const manager = await startManager({ databaseUrl: db.url });
  const slow = {
    BLOCKRUNNER_HANDLER: 'sleep',
    BLOCKRUNNER_SLEEP_MS: '5',
    BLOCKRUNNER_CONCURRENCY: '8',
  };
  const victim = await startWorker({
    managerUrl: manager.wsUrl,
    env: { ...slow, BLOCKRUNNER_WORKER_NAME: 'victim' },
  });
  const survivor = await startWorker({
    managerUrl: manager.wsUrl,
    env: { ...slow, BLOCKRUNNER_WORKER_NAME: 'survivor' },
  });
  const client = api(manager.url);
  await client.post('/v1/queues/default/heights', { from: 0, to: 2999 });

  type Workers = { workers: { name: string; leased: number; done: number }[] };
  const victimBusy = await waitFor(
    async () => {
      const { workers } = (await client.get('/v1/workers')).body as Workers;
      const found = workers.find((w) => w.name === 'victim');
      return found && found.leased > 0 && found.done > 100 ? found : undefined;
    },
    { timeoutMs: 20_000, message: 'victim holds leases after some progress' },
  );
  expect(victimBusy.leased).toBeGreaterThan(0);
  await victim.kill();

  await waitFor(
    async () => {
      const { workers } = (await client.get('/v1/workers')).body as Workers;
      return workers.length === 1 && workers[0]?.name === 'survivor';
    },
    { timeoutMs: 10_000, message: 'manager drops the killed worker' },
  );
  const summary = await waitForQueue(
    manager.url,
    (s) => s.done === 3000,
    'all 3,000 heights done after the crash',
    { timeoutMs: 30_000 },
  );
  // Disconnect is no failed attempt: nothing retrying, nothing failed, no attempt rows.
  expect(summary).toMatchObject({ failed: 0, retrying: 0, watermark: 2999 });
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM height_attempts');
  expect(rows[0].n).toBe(0);
  expect(survivor.pid).toBeGreaterThan(0);
});

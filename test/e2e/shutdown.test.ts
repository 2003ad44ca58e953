/**
 * SIGTERM is the graceful path: a worker hands back what it has not started and exits 0; the
 * manager lets in-flight results land, commits them and exits 0; nothing is lost.
 */
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';

let db: TestDatabase | undefined;

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

it('stops workers and the manager with exit code 0 and loses nothing', async () => {
  db = await createTestDatabase();
  const manager = await startManager({ databaseUrl: db.url });
  const slow = {
    BLOCKRUNNER_HANDLER: 'sleep',
    BLOCKRUNNER_SLEEP_MS: '20',
    BLOCKRUNNER_CONCURRENCY: '4',
  };
  const worker = await startWorker({ managerUrl: manager.wsUrl, env: slow });
  const client = api(manager.url);
  await client.post('/v1/queues/default/heights', { from: 0, to: 999 });
  await waitForQueue(manager.url, (s) => s.done > 20, 'some progress', { timeoutMs: 10_000 });

  expect(await worker.stop('SIGTERM')).toMatchObject({ code: 0 });
  const afterWorker = await waitForQueue(
    manager.url,
    (s) => s.leased === 0,
    'nothing leased once the worker stopped',
    { timeoutMs: 5_000 },
  );
  // Released heights are pending again, with no attempt counted.
  expect(afterWorker.done + afterWorker.pending).toBe(1000);
  expect(afterWorker).toMatchObject({ retrying: 0, failed: 0 });

  const second = await startWorker({ managerUrl: manager.wsUrl, env: slow });
  await waitForQueue(
    manager.url,
    (s) => s.done > afterWorker.done + 20,
    'the new worker makes progress',
    { timeoutMs: 10_000 },
  );
  expect(await manager.stop('SIGTERM')).toMatchObject({ code: 0 });
  const { rows } = await db.pool.query("SELECT done::text FROM queue_sets WHERE name = 'default'");
  expect(rows[0].done).toMatch(/^\{\[0,\d+\)\}$/);
  expect(await second.stop('SIGTERM')).toMatchObject({ code: 0 });
});

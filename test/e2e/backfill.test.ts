/**
 * The first-run path of the README: a manager, two worker processes, 0..9999 enqueued over
 * HTTP, everything done, watermark 9999; enqueuing again changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { type ManagerProcess, startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';

let db: TestDatabase;
let manager: ManagerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
  await Promise.all([
    startWorker({ managerUrl: manager.wsUrl, env: { BLOCKRUNNER_WORKER_NAME: 'w1' } }),
    startWorker({ managerUrl: manager.wsUrl, env: { BLOCKRUNNER_WORKER_NAME: 'w2' } }),
  ]);
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

describe('backfill with two workers', () => {
  it('processes 0..9999 to the end', async () => {
    const client = api(manager.url);
    const enqueued = await client.post('/v1/queues/default/heights', { from: 0, to: 9999 });
    expect(enqueued).toEqual({
      status: 202,
      body: { queue: 'default', added: 10_000, skipped: 0 },
    });

    const summary = await waitForQueue(
      manager.url,
      (s) => s.done === 10_000,
      'all 10,000 heights done',
      { timeoutMs: 30_000 },
    );
    expect(summary).toMatchObject({
      pending: 0,
      leased: 0,
      retrying: 0,
      failed: 0,
      watermark: 9999,
    });

    for (const height of [0, 4321, 9999]) {
      const { body } = await client.get(`/v1/queues/default/heights/${height}`);
      expect(body).toEqual({ height, state: 'done', attempts: 1, lastError: null });
    }
    expect((await client.get('/v1/queues/default/gaps')).body).toEqual({ items: [] });

    const workers = (await client.get('/v1/workers')).body as {
      workers: { name: string; done: number }[];
    };
    expect(workers.workers.map((w) => w.name).sort()).toEqual(['w1', 'w2']);
    expect(workers.workers.reduce((sum, w) => sum + w.done, 0)).toBe(10_000);
  });

  it('skips every height when the same range is enqueued again', async () => {
    const client = api(manager.url);
    const again = await client.post('/v1/queues/default/heights', {
      ranges: [{ from: 0, to: 9999 }],
    });
    expect(again).toEqual({ status: 202, body: { queue: 'default', added: 0, skipped: 10_000 } });
    const { body } = await client.get('/v1/queues');
    expect(body).toMatchObject({ queues: [{ queue: 'default', done: 10_000, pending: 0 }] });
  });

  it('keeps done heights in PostgreSQL as ranges, not rows', async () => {
    const { rows } = await db.pool.query(
      "SELECT enqueued::text, done::text FROM queue_sets WHERE name = 'default'",
    );
    expect(rows).toEqual([{ enqueued: '{[0,10000)}', done: '{[0,10000)}' }]);
    const attempts = await db.pool.query('SELECT count(*)::int AS n FROM height_attempts');
    expect(attempts.rows[0].n).toBe(0);
  });

  it('force reprocesses done heights', async () => {
    const client = api(manager.url);
    const forced = await client.post('/v1/queues/default/heights', {
      heights: [5, 6],
      force: true,
    });
    expect(forced.body).toMatchObject({ added: 2, skipped: 0 });
    await waitForQueue(manager.url, (s) => s.done === 10_000, 'forced heights done again', {
      timeoutMs: 10_000,
    });
  });
});

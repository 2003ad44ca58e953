/**
 * Failed attempts are retried with backoff until done; a height that keeps failing is
 * dead-lettered with the handler's message, listed by /failed and put back by /failed/retry.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

const alwaysFail = fileURLToPath(new URL('../fixtures/always-fail.mjs', import.meta.url));
const drops: (() => Promise<void>)[] = [];

afterEach(async () => {
  await stopAll();
  for (const drop of drops.splice(0)) await drop();
});

/** A fresh database and a manager retrying after 5 ms, backing off up to `retryMaxMs`. */
async function startRetryingManager(retryMaxMs: number, maxAttempts: number) {
  const db = await createTestDatabase();
  drops.push(db.drop);
  const manager = await startManager({
    databaseUrl: db.url,
    env: {
      BLOCKRUNNER_RETRY_BASE_MS: '5',
      BLOCKRUNNER_RETRY_MAX_MS: String(retryMaxMs),
      BLOCKRUNNER_MAX_ATTEMPTS: String(maxAttempts),
    },
  });
  return { db, manager };
}

describe('retries and dead letters', () => {
  it('a flaky handler failing about half the attempts still ends with everything done', async () => {
    const { db, manager } = await startRetryingManager(50, 50);
    for (const name of ['f1', 'f2']) {
      await startWorker({
        managerUrl: manager.wsUrl,
        env: {
          BLOCKRUNNER_HANDLER: 'flaky',
          BLOCKRUNNER_FLAKY_RATE: '0.5',
          BLOCKRUNNER_WORKER_NAME: name,
        },
      });
    }
    await api(manager.url).post('/v1/queues/default/heights', { from: 0, to: 1999 });
    const summary = await waitForQueue(manager.url, (s) => s.done === 2000, 'all 2,000 done', {
      timeoutMs: 30_000,
    });
    expect(summary).toMatchObject({ failed: 0, retrying: 0, pending: 0, watermark: 1999 });
    const workers = (await api(manager.url).get('/v1/workers')).body as {
      workers: { failed: number }[];
    };
    const failedAttempts = workers.workers.reduce((sum, w) => sum + w.failed, 0);
    expect(failedAttempts).toBeGreaterThan(500);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM height_attempts');
    expect(rows[0].n).toBe(0);
  });

  it('a handler that always fails dead-letters heights after max attempts; retry puts them back', async () => {
    const { db, manager } = await startRetryingManager(20, 2);
    const worker = await startWorker({
      managerUrl: manager.wsUrl,
      env: { BLOCKRUNNER_HANDLER: alwaysFail },
    });
    const client = api(manager.url);
    await client.post('/v1/queues/default/heights', { from: 100, to: 149 });
    await waitForQueue(manager.url, (s) => s.failed === 50, 'all 50 dead-lettered', {
      timeoutMs: 30_000,
    });

    expect((await client.get('/v1/queues/default/heights/120')).body).toEqual({
      height: 120,
      state: 'failed',
      attempts: 2,
      lastError: 'indexer rejected block 120',
    });
    const page = await client.get('/v1/queues/default/failed?limit=20');
    expect(page.status).toBe(200);
    const first = page.body as {
      items: { height: number; attempts: number; lastError: string }[];
      next: number;
    };
    expect(first.items).toHaveLength(20);
    expect(first.items[0]).toEqual({
      height: 100,
      attempts: 2,
      lastError: 'indexer rejected block 100',
    });
    expect(first.next).toBe(119);
    const second = (await client.get(`/v1/queues/default/failed?limit=100&after=${first.next}`))
      .body as {
      items: { height: number }[];
      next: number | null;
    };
    expect(second.items.map((item) => item.height)).toEqual(
      Array.from({ length: 30 }, (_, i) => 120 + i),
    );
    expect(second.next).toBeNull();

    // Dead letters are served from memory at once and committed a few milliseconds later.
    await waitFor(
      async () => {
        const { rows } = await db.pool.query(
          'SELECT count(*)::int AS n FROM height_attempts WHERE failed',
        );
        return rows[0].n === 50;
      },
      { timeoutMs: 10_000, message: 'the 50 dead letters committed' },
    );

    await worker.stop();
    expect(await client.post('/v1/queues/default/failed/retry', { from: 100, to: 109 })).toEqual({
      status: 200,
      body: { requeued: 10 },
    });
    expect((await client.get('/v1/queues/default/heights/105')).body).toMatchObject({
      state: 'pending',
      attempts: 0,
    });
    expect((await client.get('/v1/queues/default')).body).toMatchObject({
      pending: 10,
      failed: 40,
    });
    expect(await client.post('/v1/queues/default/failed/retry', { from: 9, to: 8 })).toMatchObject({
      status: 400,
      body: { code: 'BR_ERR_RANGE_REVERSED' },
    });
    expect((await client.post('/v1/queues/default/failed/retry', {})).body).toEqual({
      requeued: 40,
    });
    expect((await client.get('/v1/queues/default')).body).toMatchObject({ pending: 50, failed: 0 });
    expect((await client.post('/v1/queues/default/failed/retry')).body).toEqual({ requeued: 0 });
  });
});

/**
 * A leader killed while a standby waits on the same database: the standby refuses work while
 * standby, takes the leader lock within seconds of the death, the workers (given both URLs)
 * find it with their backoff loop, and the run completes with nothing lost.
 */
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
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

function upgradeStatus(url: string): Promise<number | undefined> {
  const ws = new WebSocket(url);
  return new Promise((resolve) => {
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode));
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('error', () => resolve(undefined));
  });
}

it('fails over to the standby when the leader dies', async () => {
  db = await createTestDatabase();
  const leader = await startManager({ databaseUrl: db.url });
  const standby = await startManager({ databaseUrl: db.url, waitForReady: false });
  await standby.waitForLog((entry) => String(entry.msg).startsWith('standby'), 10_000);

  expect((await api(standby.url).get('/readyz')).status).toBe(503);
  expect(await api(standby.url).get('/v1/queues')).toMatchObject({
    status: 503,
    body: { code: 'BR_ERR_NOT_READY' },
  });
  expect(await upgradeStatus(standby.wsUrl)).toBe(503);

  const urls = `${leader.wsUrl},${standby.wsUrl}`;
  const slow = { BLOCKRUNNER_HANDLER: 'sleep', BLOCKRUNNER_SLEEP_MS: '1' };
  await startWorker({ managerUrl: urls, env: { ...slow, BLOCKRUNNER_WORKER_NAME: 'a' } });
  await startWorker({ managerUrl: urls, env: { ...slow, BLOCKRUNNER_WORKER_NAME: 'b' } });
  await api(leader.url).post('/v1/queues/default/heights', { from: 0, to: 19_999 });
  await waitForQueue(leader.url, (s) => s.done > 3_000, 'progress on the leader');

  await leader.kill();
  const killedAt = Date.now();
  await waitFor(async () => (await api(standby.url).get('/readyz')).status === 200, {
    timeoutMs: 15_000,
    message: 'the standby takes over',
  });
  const takeoverMs = Date.now() - killedAt;
  await waitFor(
    async () => {
      const { body } = await api(standby.url).get('/v1/workers');
      return (body as { workers: unknown[] }).workers.length === 2;
    },
    { timeoutMs: 15_000, message: 'both workers reconnect to the new leader' },
  );
  const summary = await waitForQueue(
    standby.url,
    (s) => s.done === 20_000,
    'all 20,000 done on the new leader',
    { timeoutMs: 60_000 },
  );
  expect(summary).toMatchObject({ pending: 0, leased: 0, failed: 0, watermark: 19_999 });
  const { rows } = await db.pool.query("SELECT done::text FROM queue_sets WHERE name = 'default'");
  expect(rows[0].done).toBe('{[0,20000)}');
  console.info(`standby took over ${takeoverMs} ms after the leader was killed`);
  expect(takeoverMs).toBeLessThan(15_000);
});

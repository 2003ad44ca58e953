/**
 * Tokens: with BLOCKRUNNER_API_TOKEN every /v1 route needs the bearer token; with
 * BLOCKRUNNER_WORKER_TOKEN an upgrade without it is refused with 401 before any frame.
 * Neither token appears in the logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { type ManagerProcess, startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';

const apiToken = 'api-secret-4f9c2d';
const workerToken = 'worker-secret-8b1e7a';
let db: TestDatabase;
let manager: ManagerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({
    databaseUrl: db.url,
    env: { BLOCKRUNNER_API_TOKEN: apiToken, BLOCKRUNNER_WORKER_TOKEN: workerToken },
  });
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

function upgradeStatus(headers: Record<string, string>): Promise<number | undefined> {
  const ws = new WebSocket(manager.wsUrl, { headers });
  return new Promise((resolve) => {
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode));
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('error', () => resolve(undefined));
  });
}

describe('tokens', () => {
  it('refuses API calls without the right bearer token', async () => {
    for (const token of [undefined, 'wrong', `${apiToken}x`]) {
      const answer = await api(manager.url, token).get('/v1/queues');
      expect(answer).toMatchObject({
        status: 401,
        body: { statusCode: 401, code: 'BR_ERR_UNAUTHORIZED' },
      });
    }
    expect((await api(manager.url, apiToken).get('/v1/queues')).status).toBe(200);
    expect((await api(manager.url).get('/healthz')).status).toBe(200);
  });

  it('refuses worker upgrades without the worker token, before any frame', async () => {
    expect(await upgradeStatus({})).toBe(401);
    expect(await upgradeStatus({ authorization: 'Bearer nope' })).toBe(401);
    expect(await upgradeStatus({ authorization: `Bearer ${apiToken}` })).toBe(401);
    expect(await upgradeStatus({ authorization: `Bearer ${workerToken}` })).toBe(101);
  });

  it('serves a worker that has the token, and never logs a token', async () => {
    const worker = await startWorker({
      managerUrl: manager.wsUrl,
      env: { BLOCKRUNNER_WORKER_TOKEN: workerToken },
    });
    const client = api(manager.url, apiToken);
    await client.post('/v1/queues/default/heights', { from: 0, to: 99 });
    await waitForQueue(manager.url, (s) => s.done === 100, '100 heights done', {
      token: apiToken,
      timeoutMs: 10_000,
    });
    const logs = [...manager.logs(), ...worker.logs()].join('\n');
    expect(logs).not.toContain(apiToken);
    expect(logs).not.toContain(workerToken);
  });
});

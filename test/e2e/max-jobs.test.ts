/**
 * BLOCKRUNNER_MAX_JOBS runs exactly that many heights, then the worker retires: what it holds
 * beyond them goes back to the manager unrun, even with a full buffer of a handler that returns
 * at once, whose loop starts hundreds of heights in one turn.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { type ManagerProcess, startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';

let db: TestDatabase;
let manager: ManagerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

it('runs exactly BLOCKRUNNER_MAX_JOBS heights of a full buffer, hands the rest back, and exits 0', async () => {
  await api(manager.url).post('/v1/queues/default/heights', { from: 0, to: 9_999 });
  // Connected after the enqueue: its first dispatch fills its whole capacity (4 + 4,096).
  const worker = await startWorker({
    managerUrl: manager.wsUrl,
    env: {
      BLOCKRUNNER_MAX_JOBS: '100',
      BLOCKRUNNER_CONCURRENCY: '4',
      BLOCKRUNNER_PREFETCH: '4096',
      BLOCKRUNNER_WORKER_NAME: 'retiring',
    },
  });
  expect(await worker.exited).toEqual({ code: 0, signal: null });
  const summary = await waitForQueue(manager.url, (s) => s.leased === 0, 'nothing leased', {
    timeoutMs: 10_000,
  });
  expect(summary).toMatchObject({ done: 100, pending: 9_900, failed: 0, retrying: 0 });
});

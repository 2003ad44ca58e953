/**
 * The Python worker library (clients/python/) in the harder cases, against a real manager: a lease
 * expiry cancelling the handler, block hashes kept, a refused token, an unreachable manager and a
 * list of URLs, a half-open link, and a revert asked for by a reorganisation.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { type ManagerProcess, startManager, stopAll } from '../helpers/processes.js';
import { queueSummary, waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';
import {
  blockHash,
  ensurePythonWebsockets,
  heightOf,
  INSTALL_TIMEOUT_MS,
  logEntries,
  startPythonWorker,
  TEST_WORKER,
} from './python.js';

let db: TestDatabase | undefined;

beforeAll(ensurePythonWebsockets, INSTALL_TIMEOUT_MS);

afterEach(async () => {
  await stopAll();
  await db?.drop();
  db = undefined;
});

afterAll(async () => {
  await stopAll();
});

async function managerOn(env: Record<string, string> = {}): Promise<ManagerProcess> {
  db = await createTestDatabase();
  return startManager({ databaseUrl: db.url, env });
}

it('cancels the handler when its lease expires, and the retry succeeds', async () => {
  const manager = await managerOn({
    BLOCKRUNNER_LEASE_MS: '300',
    BLOCKRUNNER_RETRY_BASE_MS: '10',
    BLOCKRUNNER_RETRY_MAX_MS: '10',
  });
  const worker = await startPythonWorker({
    script: TEST_WORKER,
    args: ['--url', manager.wsUrl, '--hang-first-attempt'],
  });
  await api(manager.url).post('/v1/queues/default/heights', { heights: [7] });
  const cancelled = await worker.waitForLog((entry) => entry.msg === 'handler cancelled');
  expect(cancelled).toMatchObject({ height: 7, attempt: 1, set: true });
  await waitForQueue(manager.url, (s) => s.done === 1, 'height 7 done on its retry', {
    timeoutMs: 10_000,
  });
  expect(await heightOf(manager.url, 7)).toMatchObject({ state: 'done' });
});

it('sends the block hashes the handler returns', async () => {
  const manager = await managerOn();
  await startPythonWorker({ script: TEST_WORKER, args: ['--url', manager.wsUrl, '--hashes'] });
  // A pushed head gives the queue a final line, so the manager keeps the reported hashes.
  const client = api(manager.url);
  expect(
    (await client.put('/v1/queues/default/source', { kind: 'push', finality: 64 })).status,
  ).toBe(200);
  const head = await client.post('/v1/queues/default/head', { height: 9, hash: blockHash(9) });
  expect(head).toEqual({ status: 202, body: { added: 10 } });
  await waitForQueue(manager.url, (s) => s.done === 10, 'all 10 done', { timeoutMs: 10_000 });
  // The write of the hashes is committed with the results; the API does not show them.
  const { rows } = await (db as TestDatabase).pool.query(
    "SELECT height::int, hash, parent_hash FROM block_hashes WHERE queue = 'default' ORDER BY height",
  );
  expect(rows).toEqual(
    Array.from({ length: 10 }, (_, value) => ({
      height: value,
      hash: blockHash(value),
      parent_hash: value === 0 ? '-0x1' : blockHash(value - 1),
    })),
  );
  // The parent links agree: no reorganisation was seen.
  expect((await client.get('/v1/queues/default/reorgs')).body).toEqual({ items: [] });
});

it('exits 2 with one line naming BLOCKRUNNER_WORKER_TOKEN when the token is refused', async () => {
  const manager = await managerOn({ BLOCKRUNNER_WORKER_TOKEN: 's3cret' });
  const refused = await startPythonWorker({
    args: ['--url', manager.wsUrl, '--token', 'wrong'],
    waitForConnected: false,
  });
  expect(await refused.exited).toEqual({ code: 2, signal: null });
  const errors = refused.logs().filter((line) => !line.startsWith('{'));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(/refused the worker token 3 times .*BLOCKRUNNER_WORKER_TOKEN/);
  // The right token, from the variable, is let in.
  const admitted = await startPythonWorker({
    args: ['--url', manager.wsUrl],
    env: { BLOCKRUNNER_WORKER_TOKEN: 's3cret' },
  });
  expect(await admitted.stop('SIGTERM')).toEqual({ code: 0, signal: null });
});

it('retries an unreachable manager with backoff and tries the next URL', async () => {
  const deadUrl = `ws://127.0.0.1:${await freePort()}/v1/ws`;
  const alone = await startPythonWorker({ args: ['--url', deadUrl], waitForConnected: false });
  const fourth = await alone.waitForLog(
    (entry) => entry.msg === 'cannot connect to the manager, retrying' && entry.attempt === 4,
  );
  expect(fourth.delayMs).toBeGreaterThanOrEqual(800);
  expect(fourth.delayMs).toBeLessThanOrEqual(1_600);
  expect(alone.exitStatus()).toBeUndefined();
  expect(await alone.stop('SIGTERM', 3_000)).toEqual({ code: 0, signal: null });

  const manager = await managerOn();
  const listed = await startPythonWorker({ args: ['--url', deadUrl, '--url', manager.wsUrl] });
  const connected = await listed.waitForLog((entry) => entry.msg === 'worker connected');
  expect(connected.url).toBe(manager.wsUrl);
  expect(logEntries(listed, 'cannot connect to the manager, retrying')[0]).toMatchObject({
    url: deadUrl,
    attempt: 1,
  });
});

it("drops a silent link after 2.5 of the welcome's heartbeats and reconnects", async () => {
  const manager = await managerOn({ BLOCKRUNNER_HEARTBEAT_MS: '500' });
  const worker = await startPythonWorker({ args: ['--url', manager.wsUrl] });
  expect(logEntries(worker, 'worker connected')[0]).toMatchObject({ heartbeatMs: 500 });
  // A stopped manager keeps its sockets open but answers nothing: a half-open link.
  manager.process.kill('SIGSTOP');
  try {
    const dropped = await worker.waitForLog(
      (entry) =>
        entry.msg === 'worker disconnected, reconnecting' &&
        String(entry.err).startsWith('no frame or pong'),
    );
    expect(dropped).toMatchObject({ code: 1006 });
    // Not before 2.5 heartbeats of silence.
    const silentMs = Number(/ for (\d+) ms$/.exec(String(dropped.err))?.[1]);
    expect(silentMs).toBeGreaterThanOrEqual(1_250);
  } finally {
    manager.process.kill('SIGCONT');
  }
  const connects = logEntries(worker, 'worker connected').length;
  await waitFor(() => logEntries(worker, 'worker connected').length > connects, {
    timeoutMs: 20_000,
    message: 'the worker connected again',
  });
  expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
});

it('runs the revert a reorganisation asks for, then re-indexes the new chain', async () => {
  const manager = await managerOn();
  const scratch = mkdtempSync(join(tmpdir(), 'blockrunner-python-'));
  const chainFile = join(scratch, 'chain.txt');
  try {
    const worker = await startPythonWorker({
      script: TEST_WORKER,
      args: ['--url', manager.wsUrl, '--hashes', '--chain-file', chainFile],
    });
    const client = api(manager.url);
    await client.put('/v1/queues/default/source', { kind: 'push', finality: 64 });
    await client.post('/v1/queues/default/head', { height: 9, hash: blockHash(9) });
    await waitForQueue(manager.url, (s) => s.done === 10, 'all 10 done', { timeoutMs: 10_000 });

    // The chain changes from height 7 on; the pushed head shows it.
    writeFileSync(chainFile, '7 1');
    await client.post('/v1/queues/default/head', { height: 9, hash: blockHash(9, 1) });
    const reorg = await waitFor(
      async () => {
        const { body } = await client.get<{ items: Record<string, unknown>[] }>(
          '/v1/queues/default/reorgs',
        );
        const [item] = body.items;
        return item?.revertedAt ? item : undefined;
      },
      { timeoutMs: 20_000, message: 'a reorganisation, reverted' },
    );
    expect(reorg).toMatchObject({ forkHeight: 6, revertFrom: 7, revertTo: 9 });
    expect(logEntries(worker, 'test revert')).toEqual([
      expect.objectContaining({ queue: 'default', from: 7, to: 9 }),
    ]);
    expect(logEntries(worker, 'reverted an orphaned range')).toHaveLength(1);
    await waitFor(
      async () => {
        const { rows } = await (db as TestDatabase).pool.query(
          "SELECT hash FROM block_hashes WHERE queue = 'default' AND height = 9",
        );
        return rows[0]?.hash === blockHash(9, 1);
      },
      { timeoutMs: 20_000, message: "height 9 re-indexed with the new chain's hash" },
    );
    expect(await queueSummary(manager.url)).toMatchObject({ done: 10, pending: 0, leased: 0 });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

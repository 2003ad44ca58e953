/**
 * The Python worker library (clients/python/, docs/workers.md "Python") against a real manager,
 * as real processes: everything done, a manager killed and restarted mid-run, a graceful stop
 * that hands back what it holds, a lease expiry cancelling the handler, block hashes in results,
 * a refused token and an unreachable manager. Also runs the library's own unit tests.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import {
  type LogEntry,
  type ManagerProcess,
  spawnTracked,
  startManager,
  stopAll,
  type TrackedProcess,
} from '../helpers/processes.js';
import { queueSummary, waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

/** Debian's python3 with python3-websockets (.ci/install-python-websockets installs it). */
const PYTHON = process.env.BLOCKRUNNER_PYTHON ?? '/usr/bin/python3';
const NOOP_WORKER = 'clients/python/examples/noop_worker.py';
const TEST_WORKER = 'test/clients/fixtures/test_worker.py';

const INSTALL_TIMEOUT_MS = 300_000;

let db: TestDatabase | undefined;

/** The fixture's block hashes: heights from a fork on carry the chain's version. */
function blockHash(value: number, version = 0): string {
  return `0x${version.toString(16)}${value.toString(16).padStart(63, '0')}`;
}

function importsWebsockets(): boolean {
  return spawnSync(PYTHON, ['-c', 'import websockets']).status === 0;
}

beforeAll(async () => {
  // Debian's python3 without python3-websockets: install it as CI does (a BLOCKRUNNER_PYTHON
  // of one's own is left alone).
  if (process.env.BLOCKRUNNER_PYTHON !== undefined || importsWebsockets()) return;
  try {
    await promisify(execFile)(join(packageRoot(), '.ci', 'install-python-websockets'), {
      timeout: INSTALL_TIMEOUT_MS,
    });
  } catch (error) {
    throw new Error(
      `${PYTHON} cannot import websockets and .ci/install-python-websockets failed: apt-get install python3-websockets and run again`,
      { cause: error },
    );
  }
}, INSTALL_TIMEOUT_MS);

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

interface PythonWorkerOptions {
  script?: string;
  args: string[];
  env?: Record<string, string>;
  waitForConnected?: boolean;
}

/** Starts a Python worker process; by default waits for its first `worker connected` line. */
async function startPythonWorker(options: PythonWorkerOptions): Promise<TrackedProcess> {
  const script = options.script ?? NOOP_WORKER;
  const worker = spawnTracked(PYTHON, [script, ...options.args], options.env, `python ${script}`);
  if (options.waitForConnected ?? true) {
    await worker.waitForLog((entry) => entry.msg === 'worker connected', 20_000);
  }
  return worker;
}

function logEntries(worker: TrackedProcess, msg: string): LogEntry[] {
  return worker
    .logs()
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogEntry)
    .filter((entry) => entry.msg === msg);
}

interface HeightAnswer {
  height: number;
  state: string;
  attempts: number;
  lastError: string | null;
  hash?: string;
}

async function height(manager: ManagerProcess, value: number): Promise<HeightAnswer> {
  const { status, body } = await api(manager.url).get<HeightAnswer>(
    `/v1/queues/default/heights/${value}`,
  );
  expect(status).toBe(200);
  return body;
}

it('finds python 3.11+ with websockets 10.4+', () => {
  expect(existsSync(PYTHON), `${PYTHON} (BLOCKRUNNER_PYTHON)`).toBe(true);
  const probe = spawnSync(
    PYTHON,
    ['-c', 'import sys, websockets; print(sys.version_info >= (3, 11), websockets.__version__)'],
    { encoding: 'utf8' },
  );
  expect(probe.status, `${probe.stderr} (run .ci/install-python-websockets)`).toBe(0);
  const [modern, version = ''] = probe.stdout.trim().split(' ');
  expect(modern).toBe('True');
  const [major = 0, minor = 0] = version.split('.').map(Number);
  expect(major * 100 + minor).toBeGreaterThanOrEqual(1004);
});

it("passes the library's unit tests", () => {
  const run = spawnSync(PYTHON, ['-m', 'unittest', 'discover', '-s', 'clients/python/tests'], {
    cwd: packageRoot(),
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.status, run.stderr).toBe(0);
  expect(run.stderr).toMatch(/^OK$/m);
  const ran = Number(/^Ran (\d+) tests? in/m.exec(run.stderr)?.[1]);
  expect(ran).toBeGreaterThanOrEqual(20);
});

describe('against a real manager', () => {
  it('runs 0..9,999 to done with the noop example', async () => {
    const manager = await managerOn();
    const worker = await startPythonWorker({
      args: ['--url', manager.wsUrl, '--queue', 'default', '--concurrency', '16', '--name', 'py'],
    });
    const { status } = await api(manager.url).post('/v1/queues/default/heights', {
      from: 0,
      to: 9_999,
    });
    expect(status).toBe(202);
    const summary = await waitForQueue(manager.url, (s) => s.done === 10_000, 'all 10,000 done', {
      timeoutMs: 60_000,
    });
    expect(summary).toMatchObject({ pending: 0, leased: 0, failed: 0, watermark: 9_999 });
    const { body } = await api(manager.url).get<{ workers: Record<string, unknown>[] }>(
      '/v1/workers',
    );
    expect(body.workers).toEqual([
      expect.objectContaining({ name: 'py', queues: ['default'], capacity: 32, done: 10_000 }),
    ]);
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('reconnects by itself when the manager is killed and restarted, and finishes', async () => {
    const env = { PORT: String(await freePort()) };
    const first = await managerOn(env);
    const worker = await startPythonWorker({
      script: TEST_WORKER,
      args: ['--url', first.wsUrl, '--concurrency', '16', '--sleep-ms', '1'],
    });
    await api(first.url).post('/v1/queues/default/heights', { from: 0, to: 9_999 });
    const before = await waitForQueue(
      first.url,
      (s) => s.done > 1_000,
      'progress before the kill',
      {
        timeoutMs: 30_000,
      },
    );
    await first.kill();
    await worker.waitForLog((entry) => entry.msg === 'worker disconnected, reconnecting');

    const second = await startManager({ databaseUrl: (db as TestDatabase).url, env });
    const summary = await waitForQueue(
      second.url,
      (s) => s.done === 10_000,
      'all 10,000 done after the restart',
      { timeoutMs: 60_000 },
    );
    expect(before.done).toBeLessThan(10_000);
    expect(summary).toMatchObject({ pending: 0, leased: 0, failed: 0, watermark: 9_999 });
    // The same process, connected twice: once to each manager.
    expect(worker.exitStatus()).toBeUndefined();
    expect(logEntries(worker, 'worker connected')).toHaveLength(2);
    const { rows } = await (db as TestDatabase).pool.query(
      "SELECT done::text FROM queues WHERE name = 'default'",
    );
    expect(rows[0].done).toBe('{[0,10000)}');
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('on SIGTERM releases the buffered heights, finishes the running ones and exits 0', async () => {
    const manager = await managerOn();
    // 2 running and 6 buffered: capacity 8, a handler of 3 s.
    const worker = await startPythonWorker({
      script: TEST_WORKER,
      args: [
        '--url',
        manager.wsUrl,
        '--concurrency',
        '2',
        '--prefetch',
        '6',
        '--sleep-ms',
        '3000',
        '--log-starts',
      ],
    });
    await api(manager.url).post('/v1/queues/default/heights', { from: 0, to: 99 });
    await waitForQueue(manager.url, (s) => s.leased === 8, 'the worker holds 8 heights', {
      timeoutMs: 10_000,
    });
    const started = await waitFor(
      () => {
        const heights = logEntries(worker, 'handler started').map((entry) => entry.height);
        return heights.length >= 2 ? heights : undefined;
      },
      { timeoutMs: 5_000, message: 'two handlers started' },
    );
    expect(started).toEqual([0, 1]);
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    const summary = await waitForQueue(manager.url, (s) => s.leased === 0, 'nothing leased', {
      timeoutMs: 5_000,
    });
    // The two running heights finished and were reported; the six buffered went back.
    expect(summary).toMatchObject({ done: 2, pending: 98, retrying: 0, failed: 0 });
    for (const value of [0, 1]) {
      expect(await height(manager, value)).toMatchObject({ state: 'done' });
    }
    for (const value of [2, 3, 4, 5, 6, 7]) {
      expect(await height(manager, value)).toMatchObject({ state: 'pending', attempts: 0 });
    }
  }, 30_000);

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
    expect(await height(manager, 7)).toMatchObject({ state: 'done' });
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
});

/**
 * The Python worker library (clients/python/, docs/workers.md "Python") against a real manager,
 * as real processes: 0..9,999 all done, a tip-lane height started before a full buffer of
 * backfill, the manager killed and restarted mid-run with the worker reconnecting by itself, and
 * SIGTERM handing back what the worker holds. Also runs the
 * library's own unit tests. The faults and chain frames are in python-worker-faults.test.ts.
 */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { type ManagerProcess, startManager, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';
import {
  ensurePythonWebsockets,
  heightOf,
  INSTALL_TIMEOUT_MS,
  logEntries,
  PYTHON,
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
  }, 120_000);

  it('starts a tip-lane height before the backfill heights its full buffer holds', async () => {
    const manager = await managerOn();
    const prefetch = 64;
    const worker = await startPythonWorker({
      script: TEST_WORKER,
      args: [
        ...['--url', manager.wsUrl, '--sleep-ms', '20', '--log-starts'],
        ...['--concurrency', '2', '--prefetch', String(prefetch)],
      ],
    });
    const client = api(manager.url);
    const starts = () => logEntries(worker, 'handler started').map((entry) => entry.height);
    await client.post('/v1/queues/default/heights', { from: 0, to: 99_999 });
    await waitFor(() => starts().length >= 20, { timeoutMs: 20_000, message: 'backfill running' });
    const tip = 10_000_000;
    const answer = await client.post('/v1/queues/default/heights', { heights: [tip], lane: 'tip' });
    expect(answer.status).toBe(202);
    const startedBefore = starts().length;
    await waitFor(() => starts().includes(tip), { timeoutMs: 10_000, message: 'tip started' });
    // In arrival order the tip height would wait for the 64 buffered heights, about 640 ms at
    // 20 ms a height and 2 at a time; ahead of them, for the worker's next results (20 ms) and
    // a free handler.
    const backfillBefore = starts().indexOf(tip) - startedBefore;
    expect(backfillBefore).toBeLessThan(prefetch / 2);
    expect(worker.logs().some((line) => line.includes('bad_frame'))).toBe(false);
  }, 60_000);

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
      "SELECT done::text FROM queue_sets WHERE name = 'default'",
    );
    expect(rows[0].done).toBe('{[0,10000)}');
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 120_000);

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
      expect(await heightOf(manager.url, value)).toMatchObject({ state: 'done' });
    }
    for (const value of [2, 3, 4, 5, 6, 7]) {
      expect(await heightOf(manager.url, value)).toMatchObject({ state: 'pending', attempts: 0 });
    }
  }, 60_000);
});

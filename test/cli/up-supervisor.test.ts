/**
 * The process tree of `blockrunner up`, with small stand-in processes for the manager and the
 * workers (real processes, real signals, a real /readyz on 127.0.0.1) and tiny timeouts.
 */

import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChildSpec, type SupervisorOptions, UpSupervisor } from '../../cli/up-supervisor.js';
import { ConfigError } from '../../shared/errors.js';
import { processExists } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Answers /readyz 503 until READY_AFTER_MS passed, then 200, and says it listens as the real
 * manager does (manager/main.ts); a port it cannot take ends it with code 1, as it would the
 * real one. Exits 130 on SIGINT, 143 on SIGTERM.
 */
const FAKE_MANAGER = `
const started = Date.now();
const server = require('node:http')
  .createServer((req, res) => {
    res.statusCode = Date.now() - started >= Number(process.env.READY_AFTER_MS) ? 200 : 503;
    res.end();
  })
  .on('error', () => process.exit(1))
  .listen(Number(process.env.FAKE_PORT), '127.0.0.1', () => {
    process.send({ type: 'listening', url: 'http://127.0.0.1:' + process.env.FAKE_PORT });
  });
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(s === 'SIGINT' ? 130 : 143));
if (process.env.EXIT_AT_ONCE) process.exit(4);
`;

/**
 * Runs until signalled (or DIE_AFTER_MS, then exits DIE_CODE, default 3); with IGNORE_SIGNALS it
 * must be killed. Says it is
 * connected at once, unless NEVER_CONNECTS (or ONLY_FIRST_CONNECTS and it is not the slot's first
 * process; LATER_EXIT: exits with that code instead); appends its pid to READY_FILE once its
 * handlers are set.
 */
const FAKE_WORKER = `
setInterval(() => {}, 1000000);
const dieCode = Number(process.env.DIE_CODE ?? 3);
if (process.env.DIE_AFTER_MS) setTimeout(() => process.exit(dieCode), Number(process.env.DIE_AFTER_MS));
for (const s of ['SIGINT', 'SIGTERM']) {
  process.on(s, () => { if (!process.env.IGNORE_SIGNALS) process.exit(s === 'SIGINT' ? 130 : 143); });
}
const fs = require('node:fs');
const earlier = fs.existsSync(process.env.READY_FILE);
fs.appendFileSync(process.env.READY_FILE, process.pid + '\\n');
if (earlier && process.env.LATER_EXIT) process.exit(Number(process.env.LATER_EXIT));
const connects = !process.env.NEVER_CONNECTS && !(earlier && process.env.ONLY_FIRST_CONNECTS);
if (connects) process.send({ type: 'connected' });
`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function spec(name: string, script: string, env: Record<string, string>): ChildSpec {
  return { name, command: process.execPath, args: ['-e', script], env: { ...process.env, ...env } };
}

const supervisors: UpSupervisor[] = [];
const dirs: string[] = [];

async function setup(
  options: {
    manager?: Record<string, string>;
    workers?: Record<string, string>[];
  } & Omit<Partial<SupervisorOptions>, 'manager' | 'workers'> = {},
) {
  const port = await freePort();
  const { manager = {}, workers = [{}, {}], ...rest } = options;
  const dir = await mkdtemp(join(tmpdir(), 'up-supervisor-'));
  dirs.push(dir);
  const readyFiles = workers.map((_, i) => join(dir, `worker-${i + 1}`));
  let ready = 0;
  const notices: string[] = [];
  const supervisor = new UpSupervisor({
    manager: spec('manager', FAKE_MANAGER, {
      FAKE_PORT: String(port),
      READY_AFTER_MS: '0',
      ...manager,
    }),
    workers: workers.map((env, i) =>
      spec(`worker ${i + 1}`, FAKE_WORKER, { READY_FILE: readyFiles[i] ?? '', ...env }),
    ),
    readyUrl: `http://127.0.0.1:${port}/readyz`,
    readyTimeoutMs: 10_000,
    readyPollMs: 20,
    workerStopMs: 5_000,
    managerStopMs: 5_000,
    stdio: 'ignore',
    onReady: () => {
      ready++;
    },
    onNotice: (line) => notices.push(line),
    ...rest,
  });
  supervisors.push(supervisor);
  const running = supervisor.run();
  // Keeps a rejection the test has not awaited yet from being reported as unhandled.
  running.catch(() => undefined);
  const readyUrl = `http://127.0.0.1:${port}/readyz`;
  return {
    supervisor,
    running,
    port,
    notices,
    readyCount: () => ready,
    /** The pids of every process each worker slot has run, oldest first. */
    workerPids: () =>
      readyFiles.map((file) =>
        existsSync(file)
          ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(Number)
          : [],
      ),
    /** Every worker started and has its signal handlers in place. */
    workersUp: () =>
      waitFor(() => ready === 1 && readyFiles.every((file) => existsSync(file)), {
        timeoutMs: 10_000,
        intervalMs: 10,
        message: 'every worker ready',
      }),
    /** The manager stand-in answers (503 or 200), so its handlers are in place. */
    managerUp: () =>
      waitFor(
        () =>
          fetch(readyUrl).then(
            () => true,
            () => false,
          ),
        { timeoutMs: 10_000, intervalMs: 10, message: 'the manager stand-in to answer' },
      ),
  };
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  const left = supervisors.flatMap((s) => s.pids).filter(processExists);
  for (const supervisor of supervisors) supervisor.killAll();
  supervisors.length = 0;
  expect(left, 'processes left running').toEqual([]);
});

describe('UpSupervisor', () => {
  it('waits for /readyz, starts the workers, and forwards a stop signal to all of them', async () => {
    const { supervisor, running, workersUp } = await setup({ manager: { READY_AFTER_MS: '150' } });
    await workersUp();
    expect(supervisor.pids).toHaveLength(3);
    supervisor.stop('SIGINT');
    const exits = await running;
    expect(exits.map((e) => [e.name, e.code, e.killed])).toEqual([
      ['manager', 130, false],
      ['worker 1', 130, false],
      ['worker 2', 130, false],
    ]);
  });

  it('stops everything and fails when a worker dies', async () => {
    const { supervisor, running } = await setup({ workers: [{}, { DIE_AFTER_MS: '100' }] });
    await expect(running).rejects.toThrow('worker 2 exited with code 3');
    expect(supervisor.pids.filter(processExists)).toEqual([]);
  });

  it('fails when the manager exits before it is ready, starting no worker', async () => {
    const { supervisor, running, readyCount } = await setup({
      manager: { READY_AFTER_MS: '100000', EXIT_AT_ONCE: '1' },
    });
    await expect(running).rejects.toThrow('manager exited with code 4 before it was ready');
    expect(supervisor.pids).toHaveLength(1);
    expect(readyCount()).toBe(0);
  });

  it('fails when the manager is not ready in time, and stops it', async () => {
    const { supervisor, running } = await setup({
      manager: { READY_AFTER_MS: '100000' },
      readyTimeoutMs: 200,
    });
    await expect(running).rejects.toThrow(
      /manager not ready at http:\/\/127\.0\.0\.1:\d+\/readyz within 200 ms/,
    );
    expect(supervisor.pids.filter(processExists)).toEqual([]);
  });

  it('a stop while waiting for the manager stops it and starts no worker', async () => {
    const { supervisor, running, managerUp } = await setup({
      manager: { READY_AFTER_MS: '100000' },
    });
    await managerUp();
    supervisor.stop('SIGTERM');
    const exits = await running;
    expect(exits.map((e) => [e.name, e.code])).toEqual([['manager', 143]]);
  });

  it('kills a child that does not stop in time', async () => {
    const { supervisor, running, workersUp } = await setup({
      workers: [{ IGNORE_SIGNALS: '1' }],
      workerStopMs: 200,
    });
    await workersUp();
    supervisor.stop('SIGTERM');
    const exits = await running;
    expect(exits.map((e) => [e.name, e.signal ?? e.code, e.killed])).toEqual([
      ['manager', 143, false],
      ['worker 1', 'SIGKILL', true],
    ]);
  });

  it('a second stop kills at once', async () => {
    const { supervisor, running, workersUp } = await setup({
      workers: [{ IGNORE_SIGNALS: '1' }],
      workerStopMs: 60_000,
    });
    await workersUp();
    supervisor.stop('SIGINT');
    supervisor.stop('SIGINT');
    const exits = await running;
    expect(exits.every((e) => e.signal === 'SIGKILL' && e.killed)).toBe(true);
  });

  it('does not take another process answering on its port for its manager', async () => {
    // Something else holds the port and answers 200: the stand-in cannot listen and exits 1.
    const port = await freePort();
    const squatter = createServer((_req, res) => res.end()).listen(port, '127.0.0.1');
    await new Promise((resolve) => squatter.once('listening', resolve));
    try {
      const { supervisor, running, readyCount } = await setup({
        manager: { FAKE_PORT: String(port) },
        readyUrl: `http://127.0.0.1:${port}/readyz`,
      });
      await expect(running).rejects.toThrow('manager exited with code 1 before it was ready');
      expect(readyCount()).toBe(0);
      expect(supervisor.pids).toHaveLength(1);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('is ready only once every worker said it is connected', async () => {
    const { supervisor, running, readyCount } = await setup({
      workers: [{}, { NEVER_CONNECTS: '1' }],
      // Bounds the stand-in manager's start too: ample for a process to start on a busy machine.
      readyTimeoutMs: 3_000,
    });
    await expect(running).rejects.toThrow('workers not connected to the manager within 3000 ms');
    expect(readyCount()).toBe(0);
    expect(supervisor.pids.filter(processExists)).toEqual([]);
  });

  it('fails without a banner when a worker exits before it connected', async () => {
    const { running, readyCount } = await setup({
      workers: [{ NEVER_CONNECTS: '1', DIE_AFTER_MS: '50' }],
    });
    await expect(running).rejects.toThrow(
      'worker 1 exited with code 3 before the workers connected',
    );
    expect(readyCount()).toBe(0);
  });

  it('a worker that refuses its configuration before it connected makes it a ConfigError', async () => {
    const { running, readyCount } = await setup({
      workers: [{ NEVER_CONNECTS: '1', DIE_AFTER_MS: '50', DIE_CODE: '2' }],
    });
    const failure = await running.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toBe(
      'worker 1 refused its configuration (exit 2; see its line above)',
    );
    expect(readyCount()).toBe(0);
  });

  it('reload() replaces the workers one at a time, and keeps running', async () => {
    const { supervisor, running, workersUp, workerPids, notices } = await setup();
    await workersUp();
    const before = workerPids().map((pids) => pids[0] as number);
    supervisor.reload();
    await waitFor(() => notices.includes('reload done: every worker replaced'), {
      timeoutMs: 10_000,
      message: 'the reload to finish',
    });
    const after = workerPids();
    expect(after.map((pids) => pids.length)).toEqual([2, 2]);
    expect(before.filter(processExists)).toEqual([]);
    expect(after.map((pids) => processExists(pids[1] as number))).toEqual([true, true]);
    // One at a time: worker 2's successor started only after worker 1's predecessor ended.
    expect(notices).toEqual([
      'reloading: replacing 2 workers one at a time',
      `worker 1 replaced (pid ${before[0]} -> pid ${after[0]?.[1]})`,
      `worker 2 replaced (pid ${before[1]} -> pid ${after[1]?.[1]})`,
      'reload done: every worker replaced',
    ]);
    supervisor.stop('SIGTERM');
    const exits = await running;
    expect(exits.filter((e) => e.killed)).toEqual([]);
    expect(supervisor.pids.filter(processExists)).toEqual([]);
  });

  it('a reload whose new worker never connects stops it and keeps the old one', async () => {
    const { supervisor, running, workersUp, workerPids, notices } = await setup({
      workers: [{ ONLY_FIRST_CONNECTS: '1' }],
      readyTimeoutMs: 3_000,
    });
    await workersUp();
    supervisor.reload();
    await waitFor(() => notices.length === 2, { timeoutMs: 15_000, message: 'the reload' });
    expect(notices[1]).toBe(
      'reload stopped: the new worker 1 did not connect within 3000 ms; the old one keeps running',
    );
    const [original, successor] = workerPids()[0] ?? [];
    expect(processExists(original as number)).toBe(true);
    expect(processExists(successor as number)).toBe(false);
    supervisor.stop('SIGTERM');
    const exits = await running;
    expect(exits.filter((e) => e.killed)).toEqual([]);
  });

  it('a reload whose new worker exits (a handler that cannot load) keeps the old one', async () => {
    const { supervisor, running, workersUp, workerPids, notices } = await setup({
      workers: [{ LATER_EXIT: '2' }],
    });
    await workersUp();
    supervisor.reload();
    await waitFor(() => notices.length === 2, { timeoutMs: 15_000, message: 'the reload' });
    expect(notices[1]).toBe(
      'reload stopped: the new worker 1 exited with code 2 before it connected; the old one keeps running',
    );
    const [original] = workerPids()[0] ?? [];
    expect(processExists(original as number)).toBe(true);
    supervisor.stop('SIGTERM');
    const exits = await running;
    expect(exits.filter((e) => e.killed)).toEqual([]);
  });
});

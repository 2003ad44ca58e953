/**
 * The process tree of `blockrunner up`, with small stand-in processes for the manager and the
 * workers (real processes, real signals, a real /readyz on 127.0.0.1) and tiny timeouts.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ChildSpec, type SupervisorOptions, UpSupervisor } from '../../cli/up-supervisor.js';
import { waitFor } from '../helpers/wait.js';

/** Answers /readyz 503 until READY_AFTER_MS passed, then 200; exits 130 on SIGINT, 143 on SIGTERM. */
const FAKE_MANAGER = `
const started = Date.now();
const server = require('node:http')
  .createServer((req, res) => {
    res.statusCode = Date.now() - started >= Number(process.env.READY_AFTER_MS) ? 200 : 503;
    res.end();
  })
  .listen(Number(process.env.FAKE_PORT), '127.0.0.1');
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(s === 'SIGINT' ? 130 : 143));
if (process.env.EXIT_AT_ONCE) process.exit(4);
`;

/** Runs until signalled (or DIE_AFTER_MS); with IGNORE_SIGNALS it must be killed. */
const FAKE_WORKER = `
setInterval(() => {}, 1000000);
if (process.env.DIE_AFTER_MS) setTimeout(() => process.exit(3), Number(process.env.DIE_AFTER_MS));
for (const s of ['SIGINT', 'SIGTERM']) {
  process.on(s, () => { if (!process.env.IGNORE_SIGNALS) process.exit(s === 'SIGINT' ? 130 : 143); });
}
// Tells the test its signal handlers are in place.
require('node:fs').writeFileSync(process.env.READY_FILE, '');
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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
    readyCount: () => ready,
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
  const left = supervisors.flatMap((s) => s.pids).filter(alive);
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
    expect(supervisor.pids.filter(alive)).toEqual([]);
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
    expect(supervisor.pids.filter(alive)).toEqual([]);
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
});

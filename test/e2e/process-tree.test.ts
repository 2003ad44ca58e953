/**
 * The process trees of `blockrunner up` and `worker --processes 2` (docs/operations.md, "Process
 * trees"), with real processes: children never outlive a parent killed with SIGKILL (gone within
 * 2 s, the port free); `up` checks its settings and its port before it starts anything, says it
 * is ready only once its workers are connected to its own manager, and replaces its workers one
 * at a time on SIGHUP. Child pids come from /proc/<pid>/task/<tid>/children, as `ps` finds them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import {
  cliPath,
  exitWithin,
  type ManagerProcess,
  spawnTracked,
  startManager,
  stopAll,
  type TrackedProcess,
} from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/** The promise: every child gone this soon after its parent was killed. */
const ORPHAN_DEADLINE_MS = 2_000;
const BANNER = 'blockrunner up: manager at';

let db: TestDatabase;
const started: number[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});

afterEach(async () => {
  await stopAll();
  // Whatever a failed test left behind (a child that outlived its parent) must not linger.
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

afterAll(async () => {
  await db?.drop();
});

/**
 * Whether `pid` still runs. An orphan that exited stays a zombie until whichever process adopted
 * it reaps it, which some init processes do only every second or two: it has exited all the
 * same, so state Z counts as gone.
 */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The direct children of `pid`, from every thread's children list. */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return [];
  }
}

/** Whether `pid` runs `blockrunner <command>`. */
function runs(pid: number, command: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(command);
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server: Server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** SIGKILL to `parent`, then every pid of `children` must be gone within the deadline. */
async function killParentAndWatch(parent: TrackedProcess, children: number[]): Promise<number> {
  expect(children.length).toBeGreaterThan(0);
  expect(children.every(alive)).toBe(true);
  started.push(...children);
  const killedAt = Date.now();
  await parent.kill();
  await waitFor(() => children.every((pid) => !alive(pid)), {
    timeoutMs: ORPHAN_DEADLINE_MS,
    intervalMs: 20,
    message: `children ${children.join(', ')} of killed pid ${parent.pid} to exit`,
  });
  return Date.now() - killedAt;
}

function startUp(env: Record<string, string>, args: string[] = []): TrackedProcess {
  return spawnTracked(
    process.execPath,
    [cliPath(), 'up', '--workers', '2', ...args],
    { DATABASE_URL: db.url, ...env },
    'blockrunner up',
  );
}

const isBanner = (e: Record<string, unknown>) => String(e.text ?? '').startsWith(BANNER);

describe('worker --processes 2', () => {
  let manager: ManagerProcess;

  beforeAll(async () => {
    manager = await startManager({ databaseUrl: db.url });
  });

  afterAll(async () => {
    await manager?.stop();
  });

  it('children exit within 2 s of a SIGKILL of the supervisor', async () => {
    const supervisor = spawnTracked(
      process.execPath,
      [cliPath(), 'worker', '--processes', '2'],
      { BLOCKRUNNER_MANAGER_URL: manager.wsUrl, BLOCKRUNNER_WORKER_NAME: 'orphan' },
      'supervisor',
    );
    await waitFor(
      async () => {
        const { body } = await api(manager.url).get<{ workers: unknown[] }>('/v1/workers');
        return body.workers.length === 2;
      },
      { timeoutMs: 20_000, message: 'both children connected' },
    );
    const children = childrenOf(supervisor.pid);
    expect(children).toHaveLength(2);
    const tookMs = await killParentAndWatch(supervisor, children);
    expect(tookMs).toBeLessThan(ORPHAN_DEADLINE_MS);
    // They said goodbye: the manager lists no worker of theirs.
    await waitFor(
      async () => {
        const { body } = await api(manager.url).get<{ workers: unknown[] }>('/v1/workers');
        return body.workers.length === 0;
      },
      { timeoutMs: 5_000, message: 'the manager to drop both links' },
    );
  });
});

describe('blockrunner up', () => {
  it('refuses a bad worker setting with exit 2 and one line, starting nothing', async () => {
    const port = await freePort();
    const up = startUp({ PORT: String(port), BLOCKRUNNER_CONCURRENCY: 'abc' });
    expect(await exitWithin(up, 10_000)).toEqual({ code: 2, signal: null });
    expect(up.logs()).toHaveLength(1);
    expect(up.logs()[0]).toMatch(/^blockrunner: .*BLOCKRUNNER_CONCURRENCY/);
    expect(await portFree(port)).toBe(true);
  });

  it('exits 2 without a banner when its workers cannot load the handler', async () => {
    const port = await freePort();
    const up = startUp({ PORT: String(port), BLOCKRUNNER_HANDLER: './no-such-handler.mjs' });
    expect(await exitWithin(up, 30_000)).toEqual({ code: 2, signal: null });
    const text = up.logs().filter((line) => !line.startsWith('{'));
    expect(
      text.some((line) => line.startsWith('blockrunner: BLOCKRUNNER_HANDLER: cannot load')),
    ).toBe(true);
    expect(text.at(-1)).toMatch(/^blockrunner: worker \d refused its configuration/);
    expect(up.logs().some((line) => line.startsWith(BANNER))).toBe(false);
    expect(await portFree(port)).toBe(true);
  });

  it('refuses a port in use with one line and no banner, starting nothing', async () => {
    const port = await freePort();
    const holder = createServer().listen(port, '127.0.0.1');
    await new Promise((resolve) => holder.once('listening', resolve));
    try {
      const up = startUp({ PORT: String(port) });
      expect(await exitWithin(up, 10_000)).toEqual({ code: 1, signal: null });
      expect(up.logs()).toEqual([
        `blockrunner up: port ${port} is in use on 127.0.0.1 (PORT): stop what listens there, or set PORT or --port`,
      ]);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('is ready with its workers connected, replaces them on SIGHUP, and leaves no orphan on SIGKILL', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const up = startUp({ PORT: String(port) });
    const banner = await up.waitForLog(isBanner, 30_000);
    expect(banner.text).toBe(`${BANNER} ${url}, 2 noop workers; Ctrl-C stops all`);
    const watch = await up.waitForLog((e) => String(e.text ?? '').includes('watch:'));
    expect(String(watch.text).trim()).toBe(`watch:     npm run cli -- status --watch --url ${url}`);
    // Ready means it: both workers are connected when the banner is out, no wait needed.
    const listed = await api(url).get<{ workers: { name: string; id: string }[] }>('/v1/workers');
    expect(listed.body.workers.map((w) => w.name).sort()).toEqual(['up-worker-1', 'up-worker-2']);

    const children = childrenOf(up.pid);
    const managerPid = children.find((pid) => runs(pid, 'manager'));
    const workerPids = children.filter((pid) => runs(pid, 'worker'));
    expect(managerPid).toBeDefined();
    expect(workerPids).toHaveLength(2);
    process.kill(up.pid, 'SIGHUP');
    await up.waitForLog((e) => e.text === 'blockrunner up: reload done: every worker replaced');
    expect(workerPids.filter(alive)).toEqual([]);
    const now = childrenOf(up.pid);
    expect(now).toHaveLength(3);
    expect(now).toContain(managerPid);
    const after = await api(url).get<{ workers: { name: string; id: string }[] }>('/v1/workers');
    expect(after.body.workers.map((w) => w.name).sort()).toEqual(['up-worker-1', 'up-worker-2']);
    const oldIds = new Set(listed.body.workers.map((w) => w.id));
    expect(after.body.workers.filter((w) => oldIds.has(w.id))).toEqual([]);

    await killParentAndWatch(up, now);
    expect(await portFree(port)).toBe(true);
  });
});

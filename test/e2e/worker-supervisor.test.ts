/**
 * `blockrunner worker --processes 2` against a real manager: a child killed with SIGKILL is
 * replaced and the run completes; children retire at BLOCKRUNNER_MAX_JOBS and are replaced;
 * SIGTERM to the supervisor stops every child and exits 0. Child pids come from the
 * supervisor's own log lines, which is how an operator finds them too.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import {
  type LogEntry,
  logEntries,
  type ManagerProcess,
  processExists,
  spawnTracked,
  startManager,
  stopAll,
  type TrackedProcess,
} from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

const cli = join(packageRoot(), 'dist', 'cli', 'main.js');
/** The supervisor's lines name a child's pid as `childPid`. */
const started = (entry: LogEntry) =>
  entry.msg === 'child started' && typeof entry.childPid === 'number';

let db: TestDatabase | undefined;
let manager: ManagerProcess;
const supervisors: TrackedProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
});

afterAll(async () => {
  await stopAll();
  // A supervisor that had to be killed leaves its children: none may outlive the test.
  for (const pid of supervisors.flatMap(childPids))
    if (processExists(pid)) process.kill(pid, 'SIGKILL');
  await db?.drop();
});

function startSupervisor(args: string[], env: Record<string, string>): TrackedProcess {
  const supervisor = spawnTracked(
    process.execPath,
    [cli, 'worker', ...args],
    { BLOCKRUNNER_MANAGER_URL: manager.wsUrl, BLOCKRUNNER_WORKER_NAME: 'sup', ...env },
    'supervisor',
  );
  supervisors.push(supervisor);
  return supervisor;
}

/** The JSON lines of the supervisor and its children, which share its stdout. */

function childPids(supervisor: TrackedProcess): number[] {
  return logEntries(supervisor)
    .filter(started)
    .map((entry) => entry.childPid as number);
}

type Workers = { workers: { id: string; name: string; capacity: number; done: number }[] };

async function workers(): Promise<Workers['workers']> {
  const { body } = await api(manager.url).get('/v1/workers');
  return [...(body as Workers).workers].sort((a, b) => a.name.localeCompare(b.name));
}

function waitForWorkers(names: string[], message: string) {
  return waitFor(
    async () => {
      const list = await workers();
      return list.map((w) => w.name).join() === names.join() ? list : undefined;
    },
    { timeoutMs: 20_000, message },
  );
}

/** SIGTERM: exit 0, and every child it ever started is gone. */
async function stopCleanly(supervisor: TrackedProcess): Promise<void> {
  const pids = childPids(supervisor);
  expect(await supervisor.stop('SIGTERM', 20_000)).toEqual({ code: 0, signal: null });
  expect(pids.filter(processExists)).toEqual([]);
  const stopped = await supervisor.waitForLog((e) => e.msg === 'supervisor stopped');
  expect(stopped.code).toBe(0);
}

it('replaces a child killed with SIGKILL, finishes the run, and stops cleanly', async () => {
  // Flags, not variables: the children must get them too (capacity 4 = concurrency 4 + 0).
  const supervisor = startSupervisor(
    ['--processes', '2', '--concurrency', '4', '--prefetch', '0'],
    {
      BLOCKRUNNER_HANDLER: 'sleep',
      BLOCKRUNNER_SLEEP_MS: '5',
    },
  );
  const before = await waitForWorkers(['sup-1', 'sup-2'], 'two children connected');
  expect(before.map((w) => w.capacity)).toEqual([4, 4]);

  await api(manager.url).post('/v1/queues/default/heights', { from: 0, to: 4999 });
  await waitFor(async () => (await workers()).find((w) => w.name === 'sup-1' && w.done > 200), {
    timeoutMs: 20_000,
    message: 'sup-1 makes progress',
  });
  const first = await supervisor.waitForLog((e) => started(e) && e.child === 'sup-1');
  const victim = first.childPid as number;
  process.kill(victim, 'SIGKILL');

  const crash = await supervisor.waitForLog((e) => e.msg === 'child crashed, restarting');
  expect(crash).toMatchObject({ child: 'sup-1', childPid: victim, code: null, signal: 'SIGKILL' });
  const replacement = await supervisor.waitForLog(
    (e) => started(e) && e.child === 'sup-1' && e.childPid !== victim,
  );
  expect(processExists(replacement.childPid as number)).toBe(true);
  const oldId = before.find((w) => w.name === 'sup-1')?.id;
  await waitFor(
    async () => {
      const list = await workers();
      return list.length === 2 && list.every((w) => w.id !== oldId);
    },
    { timeoutMs: 20_000, message: 'the replacement of sup-1 connected, the old one gone' },
  );

  const summary = await waitForQueue(manager.url, (s) => s.done === 5000, 'all 5,000 done', {
    timeoutMs: 45_000,
  });
  expect(summary).toMatchObject({ failed: 0, retrying: 0, watermark: 4999 });
  await stopCleanly(supervisor);
}, 90_000);

it('retires children at BLOCKRUNNER_MAX_JOBS, replaces them, and stops cleanly', async () => {
  const supervisor = startSupervisor(['--processes', '2'], {
    BLOCKRUNNER_QUEUES: 'retire',
    BLOCKRUNNER_MAX_JOBS: '500',
  });
  await waitForWorkers(['sup-1', 'sup-2'], 'two children connected');
  await api(manager.url).post('/v1/queues/retire/heights', { from: 0, to: 1999 });
  const summary = await waitForQueue(manager.url, (s) => s.done === 2000, 'all 2,000 done', {
    queue: 'retire',
  });
  expect(summary).toMatchObject({ failed: 0, retrying: 0, watermark: 1999 });

  // Each retired child ran exactly 500 heights, and the two running ones fewer than 500 each,
  // so 2,000 heights took at least three retirements. A child logs its retirement as its 500th
  // height starts, and the line reaches this process through the supervisor's output: the last
  // one may still be on its way when the summary reads every height done.
  const retirements = () =>
    logEntries(supervisor).filter((e) => e.msg === 'worker retiring: BLOCKRUNNER_MAX_JOBS reached');
  await waitFor(() => retirements().length >= 3, {
    timeoutMs: 10_000,
    message: 'three retirement lines',
  }).catch(() => undefined);
  const retiring = retirements();
  expect(retiring.length).toBeGreaterThanOrEqual(3);
  expect(retiring.every((e) => e.jobs === 500)).toBe(true);
  await waitFor(
    () =>
      logEntries(supervisor).filter((e) => e.msg === 'child retired, restarting').length >=
      retiring.length,
    { timeoutMs: 10_000, message: 'a replacement for every retired child' },
  );
  expect(logEntries(supervisor).some((e) => e.msg === 'child crashed, restarting')).toBe(false);
  await stopCleanly(supervisor);
}, 90_000);

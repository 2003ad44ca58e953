/**
 * A refused worker token is a configuration error, not an outage (docs/protocol.md,
 * "Connecting"): against a real manager with BLOCKRUNNER_WORKER_TOKEN, a worker with a wrong
 * token exits 2 after three refused upgrades with one line naming the variable, and a supervisor
 * of such workers exits 2 without restarting them. A manager that cannot be reached is retried
 * for as long as it takes.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TOKEN_REFUSALS } from '../../worker/reconnect.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/ports.js';
import {
  cliPath,
  exitWithin,
  logEntries,
  type ManagerProcess,
  processExists,
  spawnTracked,
  startManager,
  startWorker,
  stopAll,
  type TrackedProcess,
} from '../helpers/processes.js';

const workerToken = 'worker-secret-5d20c1';
let db: TestDatabase;
let manager: ManagerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({
    databaseUrl: db.url,
    env: { BLOCKRUNNER_WORKER_TOKEN: workerToken },
  });
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

function stderrLines(tracked: TrackedProcess): string[] {
  return tracked.logs().filter((line) => !line.startsWith('{'));
}

it('a worker whose token is refused exits 2 after three tries, naming BLOCKRUNNER_WORKER_TOKEN', async () => {
  const worker = await startWorker({
    managerUrl: manager.wsUrl,
    env: { BLOCKRUNNER_WORKER_TOKEN: 'wrong-token' },
    waitForConnected: false,
  });
  expect(await exitWithin(worker, 20_000)).toEqual({ code: 2, signal: null });
  const lines = stderrLines(worker);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^blockrunner: BLOCKRUNNER_WORKER_TOKEN was refused by the manager/);
  // The first refusals were retried with backoff, the last one was not.
  const retried = logEntries(worker).filter(
    (e) => e.msg === 'cannot connect to the manager, retrying',
  );
  expect(retried.map((e) => e.status)).toEqual(Array(TOKEN_REFUSALS - 1).fill(401));
  expect(worker.logs().join('\n')).not.toContain(workerToken);
});

it('a supervisor whose children are refused exits 2 and restarts none', async () => {
  const supervisor = spawnTracked(
    process.execPath,
    [cliPath(), 'worker', '--processes', '2'],
    {
      BLOCKRUNNER_MANAGER_URL: manager.wsUrl,
      BLOCKRUNNER_WORKER_TOKEN: 'wrong-token',
      BLOCKRUNNER_WORKER_NAME: 'refused',
    },
    'supervisor',
  );
  expect(await exitWithin(supervisor, 30_000)).toEqual({ code: 2, signal: null });
  const entries = logEntries(supervisor);
  const started = entries.filter((e) => e.msg === 'child started');
  expect(started.map((e) => e.child).sort()).toEqual(['refused-1', 'refused-2']);
  expect(entries.some((e) => e.msg === 'child crashed, restarting')).toBe(false);
  expect(entries.find((e) => e.msg === 'supervisor stopped')?.code).toBe(2);
  expect(started.map((e) => e.childPid as number).filter(processExists)).toEqual([]);
  expect(stderrLines(supervisor).some((line) => line.includes('BLOCKRUNNER_WORKER_TOKEN'))).toBe(
    true,
  );
});

it('a manager that cannot be reached stays retried', async () => {
  // Nothing listens on this port: every attempt fails to connect, none is a refusal.
  const port = await freePort();
  const worker = await startWorker({
    managerUrl: `ws://127.0.0.1:${port}/v1/ws`,
    waitForConnected: false,
  });
  const fifth = await worker.waitForLog(
    (e) => e.msg === 'cannot connect to the manager, retrying' && Number(e.attempt) >= 5,
    20_000,
  );
  expect(fifth.status).toBeUndefined();
  expect(worker.exitStatus()).toBeUndefined();
  expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
});

/**
 * A new handler version without lost work (docs/workers.md, "Hot swap"): during a run of
 * `worker --processes 2` against a real manager, the handler module is rewritten on disk and the
 * supervisor gets SIGHUP. Every child is replaced, one at a time, by a process that imports the
 * new version; every height is done, none failed an attempt, and both versions ran heights.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import {
  cliPath,
  logEntries,
  type ManagerProcess,
  processExists,
  spawnTracked,
  startManager,
  stopAll,
} from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

const HEIGHTS = 8_000;

/** Sleeps a little, then records its version, the height and its pid, one line each. */
function handlerSource(version: string): string {
  return `
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
export default async function handle(height, ctx) {
  await sleep(10, undefined, { signal: ctx.signal });
  appendFileSync(process.env.HOT_SWAP_LOG, '${version} ' + height + ' ' + process.pid + '\\n');
}
`;
}

let db: TestDatabase;
let manager: ManagerProcess;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
  dir = await mkdtemp(join(tmpdir(), 'blockrunner-hot-swap-'));
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function failedAttempts(): Promise<number> {
  const response = await fetch(`${manager.url}/metrics`);
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('blockrunner_attempts_failed_total'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

it('SIGHUP replaces every child during a run: nothing lost, no attempt counted, the new handler runs', async () => {
  const handler = join(dir, 'handler.mjs');
  const heightLog = join(dir, 'heights.log');
  await writeFile(handler, handlerSource('v1'));
  const supervisor = spawnTracked(
    process.execPath,
    [cliPath(), 'worker', '--processes', '2', '--concurrency', '4', '--prefetch', '8'],
    {
      BLOCKRUNNER_MANAGER_URL: manager.wsUrl,
      BLOCKRUNNER_WORKER_NAME: 'swap',
      BLOCKRUNNER_HANDLER: handler,
      HOT_SWAP_LOG: heightLog,
    },
    'supervisor',
  );
  await waitFor(
    async () => {
      const { body } = await api(manager.url).get<{ workers: unknown[] }>('/v1/workers');
      return body.workers.length === 2;
    },
    { timeoutMs: 20_000, message: 'both children connected' },
  );
  const originals = logEntries(supervisor)
    .filter((e) => e.msg === 'child started')
    .map((e) => e.childPid as number);
  expect(originals).toHaveLength(2);

  await api(manager.url).post('/v1/queues/default/heights', { from: 0, to: HEIGHTS - 1 });
  await waitForQueue(manager.url, (s) => s.done >= 500, 'a run under way');
  await writeFile(handler, handlerSource('v2'));
  process.kill(supervisor.pid, 'SIGHUP');

  await supervisor.waitForLog((e) => e.msg === 'reload done: every child replaced', 60_000);
  const replaced = logEntries(supervisor).filter((e) => e.msg === 'child replaced');
  expect(replaced.map((e) => e.childPid).sort()).toEqual([...originals].sort());
  expect(replaced.map((e) => e.code)).toEqual([0, 0]);
  expect(originals.filter(processExists)).toEqual([]);
  const successors = replaced.map((e) => e.successorPid as number);
  expect(successors.every(processExists)).toBe(true);
  // One at a time: the second successor started only after the first old child ended.
  const log = supervisor.logs().join('\n');
  const firstReplaced = log.indexOf('"msg":"child replaced"');
  const secondStart = log.indexOf(`"childPid":${successors[1]}`);
  expect(firstReplaced).toBeGreaterThan(-1);
  expect(secondStart).toBeGreaterThan(firstReplaced);

  const summary = await waitForQueue(
    manager.url,
    (s) => s.done === HEIGHTS,
    `all ${HEIGHTS} heights done`,
    { timeoutMs: 60_000 },
  );
  expect(summary).toMatchObject({ failed: 0, retrying: 0, pending: 0, leased: 0 });
  expect(summary.watermark).toBe(HEIGHTS - 1);
  expect(await failedAttempts()).toBe(0);

  // Each height ran (at least once); the old processes ran v1, the new ones v2, and both ran.
  const lines = (await readFile(heightLog, 'utf8')).trim().split('\n');
  const ran = new Set(lines.map((line) => Number(line.split(' ')[1])));
  expect(ran.size).toBe(HEIGHTS);
  const byVersion = (version: string) =>
    new Set(lines.filter((l) => l.startsWith(`${version} `)).map((l) => Number(l.split(' ')[2])));
  expect([...byVersion('v1')].sort()).toEqual([...originals].sort());
  expect([...byVersion('v2')].sort()).toEqual([...successors].sort());

  expect(await supervisor.stop('SIGTERM', 20_000)).toEqual({ code: 0, signal: null });
}, 120_000);

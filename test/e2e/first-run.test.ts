/**
 * A first run as a new user makes it (`npm start`, which is `blockrunner up`): no DATABASE_URL,
 * so the manager runs on the embedded database; two noop workers drain a range; Ctrl-C stops
 * everything with exit code 0; a second start on the same data directory finds the state kept.
 * While the first runs, a second manager and a second up on its data directory are refused.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { LOCK_FILE } from '../../manager/store/data-dir-lock.js';
import { packageRoot } from '../../shared/package-root.js';
import { api } from '../helpers/http.js';
import { exitWithin, spawnTracked, stopAll, type TrackedProcess } from '../helpers/processes.js';
import { queueSummary, waitForQueue } from '../helpers/queues.js';

const CLI = join(packageRoot(), 'dist', 'cli', 'main.js');
/**
 * Creating a new embedded database takes 5 to 15 s on this machine alone, and 30 s and more
 * while other test files load both cores; a reopen takes a second or a few.
 */
const READY_TIMEOUT_MS = 120_000;
/** up stops workers, then the manager (its drain time plus a margin). */
const STOP_TIMEOUT_MS = 30_000;

let dataDir: string | undefined;

afterAll(async () => {
  await stopAll();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** `blockrunner up` as `npm start` runs it, with no DATABASE_URL; resolves once it printed its URL. */
async function startUp(dir: string, port: number): Promise<{ up: TrackedProcess; text: string }> {
  const up = spawnTracked(
    process.execPath,
    [CLI, 'up', '--ready-timeout-ms', String(READY_TIMEOUT_MS)],
    { BLOCKRUNNER_DATA_DIR: dir, PORT: String(port) },
    'blockrunner up',
  );
  const line = await up.waitForLog(
    (entry) =>
      typeof entry.text === 'string' && entry.text.startsWith('blockrunner up: manager at'),
    READY_TIMEOUT_MS,
  );
  return { up, text: String(line.text) };
}

// Two starts and two stops, each bounded above; a new embedded database is the slow part.
const timeout = 2 * (READY_TIMEOUT_MS + STOP_TIMEOUT_MS);
it('runs with no PostgreSQL configured, stops on Ctrl-C and keeps its state', {
  timeout,
}, async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'blockrunner-first-run-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const first = await startUp(dataDir, port);
  expect(first.text).toBe(`blockrunner up: manager at ${url}, 2 noop workers; Ctrl-C stops all`);
  const curl = await first.up.waitForLog((e) => String(e.text ?? '').includes('curl -X POST'));
  expect(curl.text).toContain(`curl -X POST ${url}/v1/queues/default/heights`);
  // The manager says it runs on the embedded database, served on loopback.
  const notice = await first.up.waitForLog((e) => e.level === 40 && typeof e.dataDir === 'string');
  expect(notice.dataDir).toBe(dataDir);
  expect(String(notice.msg)).toContain('set DATABASE_URL');
  const starting = await first.up.waitForLog((e) => e.msg === 'manager starting');
  expect(starting.database).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);

  const client = api(url);
  // up prints its lines only once both workers are connected to its manager.
  const { body: listed } = await client.get<{ workers: { name: string }[] }>('/v1/workers');
  expect(listed.workers.map((w) => w.name).sort()).toEqual(['up-worker-1', 'up-worker-2']);
  const watch = await first.up.waitForLog((e) => String(e.text ?? '').includes('watch:'));
  expect(String(watch.text).trim()).toBe(`watch:     npm run cli -- status --watch --url ${url}`);
  expect(await client.post('/v1/queues/default/heights', { from: 0, to: 999 })).toEqual({
    status: 202,
    body: { queue: 'default', added: 1000, skipped: 0 },
  });
  await waitForQueue(url, (s) => s.done === 1000, 'all 1000 heights done', { timeoutMs: 30_000 });

  // A second manager on the same data directory is refused, and the first keeps running.
  const second = spawnTracked(
    process.execPath,
    [CLI, 'manager'],
    { BLOCKRUNNER_DATA_DIR: dataDir, PORT: '0' },
    'second manager',
  );
  expect(await exitWithin(second, 20_000)).toEqual({ code: 1, signal: null });
  expect(second.logs().join('\n')).toContain('is in use by another manager');
  // A second up there says so in one line before it starts anything, and prints no banner.
  const secondUp = spawnTracked(
    process.execPath,
    [CLI, 'up', '--port', String(await freePort())],
    { BLOCKRUNNER_DATA_DIR: dataDir },
    'second up',
  );
  expect(await exitWithin(secondUp, 20_000)).toEqual({ code: 1, signal: null });
  expect(secondUp.logs()).toHaveLength(1);
  expect(secondUp.logs()[0]).toMatch(
    /^blockrunner up: .* \(BLOCKRUNNER_DATA_DIR\) is in use by another manager \(pid \d+\)/,
  );
  expect(first.up.exitStatus()).toBeUndefined();

  expect(await first.up.stop('SIGINT', STOP_TIMEOUT_MS)).toEqual({ code: 0, signal: null });
  expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);

  const again = await startUp(dataDir, port);
  expect(await queueSummary(url)).toMatchObject({
    done: 1000,
    pending: 0,
    leased: 0,
    failed: 0,
    watermark: 999,
  });
  expect(await again.up.stop('SIGINT', STOP_TIMEOUT_MS)).toEqual({ code: 0, signal: null });
});

/**
 * Queue settings over HTTP and the CLI (docs/api.md, "Queue settings"): a change of some keeps the
 * others, they are in the summary, they survive a manager restart, bad bodies are refused with
 * 400 and change nothing, and `maxInFlight` holds across two real workers.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const databases: TestDatabase[] = [];

afterEach(async () => {
  await stopAll();
  for (const db of databases.splice(0)) await db.drop();
});

async function manager() {
  const db = await createTestDatabase();
  databases.push(db);
  return { db, manager: await startManager({ databaseUrl: db.url }) };
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: 20_000, killSignal: 'SIGKILL', env: { PATH: process.env.PATH ?? '' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('queue settings', () => {
  it('PUT changes only the settings given, GET and the summary show them, and a restart keeps them', async () => {
    const { db, manager: first } = await manager();
    const client = api(first.url);
    const put = await client.put('/v1/queues/eth/settings', { ratePerSecond: 200, priority: 3 });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ priority: 3, rangeSize: 1, ratePerSecond: 200, maxInFlight: null });
    const again = await client.put('/v1/queues/eth/settings', { maxInFlight: 64 });
    expect(again.body).toEqual({ priority: 3, rangeSize: 1, ratePerSecond: 200, maxInFlight: 64 });
    const summary = (await client.get('/v1/queues/eth')).body;
    expect(summary).toMatchObject({
      queue: 'eth',
      settings: { priority: 3, ratePerSecond: 200, maxInFlight: 64 },
      effectiveRate: 200,
    });
    await first.stop();

    const second = await startManager({ databaseUrl: db.url });
    const after = await api(second.url).get('/v1/queues/eth/settings');
    expect(after.status).toBe(200);
    expect(after.body).toEqual({ priority: 3, rangeSize: 1, ratePerSecond: 200, maxInFlight: 64 });
    // `none` lifts a bound; the CLI prints every setting.
    const cleared = await cli([
      'settings',
      '--url',
      second.url,
      '--queue',
      'eth',
      '--rate',
      'none',
    ]);
    expect(cleared).toMatchObject({ code: 0, stderr: '' });
    expect(cleared.stdout.trim()).toBe(
      'queue eth: priority 3, range size 1, rate none, max in flight 64',
    );
    const status = await cli(['status', '--url', second.url]);
    expect(status.stdout).toContain('priority 3');
    expect(status.stdout).toContain('max in flight 64');
  });

  it('refuses bad bodies with 400 and a stable code, changing nothing; GET of an unknown queue is 404', async () => {
    const { manager: m } = await manager();
    const client = api(m.url);
    await client.put('/v1/queues/q/settings', { ratePerSecond: 50 });
    for (const body of [
      {},
      { ratePerSecond: -1 },
      { ratePerSecond: 0 },
      { rangeSize: 0 },
      { maxInFlight: 1.5 },
      { priority: 1_001 },
      { speed: 3 },
    ]) {
      const answer = await client.put('/v1/queues/q/settings', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body).toMatchObject({ statusCode: 400, code: 'BR_ERR_VALIDATION' });
    }
    expect((await client.get('/v1/queues/q/settings')).body).toMatchObject({ ratePerSecond: 50 });
    const missing = await client.get('/v1/queues/nope/settings');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: 'BR_ERR_QUEUE_NOT_FOUND' });
    const usage = await cli(['settings', '--url', m.url, '--queue', 'q', '--rate', 'fast']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--rate');
  });

  it('maxInFlight bounds the heights leased across two workers', async () => {
    const { manager: m } = await manager();
    const client = api(m.url);
    await client.put('/v1/queues/default/settings', { maxInFlight: 5 });
    for (const name of ['w1', 'w2'])
      await startWorker({
        managerUrl: m.wsUrl,
        env: {
          BLOCKRUNNER_HANDLER: 'sleep',
          BLOCKRUNNER_SLEEP_MS: '20',
          BLOCKRUNNER_CONCURRENCY: '8',
          BLOCKRUNNER_WORKER_NAME: name,
        },
      });
    await client.post('/v1/queues/default/heights', { from: 0, to: 199 });
    let most = 0;
    await waitFor(
      async () => {
        const { workers } = (await client.get('/v1/workers')).body as {
          workers: { leased: number }[];
        };
        most = Math.max(
          most,
          workers.reduce((sum, worker) => sum + worker.leased, 0),
        );
        const summary = (await client.get('/v1/queues/default')).body as { done: number };
        return summary.done === 200;
      },
      { timeoutMs: 30_000, intervalMs: 5, message: 'all 200 done' },
    );
    const { workers } = (await client.get('/v1/workers')).body as {
      workers: { done: number }[];
    };
    expect(workers.every((worker) => worker.done > 0)).toBe(true);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(5);
  });
});

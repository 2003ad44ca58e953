/**
 * DELETE /v1/queues/:queue against a real manager, a real worker and PostgreSQL (docs/api.md,
 * "Deleting a queue"): a queue with done heights, dead letters, a chain source, kept hashes and
 * a height leased right now is deleted; its rows are gone from every table, the worker's handler
 * is cancelled, its metrics series are gone, another queue is untouched; a standby that takes
 * over does not see it; enqueuing to the same name starts a fresh queue. The CLI's `delete`
 * asks for --yes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import {
  cliPath,
  type ManagerProcess,
  startManager,
  startWorker,
  stopAll,
} from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const handler = fileURLToPath(new URL('../fixtures/delete-queue.mjs', import.meta.url));
const markers = mkdtempSync(join(tmpdir(), 'blockrunner-delete-'));
const markerFile = join(markers, 'aborted.log');

let db: TestDatabase;
let manager: ManagerProcess;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  env = { PORT: String(await freePort()), BLOCKRUNNER_MAX_ATTEMPTS: '1' };
  manager = await startManager({ databaseUrl: db.url, env });
  await startWorker({
    managerUrl: manager.wsUrl,
    env: {
      BLOCKRUNNER_HANDLER: handler,
      BLOCKRUNNER_QUEUES: 'gone,kept',
      BLOCKRUNNER_WORKER_NAME: 'deleter',
      HANG_MARKER_FILE: markerFile,
    },
  });
}, 60_000);

afterAll(async () => {
  await stopAll();
  await db?.drop();
  rmSync(markers, { recursive: true, force: true });
});

/** Rows of `queue` in each table that holds a queue's data. */
async function rowsOf(queue: string): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<Record<string, string>>(
    `SELECT (SELECT count(*) FROM queues WHERE name = $1)::text AS queues,
            (SELECT count(*) FROM height_attempts WHERE queue = $1)::text AS height_attempts,
            (SELECT count(*) FROM block_hashes WHERE queue = $1)::text AS block_hashes,
            (SELECT count(*) FROM reorgs WHERE queue = $1)::text AS reorgs,
            (SELECT count(*) FROM queue_sources WHERE queue = $1)::text AS sources`,
    [queue],
  );
  return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v)]));
}

const notFound = (queue: string) => ({
  statusCode: 404,
  code: 'BR_ERR_QUEUE_NOT_FOUND',
  error: 'Not Found',
  message: `queue "${queue}" does not exist`,
});

describe('DELETE /v1/queues/:queue', () => {
  it('answers 404 in Fastify shape for an unknown queue', async () => {
    const answer = await api(manager.url).delete('/v1/queues/never-made');
    expect(answer).toEqual({ status: 404, body: notFound('never-made') });
  });

  it('deletes the queue with its heights, history, source and hashes, cancels its leases, and leaves others alone', async () => {
    const client = api(manager.url);
    const source = { kind: 'push', from: 0, confirmations: 0, finality: 64 };
    expect((await client.put('/v1/queues/gone/source', source)).status).toBe(200);
    expect((await client.post('/v1/queues/gone/head', { height: 99, hash: '0x63' })).body).toEqual({
      added: 100,
    });
    await client.post('/v1/queues/kept/heights', { from: 0, to: 49 });
    await waitForQueue(
      manager.url,
      (s) => s.done === 96 && s.failed === 3 && s.leased === 1,
      'gone: 96 done, 3 dead letters (60..62), 70 leased',
      { queue: 'gone' },
    );
    await waitForQueue(manager.url, (s) => s.done === 50, 'kept done', { queue: 'kept' });
    const before = await rowsOf('gone');
    expect(before).toMatchObject({ queues: 1, height_attempts: 3, sources: 1 });
    expect(before.block_hashes).toBeGreaterThan(0);
    const keptBefore = await rowsOf('kept');

    const deleted = await client.delete('/v1/queues/gone');
    expect(deleted).toEqual({ status: 204, body: '' });

    // The worker was told to cancel the leased height: its handler's signal fired.
    await waitFor(() => readFileSync(markerFile, 'utf8').includes('aborted gone 70'), {
      timeoutMs: 10_000,
      message: 'the cancel of height 70',
    });
    expect(await client.get('/v1/queues/gone')).toEqual({ status: 404, body: notFound('gone') });
    expect((await client.get('/v1/queues/gone/source')).status).toBe(404);
    const list = (await client.get<{ queues: { queue: string }[] }>('/v1/queues')).body;
    expect(list.queues.map((q) => q.queue)).toEqual(['kept']);
    expect(await rowsOf('gone')).toEqual({
      queues: 0,
      height_attempts: 0,
      block_hashes: 0,
      reorgs: 0,
      sources: 0,
    });
    expect(await rowsOf('kept')).toEqual(keptBefore);
    const workers = (await client.get<{ workers: { leased: number }[] }>('/v1/workers')).body;
    expect(workers.workers).toMatchObject([{ leased: 0 }]);
    const metrics = await (await fetch(`${manager.url}/metrics`)).text();
    expect(metrics).not.toContain('queue="gone"');
    expect(metrics).toContain('blockrunner_heights_done_total{queue="kept"} 50');
    // The late success of 70, if the worker sent it, did not make the queue again.
    expect(await rowsOf('gone')).toMatchObject({ queues: 0 });
    expect(await client.delete('/v1/queues/gone')).toEqual({
      status: 404,
      body: notFound('gone'),
    });
  });

  it('is deleted in PostgreSQL: a standby that takes over does not see it; the same name starts a fresh queue', async () => {
    const standby = await startManager({ databaseUrl: db.url, waitForReady: false });
    await standby.waitForLog((entry) => String(entry.msg).startsWith('standby'), 10_000);
    await manager.kill();
    await waitFor(async () => (await api(standby.url).get('/readyz')).status === 200, {
      timeoutMs: 20_000,
      message: 'the standby to take over',
    });
    manager = standby;
    await startWorker({
      managerUrl: manager.wsUrl,
      env: {
        BLOCKRUNNER_HANDLER: handler,
        BLOCKRUNNER_QUEUES: 'gone,kept',
        HANG_MARKER_FILE: markerFile,
      },
    });
    const client = api(manager.url);
    expect(await client.get('/v1/queues/gone')).toEqual({ status: 404, body: notFound('gone') });
    expect((await client.get('/v1/queues/kept')).body).toMatchObject({ done: 50 });

    // All heights new: none skipped as done, no history, no head, no source.
    expect((await client.post('/v1/queues/gone/heights', { from: 0, to: 9 })).body).toEqual({
      queue: 'gone',
      added: 10,
      skipped: 0,
    });
    const fresh = await waitForQueue(manager.url, (s) => s.done === 10, 'the fresh queue done', {
      queue: 'gone',
      timeoutMs: 30_000,
    });
    expect(fresh).toMatchObject({ pending: 0, leased: 0, failed: 0, watermark: 9 });
    expect(fresh.head).toBeUndefined();
    expect((await client.get('/v1/queues/gone/reorgs')).body).toEqual({ items: [] });
    expect(await rowsOf('gone')).toMatchObject({ queues: 1, height_attempts: 0, sources: 0 });
  });

  it('blockrunner delete refuses without --yes and deletes with it', async () => {
    const cli = (...args: string[]) =>
      run(process.execPath, [cliPath(), 'delete', '--url', manager.url, ...args]).then(
        ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
    const refused = await cli('--queue', 'gone');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('pass --yes');
    expect((await api(manager.url).get('/v1/queues/gone')).status).toBe(200);

    expect(await cli('--queue', 'gone', '--yes')).toMatchObject({
      code: 0,
      stdout: 'queue gone: deleted\n',
    });
    expect((await api(manager.url).get('/v1/queues/gone')).status).toBe(404);
    const missing = await cli('--queue', 'gone', '--yes');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('BR_ERR_QUEUE_NOT_FOUND');
  });
});

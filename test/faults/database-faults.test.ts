/**
 * The database fails under a running backfill: connections killed with pg_terminate_backend
 * again and again, and the whole cluster restarted. The manager keeps its workers, retries the
 * database with capped backoff, takes its leader lock again, and loses nothing.
 */

import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { startPrivateCluster } from '../helpers/private-cluster.js';
import { type ManagerProcess, startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await stopAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function workerIds(manager: ManagerProcess): Promise<string[]> {
  const { body } = await api(manager.url).get('/v1/workers');
  return (body as { workers: { id: string }[] }).workers.map((w) => w.id).sort();
}

async function startRun(databaseUrl: string, heights: number) {
  const manager = await startManager({ databaseUrl });
  const slow = { BLOCKRUNNER_HANDLER: 'sleep', BLOCKRUNNER_SLEEP_MS: '1' };
  await startWorker({ managerUrl: manager.wsUrl, env: slow });
  await startWorker({ managerUrl: manager.wsUrl, env: slow });
  await api(manager.url).post('/v1/queues/default/heights', { from: 0, to: heights - 1 });
  await waitForQueue(manager.url, (s) => s.done > 1_000, 'progress before the faults');
  return { manager, workersBefore: await workerIds(manager) };
}

it('survives its database connections being killed again and again', async () => {
  const db = await createTestDatabase();
  cleanups.push(db.drop);
  const { manager, workersBefore } = await startRun(db.url, 30_000);

  let killed = 0;
  for (let round = 0; round < 8; round++) {
    const { rows } = await db.pool.query(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name LIKE 'blockrunner%'`,
    );
    killed += rows[0].n;
    await waitFor(async () => (await api(manager.url).get('/readyz')).status === 200, {
      timeoutMs: 15_000,
      message: `ready again after round ${round + 1}`,
    });
  }
  expect(killed).toBeGreaterThanOrEqual(8);
  const summary = await waitForQueue(manager.url, (s) => s.done === 30_000, 'all done', {
    timeoutMs: 60_000,
  });
  expect(summary).toMatchObject({ failed: 0, pending: 0, leased: 0 });
  expect(await workerIds(manager)).toEqual(workersBefore);
  const { rows } = await db.pool.query("SELECT done::text FROM queue_sets WHERE name = 'default'");
  expect(rows[0].done).toBe('{[0,30000)}');
  expect(manager.logs().some((line) => line.includes('leader lock taken again'))).toBe(true);
  console.info(`terminated ${killed} manager connections in 8 rounds`);
});

it('survives a restart of the PostgreSQL cluster', async () => {
  const cluster = await startPrivateCluster();
  cleanups.push(cluster.destroy);
  const { manager, workersBefore } = await startRun(cluster.url, 30_000);

  await cluster.restart();
  await waitFor(async () => (await api(manager.url).get('/readyz')).status === 200, {
    timeoutMs: 30_000,
    message: 'ready again after the restart',
  });
  const summary = await waitForQueue(manager.url, (s) => s.done === 30_000, 'all done', {
    timeoutMs: 60_000,
  });
  expect(summary).toMatchObject({ failed: 0, pending: 0, leased: 0 });
  expect(await workerIds(manager)).toEqual(workersBefore);
  const client = new pg.Client({ connectionString: cluster.url });
  await client.connect();
  const { rows } = await client.query("SELECT done::text FROM queue_sets WHERE name = 'default'");
  await client.end();
  expect(rows[0].done).toBe('{[0,30000)}');
});

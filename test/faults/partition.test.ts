/**
 * A network partition between one worker and the manager, made with a network namespace and a
 * veth pair. Cut shorter than the heartbeat but longer than the lease: the leases expire and
 * their heights go to the other worker; when the link comes back the cut-off worker's late
 * results arrive and are ignored. Cut longer than the heartbeat: both sides drop the link, and
 * once it is restored the worker reconnects with its backoff. Every height ends done once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import {
  createNetworkNamespace,
  HOST_ADDRESS,
  type NetworkNamespace,
  netnsUnavailable,
} from '../helpers/netns.js';
import { cliPath, spawnTracked, startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

const unavailable = await netnsUnavailable();
if (unavailable) console.warn(`partition test skipped: ${unavailable}`);

let db: TestDatabase | undefined;
let netns: NetworkNamespace | undefined;

beforeAll(async () => {
  if (!unavailable) netns = await createNetworkNamespace();
});

afterAll(async () => {
  await stopAll();
  await netns?.destroy();
  await db?.drop();
});

async function ignoredResults(url: string): Promise<number> {
  const { body } = await api(url).get('/metrics');
  const line = String(body)
    .split('\n')
    .find((l) => l.startsWith('blockrunner_results_ignored_total'));
  return Number(line?.split(' ').at(-1) ?? 0);
}

it.skipIf(unavailable !== undefined)(
  'expires, ignores late results, and reconnects across a partition',
  async () => {
    const ns = netns as NetworkNamespace;
    db = await createTestDatabase();
    const manager = await startManager({
      databaseUrl: db.url,
      env: {
        HOST: HOST_ADDRESS,
        BLOCKRUNNER_LEASE_MS: '400',
        BLOCKRUNNER_HEARTBEAT_MS: '3000',
        BLOCKRUNNER_RETRY_BASE_MS: '10',
        BLOCKRUNNER_RETRY_MAX_MS: '50',
      },
    });
    const work = {
      BLOCKRUNNER_HANDLER: 'sleep',
      BLOCKRUNNER_SLEEP_MS: '50',
      BLOCKRUNNER_CONCURRENCY: '4',
      BLOCKRUNNER_PREFETCH: '4',
    };
    const cutOff = spawnTracked(
      ns.exec[0] as string,
      [...ns.exec.slice(1), process.execPath, cliPath(), 'worker'],
      {
        ...work,
        BLOCKRUNNER_MANAGER_URL: manager.wsUrl,
        BLOCKRUNNER_WORKER_NAME: 'cut-off',
        BLOCKRUNNER_HEARTBEAT_MS: '3000',
      },
      'worker cut-off',
    );
    await cutOff.waitForLog((entry) => entry.msg === 'worker connected', 20_000);
    await startWorker({
      managerUrl: manager.wsUrl,
      env: { ...work, BLOCKRUNNER_WORKER_NAME: 'steady' },
    });
    await api(manager.url).post('/v1/queues/default/heights', { from: 0, to: 1_999 });
    await waitForQueue(manager.url, (s) => s.done > 100, 'progress before the cut');

    // Shorter than the heartbeat, longer than the lease.
    const ignoredBefore = await ignoredResults(manager.url);
    await ns.cut();
    await manager.waitForLog(
      (entry) => entry.msg === 'lease expired' && entry.worker === 'cut-off',
      5_000,
    );
    await ns.restore();
    await waitFor(async () => (await ignoredResults(manager.url)) > ignoredBefore, {
      timeoutMs: 10_000,
      message: 'the late results of expired leases arrive and are ignored',
    });

    // Longer than the heartbeat: both sides drop the link; the worker comes back by itself.
    const connectedBefore = cutOff
      .logs()
      .filter((line) => line.includes('"worker connected"')).length;
    await ns.cut();
    await manager.waitForLog(
      (entry) => entry.msg === 'worker disconnected' && entry.worker === 'cut-off',
      15_000,
    );
    await ns.restore();
    await waitFor(
      () =>
        cutOff.logs().filter((line) => line.includes('"worker connected"')).length >
        connectedBefore,
      { timeoutMs: 30_000, message: 'the cut-off worker reconnects after the link is restored' },
    );
    const summary = await waitForQueue(manager.url, (s) => s.done === 2_000, 'all 2,000 done', {
      timeoutMs: 60_000,
    });
    expect(summary).toMatchObject({ pending: 0, leased: 0, failed: 0, watermark: 1_999 });
    const { rows } = await db.pool.query(
      "SELECT done::text FROM queue_sets WHERE name = 'default'",
    );
    expect(rows[0].done).toBe('{[0,2000)}');
  },
  120_000,
);

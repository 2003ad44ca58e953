/**
 * A busy write-behind log commits at most once per COMMIT_INTERVAL_MS, however many results
 * arrive: a worker with 1 ms handlers reports hundreds of times a second, and every height is
 * still committed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { COMMIT_INTERVAL_MS } from '../../manager/store/write-behind.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { type ManagerProcess, startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';

const HEIGHTS = 4_000;

let db: TestDatabase;
let manager: ManagerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
  await startWorker({
    managerUrl: manager.wsUrl,
    env: {
      BLOCKRUNNER_HANDLER: 'sleep',
      BLOCKRUNNER_SLEEP_MS: '1',
      BLOCKRUNNER_CONCURRENCY: '8',
      BLOCKRUNNER_PREFETCH: '0',
    },
  });
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

async function commits(): Promise<number> {
  const text = await (await fetch(`${manager.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('blockrunner_commit_duration_seconds_count'));
  return Number(line?.split(' ')[1]);
}

it('commits a steady stream of results at most once per interval, losing none', async () => {
  const started = performance.now();
  const before = await commits();
  await api(manager.url).post('/v1/queues/default/heights', { from: 0, to: HEIGHTS - 1 });
  await waitForQueue(manager.url, (s) => s.done === HEIGHTS, 'every height committed', {
    timeoutMs: 30_000,
  });
  const made = (await commits()) - before;
  const elapsedMs = performance.now() - started;
  expect(made).toBeGreaterThan(1);
  // Commit starts are at least an interval apart; the count is taken at each commit's end, so
  // one commit that started before the first reading may be counted too.
  expect(made).toBeLessThanOrEqual(Math.floor(elapsedMs / COMMIT_INTERVAL_MS) + 2);
  const { rows } = await db.pool.query("SELECT done::text FROM queue_sets WHERE name = 'default'");
  expect(rows).toEqual([{ done: `{[0,${HEIGHTS})}` }]);
});

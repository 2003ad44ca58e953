/**
 * The manager killed with SIGKILL five times during a run of 0..199,999 with a flaky handler and
 * three workers, restarted each time on the same database and port: at the end every height is
 * done, exactly 200,000 are counted done, and the heights that ran more than once are reported.
 * Over a minute on a 2-core machine: it runs with `npm run test:faults`, not `npm test`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import {
  logEntries,
  type ManagerProcess,
  startManager,
  startWorker,
  stopAll,
} from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';

const HEIGHTS = 200_000;
const KILLS = 5;
const handler = fileURLToPath(new URL('../fixtures/flaky-recording.mjs', import.meta.url));
const runsDir = mkdtempSync(join(tmpdir(), 'blockrunner-runs-'));
let db: TestDatabase | undefined;

afterAll(async () => {
  await stopAll();
  await db?.drop();
  rmSync(runsDir, { recursive: true, force: true });
});

it('loses nothing and counts each height done once across five manager crashes', async () => {
  db = await createTestDatabase();
  const env = {
    PORT: String(await freePort()),
    BLOCKRUNNER_RETRY_BASE_MS: '5',
    BLOCKRUNNER_RETRY_MAX_MS: '50',
    BLOCKRUNNER_MAX_ATTEMPTS: '100',
  };
  let manager: ManagerProcess = await startManager({ databaseUrl: db.url, env });
  const workers = [];
  for (const name of ['k1', 'k2', 'k3']) {
    workers.push(
      await startWorker({
        managerUrl: manager.wsUrl,
        env: { BLOCKRUNNER_HANDLER: handler, RUNS_DIR: runsDir, BLOCKRUNNER_WORKER_NAME: name },
      }),
    );
  }
  await api(manager.url).post('/v1/queues/default/heights', { from: 0, to: HEIGHTS - 1 });

  for (let kill = 1; kill <= KILLS; kill++) {
    const target = (HEIGHTS / (KILLS + 1)) * kill;
    await waitForQueue(
      manager.url,
      (s) => s.done >= target,
      `progress to ${target} before kill ${kill}`,
      {
        timeoutMs: 60_000,
      },
    );
    await manager.kill();
    manager = await startManager({ databaseUrl: db.url, env });
  }
  const summary = await waitForQueue(manager.url, (s) => s.done === HEIGHTS, 'every height done', {
    timeoutMs: 90_000,
  }).catch((error: Error) => {
    // What the last manager warned of says why it stopped, if it knew.
    const warnings = logEntries(manager)
      .filter((entry) => Number(entry.level) >= 40)
      .slice(-20)
      .map((entry) => JSON.stringify(entry));
    throw new Error(`${error.message}\nthe manager's last warnings:\n${warnings.join('\n')}`);
  });
  expect(summary).toMatchObject({
    pending: 0,
    leased: 0,
    retrying: 0,
    failed: 0,
    watermark: HEIGHTS - 1,
  });
  const { rows } = await db.pool.query("SELECT done::text FROM queue_sets WHERE name = 'default'");
  expect(rows[0].done).toBe(`{[0,${HEIGHTS})}`);

  // Workers write their successes when they exit.
  for (const worker of workers) expect(await worker.stop('SIGTERM')).toMatchObject({ code: 0 });
  const runs = new Map<number, number>();
  for (const file of readdirSync(runsDir)) {
    for (const line of readFileSync(join(runsDir, file), 'utf8').split('\n')) {
      if (line !== '') runs.set(Number(line), (runs.get(Number(line)) ?? 0) + 1);
    }
  }
  expect(runs.size).toBe(HEIGHTS);
  const ranTwice = [...runs.values()].filter((count) => count > 1).length;
  console.info(
    `${KILLS} manager kills: ${HEIGHTS} heights done, 0 lost, ${ranTwice} succeeded more than once`,
  );
}, 240_000);

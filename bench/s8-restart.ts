/**
 * S8 restart (docs/performance.md, "What each scenario measures"): a manager killed with SIGKILL
 * and started again on a queue of 1,000,000 gaps (isolated heights, enqueued through the API in
 * requests of 50,000) and 100,000 dead letters (written straight into height_attempts, as 100,000
 * final failures would have left them). The figure is the time from spawning the new manager
 * process to its first `/readyz` 200: migrations checked, leader lock taken, every queue loaded.
 * Then the fleet half (bench/s8-fleet.ts), on a manager of its own.
 */
import { join } from 'node:path';
import { packageRoot } from '../shared/package-root.js';
import { freePort } from './cluster.js';
import { createDatabase, withClient } from './databases.js';
import { enqueue, isReady, queueSummary } from './manager-api.js';
import type { BenchOptions } from './options.js';
import { BenchProcess } from './processes.js';
import type { S8Result } from './results.js';
import { runS8Fleet } from './s8-fleet.js';
import { round } from './stats.js';
import { waitUntil } from './wait.js';

const QUEUE = 's8-sparse';
const PER_REQUEST = 50_000;
const READY_TIMEOUT_MS = 120_000;

export async function runS8(options: BenchOptions): Promise<S8Result> {
  const restart = await runS8Restart(options);
  return { ...restart, fleet: await runS8Fleet(options) };
}

async function runS8Restart(options: BenchOptions): Promise<Omit<S8Result, 'fleet'>> {
  const { gaps, deadLetters } = options.s8;
  const database = await createDatabase(options.adminUrl, 's8');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: database.url,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    BLOCKRUNNER_SHUTDOWN_MS: '2000',
  };
  const cli = join(packageRoot(), 'dist', 'cli', 'main.js');
  const start = () => new BenchProcess('s8 manager', [cli, 'manager'], env, packageRoot());
  const ready = async (manager: BenchProcess) => {
    await waitUntil(
      async () => {
        if (manager.exitStatus()) throw new Error(`s8 manager died: ${manager.describe()}`);
        return isReady(url);
      },
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 10, message: 's8 manager to be ready' },
    );
  };
  let manager = start();
  try {
    await ready(manager);
    for (let from = 0; from < gaps; from += PER_REQUEST) {
      const count = Math.min(PER_REQUEST, gaps - from);
      const heights = Array.from({ length: count }, (_, i) => 2 * (from + i));
      await enqueue(url, QUEUE, { heights });
    }
    await withClient(database.url, (client) =>
      client.query(
        `INSERT INTO height_attempts (queue, height, attempts, last_error, next_attempt_at, failed)
       SELECT $1, 2 * g, 5, 'handler threw: bench dead letter', now(), true
       FROM generate_series(0, $2::bigint - 1) AS g`,
        [QUEUE, deadLetters],
      ),
    );
    manager.kill();
    await manager.exited;

    const started = performance.now();
    manager = start();
    await ready(manager);
    const readyMs = performance.now() - started;
    const summary = await queueSummary(url, QUEUE);
    if (summary.failed !== deadLetters || summary.pending !== gaps - deadLetters) {
      throw new Error(`after the restart, ${QUEUE} reads ${JSON.stringify(summary)}`);
    }
    return {
      database: database.name,
      gaps,
      deadLetters,
      readyMs: round(readyMs),
      measured: `${gaps} isolated heights enqueued in requests of ${PER_REQUEST}, ${deadLetters} dead letters inserted into height_attempts, the manager killed with SIGKILL; from spawning a new manager on the same database to its first /readyz 200 (probed every 10 ms), then its summary checked: ${deadLetters} failed, ${gaps - deadLetters} pending`,
    };
  } finally {
    await manager.stop();
    await database.drop();
  }
}

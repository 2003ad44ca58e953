/**
 * The fleet behind PgBouncer (docs/deployment.md, "Managed PostgreSQL and poolers"): Debian's
 * pgbouncer (.ci/install-pgbouncer), started on a free port in front of the test database, with
 * the database in session mode and an alias of it in transaction mode. In session mode a leader
 * and a standby reach PostgreSQL only through it; in transaction mode they commit through it
 * and hold their locks on BLOCKRUNNER_DIRECT_DATABASE_URL. Either way the standby waits while
 * the leader runs, takes over when the leader is killed, and the run completes with nothing lost.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { loadManagerConfig } from '../../manager/config.js';
import { packageRoot } from '../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

let db: TestDatabase | undefined;
let bouncer: ChildProcess | undefined;
let bouncerLog = '';
let dir: string | undefined;
let bouncerUrl = '';
/** The same database through the pool in transaction mode. */
let transactionUrl = '';
const TRANSACTION_ALIAS = 'blockrunner_txn';

beforeAll(async () => {
  const installed = await run(join(packageRoot(), '.ci', 'install-pgbouncer'), {
    timeout: 170_000,
  });
  const binary = installed.stdout.trim();
  db = await createTestDatabase();
  const target = new URL(db.url);
  const port = await freePort();
  dir = mkdtempSync(join(tmpdir(), 'blockrunner-pgbouncer-'));
  // PgBouncer refuses to run as root; -u drops to an unprivileged user, who must read this.
  chmodSync(dir, 0o755);
  const config = join(dir, 'pgbouncer.ini');
  writeFileSync(
    config,
    [
      '[databases]',
      `${TRANSACTION_ALIAS} = host=${target.hostname} port=${target.port || 5432} user=${target.username} dbname=${target.pathname.slice(1)} pool_mode=transaction`,
      `* = host=${target.hostname} port=${target.port || 5432} user=${target.username}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = any',
      'pool_mode = session',
      'max_client_conn = 100',
      'default_pool_size = 20',
      '',
    ].join('\n'),
  );
  chmodSync(config, 0o644);
  const asRoot = process.getuid?.() === 0;
  bouncer = spawn(binary, [...(asRoot ? ['-u', 'nobody'] : []), config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [bouncer.stdout, bouncer.stderr])
    stream?.on('data', (chunk: Buffer) => {
      bouncerLog += chunk.toString();
    });
  await waitFor(() => bouncerLog.includes(`listening on 127.0.0.1:${port}`), {
    timeoutMs: 10_000,
    message: `pgbouncer listening on ${port}`,
  }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}\n${bouncerLog}`);
  });
  const through = new URL(db.url);
  through.port = String(port);
  bouncerUrl = through.toString();
  through.pathname = `/${TRANSACTION_ALIAS}`;
  transactionUrl = through.toString();
}, 180_000);

afterEach(async () => {
  await stopAll();
});

afterAll(async () => {
  await stopAll();
  if (bouncer && bouncer.exitCode === null) {
    const exited = new Promise((resolve) => bouncer?.once('exit', resolve));
    bouncer.kill('SIGTERM');
    await exited;
  }
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A leader and a standby on `env`, workers, a takeover, and every height of `queue` done. */
async function runWithTakeover(env: Record<string, string>, queue: string): Promise<void> {
  const leader = await startManager({ databaseUrl: env.DATABASE_URL as string, env });
  const standby = await startManager({
    databaseUrl: env.DATABASE_URL as string,
    env,
    waitForReady: false,
  });
  await standby.waitForLog((entry) => String(entry.msg).startsWith('standby'), 10_000);
  expect((await api(standby.url).get('/readyz')).status).toBe(503);

  const urls = `${leader.wsUrl},${standby.wsUrl}`;
  const slow = { BLOCKRUNNER_HANDLER: 'sleep', BLOCKRUNNER_SLEEP_MS: '1' };
  const queues = { ...slow, BLOCKRUNNER_QUEUES: queue };
  await startWorker({ managerUrl: urls, env: { ...queues, BLOCKRUNNER_WORKER_NAME: 'a' } });
  await startWorker({ managerUrl: urls, env: { ...queues, BLOCKRUNNER_WORKER_NAME: 'b' } });
  await api(leader.url).post(`/v1/queues/${queue}/heights`, { from: 0, to: 4_999 });
  await waitForQueue(leader.url, (s) => s.done > 500, 'progress on the leader', { queue });
  // Still a standby while the leader runs: the lock excludes it.
  expect((await api(standby.url).get('/readyz')).status).toBe(503);

  await leader.kill();
  await waitFor(async () => (await api(standby.url).get('/readyz')).status === 200, {
    timeoutMs: 15_000,
    message: 'the standby takes over through PgBouncer',
  });
  const summary = await waitForQueue(
    standby.url,
    (s) => s.done === 5_000,
    'all 5,000 done on the new leader',
    { timeoutMs: 60_000, queue },
  );
  expect(summary).toMatchObject({ pending: 0, leased: 0, failed: 0, watermark: 4_999 });
  // Straight from PostgreSQL, not through the pooler: what the new leader committed.
  const { rows } = await (db as TestDatabase).pool.query(
    'SELECT done::text FROM queue_sets WHERE name = $1',
    [queue],
  );
  expect(rows[0].done).toBe('{[0,5000)}');
  // Both managers used the pooler's address, and the pooler refused nothing.
  for (const manager of [leader, standby]) {
    const starting = await manager.waitForLog((entry) => entry.msg === 'manager starting');
    expect(new URL(String(starting.database)).port).toBe(new URL(bouncerUrl).port);
  }
  expect(bouncerLog).not.toContain('FATAL');
}

it('runs a leader and a standby through PgBouncer in session mode, the takeover included', async () => {
  await runWithTakeover({ DATABASE_URL: bouncerUrl }, 'session');
});

it('runs them through transaction mode with the locks on BLOCKRUNNER_DIRECT_DATABASE_URL', async () => {
  await runWithTakeover(
    { DATABASE_URL: transactionUrl, BLOCKRUNNER_DIRECT_DATABASE_URL: (db as TestDatabase).url },
    'transaction',
  );
});

it('stops with one line naming BLOCKRUNNER_DIRECT_DATABASE_URL when the lock goes through transaction mode', async () => {
  // Without the direct URL the lock connection's statements reach sessions of the pool that
  // other clients use: a manager that sees another's mark, or loses its own, must stop.
  const env = { DATABASE_URL: transactionUrl };
  const first = await startManager({ databaseUrl: transactionUrl, env, waitForReady: false });
  const second = await startManager({ databaseUrl: transactionUrl, env, waitForReady: false });
  await startWorker({
    managerUrl: `${first.wsUrl},${second.wsUrl}`,
    env: { BLOCKRUNNER_HANDLER: 'sleep', BLOCKRUNNER_SLEEP_MS: '1' },
    waitForConnected: false,
  });
  const stopped = await waitFor(
    () =>
      [first, second].find((manager) =>
        manager.logs().some((line) => line.includes('BLOCKRUNNER_DIRECT_DATABASE_URL')),
      ),
    { timeoutMs: 30_000, message: 'a manager to see that the lock session is shared' },
  );
  const line = stopped.logs().find((l) => l.includes('BLOCKRUNNER_DIRECT_DATABASE_URL')) as string;
  expect(line).toContain('does not keep one session');
  expect((await stopped.exited).code).toBe(1);
});

it('refuses BLOCKRUNNER_DIRECT_DATABASE_URL without DATABASE_URL, or one that is not a URL', () => {
  expect(() =>
    loadManagerConfig({ BLOCKRUNNER_DIRECT_DATABASE_URL: 'postgres://u@db.example.com:5432/x' }),
  ).toThrow(/^invalid configuration: BLOCKRUNNER_DIRECT_DATABASE_URL: needs DATABASE_URL/);
  expect(() =>
    loadManagerConfig({
      DATABASE_URL: 'postgres://u@pooler.example.com:6432/x',
      BLOCKRUNNER_DIRECT_DATABASE_URL: 'db.example.com',
    }),
  ).toThrow(/BLOCKRUNNER_DIRECT_DATABASE_URL: not a PostgreSQL URL/);
  const config = loadManagerConfig({
    DATABASE_URL: 'postgres://u@pooler.example.com:6432/x',
    BLOCKRUNNER_DIRECT_DATABASE_URL: 'postgres://u@db.example.com:5432/x',
  });
  expect(config.BLOCKRUNNER_DIRECT_DATABASE_URL).toBe('postgres://u@db.example.com:5432/x');
});

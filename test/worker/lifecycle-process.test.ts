/**
 * A handler module's life cycle in a real `blockrunner worker` process against a real manager
 * (docs/workers.md, "Life cycle"): a module whose setup opens a pg pool and whose close() ends
 * it lets the process exit at once after SIGTERM; a setup that throws ends the process with one
 * line and exit 1; a .ts handler runs where Node strips types (Node 24, the pinned binary that
 * .ci/node24/node runs) and is refused with one line naming the Node it needs elsewhere.
 * Needs `npm run build`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../shared/client.js';
import { packageRoot } from '../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  cliPath,
  type ManagerProcess,
  spawnTracked,
  startManager,
  startWorker,
  stopAll,
  type TrackedProcess,
} from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/** Installs the pinned Node 24 on first use (.ci/node24/), then runs it. */
const NODE_24 = join(packageRoot(), '.ci', 'node24', 'node');

let dir: string;
let db: TestDatabase;
let manager: ManagerProcess;
let client: Client;

const pgUrl = pathToFileURL(join(packageRoot(), 'node_modules', 'pg', 'lib', 'index.js')).href;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blockrunner-lifecycle-process-'));
  await writeFile(
    join(dir, 'pool-handler.mjs'),
    `import pg from '${pgUrl}';
export async function setup({ log }) {
  const pool = new pg.Pool({ connectionString: process.env.BLOCKS_DATABASE_URL, max: 4 });
  await pool.query('CREATE TABLE IF NOT EXISTS pool_blocks (height bigint PRIMARY KEY)');
  return { pool, log };
}
export default async function handle(height, { state }) {
  await state.pool.query('INSERT INTO pool_blocks VALUES ($1) ON CONFLICT DO NOTHING', [height]);
}
export async function close({ pool, log }) {
  await pool.end();
  log.info('pool ended');
}
`,
  );
  await writeFile(
    join(dir, 'failing-setup.mjs'),
    "export async function setup() { throw new Error('cannot reach the database'); }\nexport default () => {};\n",
  );
  await writeFile(
    join(dir, 'typed.ts'),
    `interface State {
  seen: Set<number>;
}
export function setup(): State {
  return { seen: new Set<number>() };
}
export default async function handle(height: number, ctx: { state: State }): Promise<void> {
  ctx.state.seen.add(height);
}
export function close(state: State): void {
  process.stdout.write(JSON.stringify({ msg: 'typed handler closed', seen: state.seen.size }) + '\\n');
}
`,
  );
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
  client = new Client({ url: manager.url });
});

/** Workers a test started: each test must have stopped its own by its end. */
const workers: TrackedProcess[] = [];

afterEach(async () => {
  const running = workers.splice(0).filter((worker) => worker.exitStatus() === undefined);
  await Promise.all(running.map((worker) => worker.kill()));
  expect(running.map((worker) => worker.label)).toEqual([]);
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function untilDone(queue: string, count: number): Promise<void> {
  await waitFor(async () => (await client.summary(queue)).done === count, {
    timeoutMs: 30_000,
    message: `${count} heights of ${queue} done`,
  });
}

/** The lines a process printed that are not JSON log lines: the CLI's own, on stderr. */
function plainLines(logs: string[]): string[] {
  return logs.filter((line) => !line.startsWith('{'));
}

describe('a handler module in a worker process', () => {
  it('opens its pool in setup, ends it in close, and the process exits at once after SIGTERM', async () => {
    const worker = await startWorker({
      managerUrl: manager.wsUrl,
      env: {
        BLOCKRUNNER_HANDLER: join(dir, 'pool-handler.mjs'),
        BLOCKRUNNER_QUEUES: 'pool',
        BLOCKS_DATABASE_URL: db.url,
      },
    });
    workers.push(worker);
    await client.enqueue('pool', { from: 0, to: 49 });
    await untilDone('pool', 50);
    const rows = await db.pool.query<{ count: string }>('SELECT count(*) FROM pool_blocks');
    expect(rows.rows[0]?.count).toBe('50');

    const signalled = performance.now();
    const exit = await worker.stop('SIGTERM', 5_000);
    const exitMs = performance.now() - signalled;
    console.info(`idle worker with a pg pool: SIGTERM to exit in ${exitMs.toFixed(0)} ms`);
    expect(exit).toEqual({ code: 0, signal: null });
    await worker.waitForLog((entry) => entry.msg === 'pool ended', 1_000);
    expect(exitMs, worker.describe()).toBeLessThan(1_000);
  });

  it('ends with one line and exit 1 when setup throws, having taken no height', async () => {
    const worker = await startWorker({
      managerUrl: manager.wsUrl,
      env: { BLOCKRUNNER_HANDLER: join(dir, 'failing-setup.mjs'), BLOCKRUNNER_QUEUES: 'failing' },
      waitForConnected: false,
    });
    workers.push(worker);
    const exit = await worker.exited;
    expect(exit, worker.describe()).toEqual({ code: 1, signal: null });
    expect(plainLines(worker.logs()), worker.describe()).toEqual([
      'blockrunner worker: handler setup failed: cannot reach the database',
    ]);
    expect(worker.logs().some((line) => line.includes('"worker connected"'))).toBe(false);
  });
});

describe('a .ts handler', () => {
  // Installed here on first use, not inside the worker's wait for its connection below.
  beforeAll(() => {
    if (existsSync(NODE_24)) execFileSync(NODE_24, ['--version'], { stdio: 'ignore' });
  }, 180_000);

  async function runTyped(node: string, queue: string) {
    const worker = spawnTracked(
      node,
      [cliPath(), 'worker'],
      {
        BLOCKRUNNER_MANAGER_URL: manager.wsUrl,
        BLOCKRUNNER_HANDLER: join(dir, 'typed.ts'),
        BLOCKRUNNER_QUEUES: queue,
      },
      `worker on ${node}`,
    );
    workers.push(worker);
    await worker.waitForLog((entry) => entry.msg === 'worker connected', 20_000);
    await client.enqueue(queue, { from: 0, to: 9 });
    await untilDone(queue, 10);
    expect(await worker.stop('SIGTERM', 5_000)).toEqual({ code: 0, signal: null });
    await worker.waitForLog((entry) => entry.msg === 'typed handler closed' && entry.seen === 10);
  }

  it('runs under Node 24, which strips types', async () => {
    if (!existsSync(NODE_24)) throw new Error(`no Node 24 wrapper at ${NODE_24}`);
    await runTyped(NODE_24, 'typed24');
  });

  it(`is refused with one line on Node ${process.versions.node} unless it strips types`, async () => {
    const strips = typeof (process.features as { typescript?: unknown }).typescript === 'string';
    if (strips) {
      await runTyped(process.execPath, 'typed-here');
      return;
    }
    const worker = spawnTracked(
      process.execPath,
      [cliPath(), 'worker'],
      { BLOCKRUNNER_MANAGER_URL: manager.wsUrl, BLOCKRUNNER_HANDLER: join(dir, 'typed.ts') },
      'worker on this node',
    );
    workers.push(worker);
    const exit = await worker.exited;
    expect(exit, worker.describe()).toEqual({ code: 2, signal: null });
    expect(worker.logs()).toEqual([
      `blockrunner: BLOCKRUNNER_HANDLER: "${join(dir, 'typed.ts')}" is TypeScript, which Node ${process.versions.node} cannot load: run the worker on Node 22.18+ or 24, or compile the handler to JavaScript`,
    ]);
  });
});

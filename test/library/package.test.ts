/**
 * The package as a TypeScript user gets it (docs/workers.md, "In your own program"): `npm pack`
 * of the built package, the tarball installed in a fresh project, a typed handler module that
 * opens a pg pool in `setup` and ends it in `close`, and a program that starts a worker
 * in-process with `startWorker` and watches it with the `blockrunner/client` Client, compiled
 * by this repository's TypeScript and run against a real manager. A file that misuses the types
 * must fail to compile, so the types are real, not `any`. Needs `npm run build`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type ManagerProcess, spawnTracked, startManager, stopAll } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const root = packageRoot();

let dir: string;
let db: TestDatabase;
let manager: ManagerProcess;

const HANDLER = `import pg from 'pg';
import { type HandlerModule, RateLimitedError } from 'blockrunner';

export interface State {
  pool: pg.Pool;
}

/** Writes each height's row, replacing what an earlier run of that height wrote. */
export default {
  async setup({ queues, log }) {
    const pool = new pg.Pool({ connectionString: process.env.BLOCKS_DATABASE_URL, max: 2 });
    await pool.query('CREATE TABLE IF NOT EXISTS lib_blocks (height bigint PRIMARY KEY, queue text NOT NULL)');
    log.info({ queues }, 'pool open');
    return { pool };
  },
  async handle(height, { queue, state, signal }) {
    if (signal.aborted) throw new RateLimitedError('stopping', { retryAfterMs: 100 });
    await state.pool.query(
      'INSERT INTO lib_blocks (height, queue) VALUES ($1, $2) ON CONFLICT (height) DO UPDATE SET queue = EXCLUDED.queue',
      [height, queue],
    );
  },
  async close({ pool }) {
    await pool.end();
  },
} satisfies HandlerModule<State>;
`;

// Ends on its own once the worker has stopped: nothing may keep it alive (the pool included).
const PROGRAM = `import { startWorker, type Worker } from 'blockrunner';
import { Client, type QueueSummary } from 'blockrunner/client';
import blocks from './handler.js';

const client = new Client({ url: process.env.MANAGER_URL ?? '' });
const worker: Worker = startWorker({
  handler: blocks,
  managerUrl: process.env.MANAGER_WS_URL ?? '',
  queues: ['lib'],
  concurrency: 4,
  logLevel: 'warn',
});
const { added } = await client.enqueue('lib', { from: 0, to: 99 });
const deadline = Date.now() + 30_000;
let summary: QueueSummary = await client.summary('lib');
while (summary.done < 100 && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  summary = await client.summary('lib');
}
await worker.stop();
await worker.done;
console.log(JSON.stringify({ added, done: summary.done, watermark: summary.watermark }));
`;

const MISUSE = `import { type Handler, startWorker } from 'blockrunner';

const handle: Handler<{ pool: string }> = async (height, ctx) => {
  ctx.state.nothing.push(height);
};
startWorker({ handler: handle, managerUrl: 'ws://127.0.0.1:1/v1/ws', queues: 'lib' });
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    skipLibCheck: true,
    types: ['node'],
    outDir: 'out',
    noEmitOnError: false,
  },
  include: ['src'],
};

beforeAll(async () => {
  const cli = join(root, 'dist', 'cli', 'main.js');
  if (!existsSync(join(root, 'dist', 'worker', 'index.d.ts')) || !existsSync(cli)) {
    throw new Error('dist/ has no build with declarations: run `npm run build` first');
  }
  dir = await mkdtemp(join(tmpdir(), 'blockrunner-package-'));
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('installs from its tarball, type-checks a handler and runs a worker in-process', async () => {
  // --ignore-scripts: `prepare` would rebuild the dist/ that other tests run from.
  const { stdout: packed } = await run(
    'npm',
    ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir],
    { cwd: root },
  );
  const tarball = join(dir, packed.trim().split('\n').at(-1) ?? '');
  expect(existsSync(tarball), tarball).toBe(true);

  const project = join(dir, 'project');
  await mkdir(join(project, 'src'), { recursive: true });
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'indexer', private: true, type: 'module' }),
  );
  const version = async (name: string) =>
    (
      JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  // From npm's cache, which `npm ci` filled; only what is missing there comes from the registry.
  await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      tarball,
      `@types/pg@${await version('@types/pg')}`,
      `@types/node@${await version('@types/node')}`,
    ],
    { cwd: project, timeout: 120_000 },
  );
  const installed = join(project, 'node_modules', 'blockrunner');
  expect(existsSync(join(installed, 'dist', 'worker', 'index.d.ts'))).toBe(true);
  expect(existsSync(join(installed, 'migrations', '001_init.sql'))).toBe(true);
  expect(existsSync(join(installed, 'test'))).toBe(false);
  expect(existsSync(join(installed, 'dist', 'bench'))).toBe(false);

  await writeFile(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  await writeFile(join(project, 'src', 'handler.ts'), HANDLER);
  await writeFile(join(project, 'src', 'main.ts'), PROGRAM);
  await writeFile(join(project, 'src', 'misuse.ts'), MISUSE);
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const compiled = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], {
    cwd: project,
  }).then(
    () => ({ failed: false, output: '' }),
    (error: { stdout?: string }) => ({ failed: true, output: error.stdout ?? String(error) }),
  );
  // Only the misuse fails: the state's type reaches ctx.state, and queues must be a list.
  expect(compiled.failed).toBe(true);
  const errors = compiled.output.split('\n').filter((line) => /error TS\d+/.test(line));
  expect(errors.every((line) => line.startsWith('src/misuse.ts('))).toBe(true);
  expect(compiled.output).toMatch(/misuse\.ts\(4,\d+\): error TS2339: Property 'nothing'/);
  expect(compiled.output).toMatch(/misuse\.ts\(6,\d+\): error TS2322/);
  expect(errors).toHaveLength(2);

  const started = Date.now();
  const program = spawnTracked(
    process.execPath,
    [join(project, 'out', 'main.js')],
    {
      MANAGER_URL: manager.url,
      MANAGER_WS_URL: manager.wsUrl,
      BLOCKS_DATABASE_URL: db.url,
    },
    'library program',
  );
  // It must end by itself once the worker stopped: an open pool would keep it alive.
  const exit = await waitFor(() => program.exitStatus(), {
    timeoutMs: 40_000,
    message: `the program to end by itself: ${program.label}`,
  });
  expect(exit, program.describe()).toEqual({ code: 0, signal: null });
  const result = program.logs().find((line) => line.startsWith('{"added"'));
  expect(JSON.parse(result ?? 'null'), program.describe()).toEqual({
    added: 100,
    done: 100,
    watermark: 99,
  });
  const rows = await db.pool.query<{ count: string }>('SELECT count(*) FROM lib_blocks');
  expect(rows.rows[0]?.count).toBe('100');
  expect(Date.now() - started).toBeLessThan(30_000);
}, 120_000);

/**
 * examples/custom-handler/, replayed as its Dockerfile builds it, without an engine: its
 * package.json and lock file copied where the image puts them and installed the way it
 * installs them (`npm ci --omit=dev`), handler.mjs beside them; then a worker of this checkout,
 * with the image's BLOCKRUNNER_HANDLER pointing at that copy, runs it against a real manager.
 * The copy lives outside the repository, so `import pg from 'pg'` can only resolve to what the
 * example itself installed. Its rows are one per height, also after heights run again.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { all, parseCopy, parseEnv, readDockerfile } from './dockerfile.js';
import { runCommand } from './run-command.js';

const exampleDir = join(packageRoot(), 'examples', 'custom-handler');
const [stage] = readDockerfile(join(exampleDir, 'Dockerfile'));
const INSTALL_TIMEOUT_MS = 180_000;
const HEIGHTS = 200;

let imageRoot: string | undefined;
const databases: TestDatabase[] = [];

afterAll(async () => {
  await stopAll();
  await Promise.all(databases.map((db) => db.drop()));
  if (imageRoot) await rm(imageRoot, { recursive: true, force: true });
});

/** A path of the image, under the folder standing in for its root. */
function inImage(root: string, path: string): string {
  return join(root, ...posix.resolve('/', path).split('/').filter(Boolean));
}

/** The environment without what the `npm test` around this test set for its own npm. */
function cleanEnv(): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')),
  );
}

/**
 * Replays the stage's WORKDIR, COPY and `npm ci` lines under `root`; `npm cache clean` is the
 * image's own housekeeping and is not run against this machine's cache.
 */
async function replay(root: string): Promise<void> {
  if (!stage) throw new Error('examples/custom-handler/Dockerfile has no FROM');
  let workdir = '/';
  for (const instruction of stage.instructions) {
    if (instruction.keyword === 'WORKDIR') {
      workdir = posix.resolve(workdir, instruction.args);
      await mkdir(inImage(root, workdir), { recursive: true });
    } else if (instruction.keyword === 'COPY') {
      const copy = parseCopy(instruction.args);
      expect(copy.from, 'the example copies from its own folder only').toBeUndefined();
      for (const source of copy.sources) {
        const dest = posix.resolve(workdir, copy.destination);
        const target = copy.destination.endsWith('/') ? posix.join(dest, source) : dest;
        await cp(join(exampleDir, source), inImage(root, target), { recursive: true });
      }
    } else if (instruction.keyword === 'RUN') {
      for (const command of instruction.args.split('&&').map((part) => part.trim())) {
        if (command.startsWith('npm cache')) continue;
        expect(command).toMatch(/^npm ci\b/);
        const args = [
          ...command.split(/\s+/).slice(1),
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
        ];
        const install = await runCommand('npm', args, {
          cwd: inImage(root, workdir),
          env: cleanEnv(),
          timeoutMs: INSTALL_TIMEOUT_MS,
        });
        expect(install.code, `${command}: ${install.stderr}`).toBe(0);
      }
    }
  }
}

describe('examples/custom-handler', () => {
  it('installs as its image does and runs under a worker against a real manager', {
    timeout: INSTALL_TIMEOUT_MS + 90_000,
  }, async () => {
    imageRoot = await mkdtemp(join(tmpdir(), 'blockrunner-handler-image-'));
    await replay(imageRoot);

    const env: Record<string, string> = Object.assign(
      {},
      ...all(stage ?? { name: '', image: '', instructions: [] }, 'ENV').map((i) =>
        parseEnv(i.args),
      ),
    );
    const handlerPath = inImage(imageRoot, env.BLOCKRUNNER_HANDLER ?? '');
    expect(existsSync(handlerPath), handlerPath).toBe(true);
    // Its dependency is its own: resolved from the copy, not from Blockrunner's node_modules.
    const pgEntry = createRequire(handlerPath).resolve('pg');
    expect(pgEntry.startsWith(join(imageRoot, 'app', 'handler', 'node_modules', 'pg'))).toBe(true);

    const managerDb = await createTestDatabase();
    const handlerDb = await createTestDatabase();
    databases.push(managerDb, handlerDb);
    const manager = await startManager({ databaseUrl: managerDb.url });
    const worker = await startWorker({
      managerUrl: manager.wsUrl,
      env: {
        ...env,
        BLOCKRUNNER_HANDLER: handlerPath,
        HANDLER_DATABASE_URL: handlerDb.url,
        BLOCKRUNNER_CONCURRENCY: '8',
      },
    });

    const client = api(manager.url);
    expect(
      (await client.post('/v1/queues/default/heights', { from: 0, to: HEIGHTS - 1 })).status,
    ).toBe(202);
    await waitForQueue(manager.url, (q) => q.done === HEIGHTS, `${HEIGHTS} heights done`, {
      timeoutMs: 30_000,
    });
    const rows = async () =>
      (
        await handlerDb.pool.query<{
          count: number;
          low: string;
          high: string;
          attempts: number[];
        }>(
          `SELECT count(*)::int AS count, min(height)::text AS low, max(height)::text AS high,
                  array_agg(DISTINCT attempt) AS attempts
             FROM custom_heights WHERE queue = 'default'`,
        )
      ).rows[0];
    expect(await rows()).toEqual({
      count: HEIGHTS,
      low: '0',
      high: String(HEIGHTS - 1),
      attempts: [1],
    });

    // Run again by force: the same heights replace their rows, none is added.
    const indexedAt = async () =>
      (
        await handlerDb.pool.query<{ at: Date }>(
          'SELECT max(indexed_at) AS at FROM custom_heights WHERE height <= 49',
        )
      ).rows[0]?.at.getTime() ?? 0;
    const before = await indexedAt();
    const forced = await client.post('/v1/queues/default/heights', {
      from: 0,
      to: 49,
      force: true,
    });
    expect(forced.status).toBe(202);
    await waitForQueue(
      manager.url,
      (q) => q.done === HEIGHTS && q.pending === 0 && q.leased === 0,
      'forced heights done again',
      {
        timeoutMs: 30_000,
      },
    );
    expect((await rows())?.count).toBe(HEIGHTS);
    expect(await indexedAt()).toBeGreaterThan(before);

    // The handler's close() ends its pool: the worker stops cleanly.
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await manager.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});

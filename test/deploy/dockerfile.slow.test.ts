/**
 * The Dockerfile, replayed without an engine: the build stage's COPY and build on a copy of its
 * files; the runtime stage as a non-root user with production dependencies only, installed the
 * way it installs them (`npm ci --omit=dev --ignore-scripts` on a copy); from that copy alone a
 * manager serves the dashboard at /, a manager and a worker drain a range, and the manager's
 * /healthz passes the image's HEALTHCHECK command, which fails once the manager is gone. Both
 * stages are on the Node line package.json's engines names.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { managerConfigSchema } from '../../manager/config.js';
import { parseConfig } from '../../shared/config.js';
import { packageRoot } from '../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { spawnTracked, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import {
  all,
  execForm,
  last,
  parseCopy,
  parseEnv,
  parseHealthcheck,
  readDockerfile,
  type Stage,
} from './dockerfile.js';
import { runCommand } from './run-command.js';

const root = packageRoot();
const stages = readDockerfile();
const build = stages.find((stage) => stage.name === 'build');
const runtime = stages.at(-1);
/** npm ci of the production dependencies (from npm's cache when it has them); tsc. */
const INSTALL_TIMEOUT_MS = 180_000;
const BUILD_TIMEOUT_MS = 180_000;

let workDir: string | undefined;
let db: TestDatabase | undefined;

afterAll(async () => {
  await stopAll();
  await db?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

function stage(found: Stage | undefined, name: string): Stage {
  if (!found) throw new Error(`the Dockerfile has no ${name} stage`);
  return found;
}

function imageEnv(): Record<string, string> {
  return Object.assign({}, ...all(stage(runtime, 'runtime'), 'ENV').map((i) => parseEnv(i.args)));
}

/** The commands of a stage's RUN lines, `a && b` split in two. */
function runs(from: Stage): string[] {
  return all(from, 'RUN').flatMap((i) => i.args.split('&&').map((s) => s.trim()));
}

/** The runtime stage's `npm ci ...`, as arguments to npm. */
function installCommand(): string[] {
  const install = runs(stage(runtime, 'runtime')).find((s) => s.startsWith('npm ci'));
  if (!install) throw new Error('the runtime stage runs no npm ci');
  return install.split(/\s+/).slice(1);
}

/** Replays a stage's COPY lines into `dir` (its WORKDIR); `--from=<stage>` reads `fromDirs`. */
async function replayCopies(from: Stage, dir: string, fromDirs: Record<string, string>) {
  const workdir = last(from, 'WORKDIR')?.args ?? '/';
  for (const copy of all(from, 'COPY').map((i) => parseCopy(i.args))) {
    for (const source of copy.sources) {
      let local = join(root, source);
      if (copy.from !== undefined) {
        const other = stage(
          stages.find((s) => s.name === copy.from),
          copy.from,
        );
        const otherDir = fromDirs[copy.from];
        if (otherDir === undefined) throw new Error(`stage ${copy.from} was not replayed`);
        local = join(otherDir, posix.relative(last(other, 'WORKDIR')?.args ?? '/', source));
      }
      const dest = posix.relative(workdir, posix.resolve(workdir, copy.destination));
      const target = copy.destination.endsWith('/')
        ? join(dir, dest, basename(source))
        : join(dir, dest);
      await cp(local, target, { recursive: true });
    }
  }
}

/** The environment without what the `npm test` around this test set for its own npm. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')),
  );
  return { ...env, ...extra };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** The dashboard's files, as the manager looks for them (manager/dashboard/routes.ts). */
const DASHBOARD = join('manager', 'dashboard', 'public');

describe('Dockerfile', () => {
  it('runs Node 24 in both stages, a line package.json supports', () => {
    expect(stages.map((s) => s.image)).toEqual(['node:24-bookworm-slim', 'node:24-bookworm-slim']);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    expect(pkg.engines.node.split('||').map((range) => range.trim())).toContain('>=24.0.0');
  });

  it('builds in a stage of its own, with every dependency installed', () => {
    const buildStage = stage(build, 'build');
    expect(stages.indexOf(buildStage)).toBeLessThan(stages.length - 1);
    expect(runs(buildStage)).toEqual([expect.stringMatching(/^npm ci\b/), 'npm run build']);
    expect(runs(buildStage)[0]).not.toContain('--omit=dev');
  });

  it('runs as a non-root user with production dependencies only', () => {
    const runtimeStage = stage(runtime, 'runtime');
    expect(runtimeStage.name).not.toBe('build');
    expect(['', 'root', '0']).not.toContain(last(runtimeStage, 'USER')?.args ?? '');
    // `prepare` builds with tsc, a dev dependency: the runtime install must skip scripts.
    expect(installCommand()).toEqual(expect.arrayContaining(['--omit=dev', '--ignore-scripts']));
    const env = imageEnv();
    for (const key of Object.keys(env))
      expect(Object.keys(managerConfigSchema.shape)).toContain(key);
    expect(() => parseConfig(managerConfigSchema, env)).not.toThrow();
    expect(execForm(last(runtimeStage, 'ENTRYPOINT')?.args ?? '[]')).toEqual([
      'node',
      'dist/cli/main.js',
    ]);
    expect(existsSync(join(root, 'dist', 'cli', 'main.js'))).toBe(true);
    const healthcheck = parseHealthcheck(last(runtimeStage, 'HEALTHCHECK')?.args ?? '');
    expect(healthcheck.command[0]).toBe('node');
    expect(healthcheck.command.join(' ')).toContain('/healthz');
  });

  // Bounded by its steps' own limits: a tsc build, an npm ci, then processes with 20 s waits.
  const timeout = BUILD_TIMEOUT_MS + INSTALL_TIMEOUT_MS + 60_000;
  it('builds, installs and runs from what its stages copy, and passes its HEALTHCHECK', {
    timeout,
  }, async () => {
    const runtimeStage = stage(runtime, 'runtime');
    workDir = await mkdtemp(join(tmpdir(), 'blockrunner-image-'));
    const buildDir = join(workDir, 'build');
    const imageDir = join(workDir, 'image');
    await mkdir(buildDir);
    await mkdir(imageDir);

    // Build stage: its files, this checkout's node_modules standing in for its `npm ci` (the
    // same lockfile), then its build command.
    await replayCopies(stage(build, 'build'), buildDir, {});
    await symlink(join(root, 'node_modules'), join(buildDir, 'node_modules'), 'dir');
    const buildCommand = runs(stage(build, 'build')).filter((c) => !c.startsWith('npm ci'));
    for (const command of buildCommand) {
      const [tool = '', ...args] = command.split(/\s+/);
      const built = await runCommand(tool, args, {
        cwd: buildDir,
        env: cleanEnv(),
        timeoutMs: BUILD_TIMEOUT_MS,
      });
      expect(built.code, `${command}: ${built.stdout}${built.stderr}`).toBe(0);
    }

    // Runtime stage: its files (dist from the build above), its install.
    await replayCopies(runtimeStage, imageDir, { build: buildDir });
    const install = await runCommand(
      'npm',
      [...installCommand(), '--prefer-offline', '--no-audit', '--no-fund'],
      { cwd: imageDir, env: cleanEnv(), timeoutMs: INSTALL_TIMEOUT_MS },
    );
    expect(install.code, install.stderr).toBe(0);
    expect(existsSync(join(imageDir, 'node_modules', '@electric-sql', 'pglite'))).toBe(true);
    expect(existsSync(join(imageDir, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(imageDir, 'node_modules', 'vitest'))).toBe(false);
    // Every file of the dashboard, where the manager looks for it from dist/.
    expect((await readdir(join(imageDir, DASHBOARD))).sort()).toEqual(
      (await readdir(join(root, DASHBOARD))).sort(),
    );

    const [, entry = ''] = execForm(last(runtimeStage, 'ENTRYPOINT')?.args ?? '[]');
    const cli = join(imageDir, entry);
    const help = await runCommand(process.execPath, [cli, '--help'], {
      cwd: imageDir,
      timeoutMs: 20_000,
    });
    expect(help.code, help.stderr).toBe(0);

    // The image's manager, from the copy (its migrations, its node_modules), on loopback.
    db = await createTestDatabase();
    const port = String(await freePort());
    const manager = spawnTracked(
      process.execPath,
      [cli, 'manager'],
      { ...imageEnv(), DATABASE_URL: db.url, HOST: '127.0.0.1', PORT: port },
      'image manager',
    );
    const listening = await manager.waitForLog((e) => e.msg === 'manager listening', 20_000);
    const url = String(listening.url);
    await manager.waitForLog((e) => e.msg === 'manager leading', 20_000);
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('<title>Blockrunner</title>');
    const script = html.match(/src="(dashboard\/[^"]+\.js)"/)?.[1];
    expect(script, 'the page loads its script from /dashboard/').toBeDefined();
    const app = await fetch(`${url}/${script}`);
    expect(app.status).toBe(200);
    expect(await app.text()).toBe(
      readFileSync(join(root, DASHBOARD, basename(script ?? '')), 'utf8'),
    );
    const worker = spawnTracked(
      process.execPath,
      [cli, 'worker'],
      { ...imageEnv(), BLOCKRUNNER_MANAGER_URL: `ws://127.0.0.1:${port}/v1/ws` },
      'image worker',
    );
    await worker.waitForLog((e) => e.msg === 'worker connected', 20_000);
    expect((await api(url).post('/v1/queues/default/heights', { from: 0, to: 99 })).status).toBe(
      202,
    );
    await waitForQueue(url, (q) => q.done === 100, '100 heights done by the image worker', {
      timeoutMs: 20_000,
    });
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    const [node, ...check] = parseHealthcheck(
      last(runtimeStage, 'HEALTHCHECK')?.args ?? '',
    ).command;
    expect(node).toBe('node');
    const healthy = await runCommand(process.execPath, check, {
      cwd: imageDir,
      env: cleanEnv({ PORT: port }),
      timeoutMs: 10_000,
    });
    expect(healthy.code, healthy.stderr).toBe(0);

    expect(await manager.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const gone = await runCommand(process.execPath, check, {
      cwd: imageDir,
      env: cleanEnv({ PORT: port }),
      timeoutMs: 10_000,
    });
    expect(gone.code).toBe(1);
  });
});

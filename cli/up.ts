/**
 * `blockrunner up`: a manager and local workers in one process tree, for a first run
 * (docs/deployment.md, "A first run: `npm start`"). The children are this same CLI, so they read the
 * same environment; up only sets where the manager listens and where workers connect. Every
 * setting of both is checked, the port and the data directory too, before anything starts; the
 * banner comes only once the manager is ready and every worker connected to it
 * (docs/operations.md, "Process trees").
 */
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadManagerConfig } from '../manager/config.js';
import { lockHolder } from '../manager/store/data-dir-lock.js';
import { type Env, integer, postgresUrl, text } from '../shared/config.js';
import { DataDirLockedError } from '../shared/errors.js';
import { loadWorkerConfig } from '../worker/config.js';
import { parseClientArgs } from './client-options.js';
import { type ChildSpec, UpSupervisor } from './up-supervisor.js';

const schema = z.object({
  /** Checked here like the manager checks it, so a bad one stops up before any child starts. */
  DATABASE_URL: postgresUrl(),
  /** Interface the manager listens on. Default 127.0.0.1. */
  HOST: text('127.0.0.1'),
  /** The manager's port. Default 8080; 0 is refused, since workers need to know it. */
  PORT: integer(8080, 1, 65_535),
  /** The manager's own drain time on SIGTERM; up waits that long plus a margin. Default 10000. */
  BLOCKRUNNER_SHUTDOWN_MS: integer(10_000, 0, 600_000),
  /** Local worker processes. Default 2. */
  '--workers': integer(2, 1, 64),
  /** How long the manager may take to answer 200 on /readyz. Default 60000. */
  '--ready-timeout-ms': integer(60_000, 100, 3_600_000),
});

const flags = {
  host: { type: 'string', env: 'HOST' },
  port: { type: 'string', env: 'PORT' },
  workers: { type: 'string' },
  'ready-timeout-ms': { type: 'string' },
} as const;

/** Workers hand their heights back within this on SIGINT/SIGTERM, or are killed. */
const WORKER_STOP_MS = 15_000;
const STOP_MARGIN_MS = 5_000;

export async function up(args: string[], env: Env): Promise<void> {
  const { config } = parseClientArgs('up', schema, flags, args, env);
  const cli = fileURLToPath(new URL('./main.js', import.meta.url));
  const host = config.HOST;
  const port = String(config.PORT);
  const httpUrl = `http://${connectHost(host)}:${port}`;
  const wsUrl = `ws://${connectHost(host)}:${port}/v1/ws`;

  const manager: ChildSpec = {
    name: 'manager',
    command: process.execPath,
    args: [cli, 'manager'],
    env: { ...env, HOST: host, PORT: port },
  };
  const workers = Array.from(
    { length: config['--workers'] },
    (_, i): ChildSpec => ({
      name: `worker ${i + 1}`,
      command: process.execPath,
      args: [cli, 'worker'],
      env: {
        ...env,
        BLOCKRUNNER_MANAGER_URL: wsUrl,
        BLOCKRUNNER_WORKER_NAME: `up-worker-${i + 1}`,
        // --workers says how many; each is one worker loop that tells up when it is connected.
        BLOCKRUNNER_PROCESSES: '1',
      },
    }),
  );
  // Throws a ConfigError naming the variable (exit 2) before any process starts.
  const managerConfig = loadManagerConfig(manager.env);
  for (const worker of workers) loadWorkerConfig(worker.env);
  await assertPortFree(host, config.PORT);
  if (managerConfig.DATABASE_URL === undefined) {
    const dir = resolve(managerConfig.BLOCKRUNNER_DATA_DIR);
    const holder = lockHolder(dir);
    if (holder !== undefined) {
      throw new DataDirLockedError(
        `${dir} (BLOCKRUNNER_DATA_DIR) is in use by another manager (pid ${holder}): stop that one, or choose another directory`,
      );
    }
  }

  const supervisor = new UpSupervisor({
    manager,
    workers,
    readyUrl: `${httpUrl}/readyz`,
    readyTimeoutMs: config['--ready-timeout-ms'],
    workerStopMs: WORKER_STOP_MS,
    managerStopMs: config.BLOCKRUNNER_SHUTDOWN_MS + STOP_MARGIN_MS,
    onReady: () => process.stdout.write(readyText(httpUrl, workers.length, env)),
    onNotice: (line) => process.stdout.write(`blockrunner up: ${line}\n`),
  });
  const onSignal = (signal: NodeJS.Signals) => supervisor.stop(signal);
  const onReload = () => supervisor.reload();
  const onExit = () => supervisor.killAll();
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const signal of signals) process.on(signal, onSignal);
  process.on('SIGHUP', onReload);
  process.on('exit', onExit);
  try {
    const exits = await supervisor.run();
    for (const exit of exits.filter((e) => e.killed)) {
      process.stderr.write(`blockrunner up: ${exit.name} did not stop in time and was killed\n`);
    }
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    process.off('SIGHUP', onReload);
    process.off('exit', onExit);
  }
}

/** Fails with one line when something already listens where the manager would. */
async function assertPortFree(host: string, port: number): Promise<void> {
  const server = createServer();
  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen({ host, port, exclusive: true }, done);
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new Error(
        `port ${port} is in use on ${host} (PORT): stop what listens there, or set PORT or --port`,
      );
    }
    throw new Error(`cannot listen on ${host}:${port} (HOST, PORT): ${code ?? error}`, {
      cause: error,
    });
  } finally {
    await new Promise<void>((done) => server.close(() => done()));
  }
}

/** Where clients reach a manager listening on `host`: a wildcard address means this machine. */
function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function readyText(url: string, workers: number, env: Env): string {
  const handler = env.BLOCKRUNNER_HANDLER?.trim() || 'noop';
  // Names the variable rather than printing the token.
  const auth = env.BLOCKRUNNER_API_TOKEN?.trim()
    ? ` -H "authorization: Bearer $BLOCKRUNNER_API_TOKEN"`
    : '';
  const urlFlag = url === 'http://127.0.0.1:8080' ? '' : ` --url ${url}`;
  // Typed in the checkout as printed: the package's own script runs the built CLI.
  return [
    `blockrunner up: manager at ${url}, ${workers} ${handler} worker${workers === 1 ? '' : 's'}; Ctrl-C stops all`,
    `  enqueue:   curl -X POST ${url}/v1/queues/default/heights -H 'content-type: application/json'${auth} -d '{"from":0,"to":9999}'`,
    `  watch:     npm run cli -- status --watch${urlFlag}`,
    `  dashboard: ${url}/`,
    '',
  ].join('\n');
}

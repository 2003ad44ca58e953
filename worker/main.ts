/**
 * `blockrunner worker`: load config, then either run the worker here (BLOCKRUNNER_PROCESSES=1)
 * or supervise that many child workers (worker/supervisor.ts); stop on SIGTERM/SIGINT.
 * A ConfigError propagates (a refused token too, through `done`): the CLI prints it as one line
 * and exits 2; so does a handler module's failed setup (HandlerSetupError), with exit 1.
 */
import { fileURLToPath } from 'node:url';
import { type Env, flagsToEnv } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { tellParent, watchParent } from '../shared/parent-watch.js';
import { loadWorkerConfig, type WorkerConfig, workerConfigSchema } from './config.js';
import { loadHandlerModule } from './handler-loader.js';
import { startHealthServer } from './health-server.js';
import { WorkerSupervisor } from './supervisor.js';
import { runWorker } from './worker.js';

/** Beyond BLOCKRUNNER_SHUTDOWN_MS, time for a child to send its results and close its link. */
const CHILD_STOP_MARGIN_MS = 3_000;

export async function main(args: string[], env: Env = process.env): Promise<void> {
  const workerEnv = flagsToEnv(workerConfigSchema, args, env);
  const config = loadWorkerConfig(workerEnv);
  // Every line names the worker, as the manager's lines about it do (docs/observability.md).
  const log = createLogger({ level: config.LOG_LEVEL, name: 'blockrunner-worker' }).child({
    worker: config.BLOCKRUNNER_WORKER_NAME,
  });
  if (config.BLOCKRUNNER_PROCESSES > 1) await supervise(config, workerEnv, log);
  else await work(config, log);
}

async function work(config: WorkerConfig, log: Logger): Promise<void> {
  const handler = await loadHandlerModule(config);
  let linked = (): boolean => false;
  // Before the worker starts, so that a port in use stops it before it takes any height.
  const health =
    config.BLOCKRUNNER_HEALTH_PORT === undefined
      ? undefined
      : await startHealthServer({ port: config.BLOCKRUNNER_HEALTH_PORT, ready: () => linked() });
  if (health) log.info({ port: health.port }, 'health server listening');
  const worker = runWorker(config, handler, log);
  linked = () => worker.linked;
  log.info(
    {
      queues: config.BLOCKRUNNER_QUEUES,
      concurrency: config.BLOCKRUNNER_CONCURRENCY,
      prefetch: config.BLOCKRUNNER_PREFETCH,
      handler: config.BLOCKRUNNER_HANDLER,
    },
    'worker started',
  );

  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'worker stopping');
    void worker.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Under a supervisor: say when welcomed, and never outlive it (docs/operations.md).
  const unwatch = watchParent({ onGone: () => void worker.stop(), log });
  void worker.connected.then(() => tellParent({ type: 'connected' }));
  try {
    await worker.done;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    unwatch();
    await health?.close();
  }
}

/** Children are this same CLI with the same settings (flags included, as variables). */
async function supervise(config: WorkerConfig, workerEnv: Env, log: Logger): Promise<void> {
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const supervisor = new WorkerSupervisor({
    name: config.BLOCKRUNNER_WORKER_NAME,
    processes: config.BLOCKRUNNER_PROCESSES,
    command: (child) => ({
      command: process.execPath,
      args: [cli, 'worker'],
      env: { ...workerEnv, BLOCKRUNNER_PROCESSES: '1', BLOCKRUNNER_WORKER_NAME: child },
    }),
    restartLimit: config.BLOCKRUNNER_RESTART_LIMIT,
    restartWindowMs: config.BLOCKRUNNER_RESTART_WINDOW_MS,
    stopTimeoutMs: config.BLOCKRUNNER_SHUTDOWN_MS + CHILD_STOP_MARGIN_MS,
    log,
  });
  const onSignal = (signal: NodeJS.Signals): void => supervisor.stop(signal);
  // No child outlives a supervisor that ends abnormally.
  const onExit = (): void => supervisor.killAll();
  const onReload = (): void => supervisor.reload();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onReload);
  process.on('exit', onExit);
  const unwatch = watchParent({ onGone: () => supervisor.stop('SIGTERM'), log });
  supervisor.start();
  try {
    // Not thrown: the supervisor already said why in one log line; the CLI would add another.
    process.exitCode = await supervisor.done;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onReload);
    process.off('exit', onExit);
    unwatch();
  }
}

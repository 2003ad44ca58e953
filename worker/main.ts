/**
 * `blockrunner worker`: load config, load the handler, start, stop on SIGTERM/SIGINT.
 * A ConfigError propagates: the CLI prints it as one line and exits 2.
 */
import { type Env, flagsToEnv } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { loadWorkerConfig, workerConfigSchema } from './config.js';
import { loadHandler } from './handler.js';
import { startWorker } from './worker.js';

export async function main(args: string[], env: Env = process.env): Promise<void> {
  const config = loadWorkerConfig(flagsToEnv(workerConfigSchema, args, env));
  const log = createLogger({ level: config.LOG_LEVEL, name: 'blockrunner-worker' });
  const handler = await loadHandler(config);
  const worker = startWorker(config, handler, log);
  log.info(
    {
      workerName: config.BLOCKRUNNER_WORKER_NAME,
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
  try {
    await worker.stopped;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

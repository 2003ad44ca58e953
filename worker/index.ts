/**
 * The package's main entry, `import { startWorker } from 'blockrunner'` (package.json
 * `exports`, docs/workers.md "In your own program"): a worker inside your own program, the
 * handler contract's types and the errors a handler may throw. The HTTP client is the other
 * entry, `blockrunner/client` (shared/client.ts).
 */
import { createLogger } from '../shared/logger.js';
import { loadHandlerModule } from './handler-loader.js';
import { parseWorkerOptions, type WorkerOptions } from './options.js';
import { runWorker, type Worker } from './worker.js';

export {
  ConfigError,
  HandlerSetupError,
  RangeTooLargeError,
  RateLimitedError,
} from '../shared/errors.js';
export type { Logger } from '../shared/logger.js';
export type {
  BlockHashes,
  Handler,
  HandlerContext,
  HandlerHooks,
  HandlerModule,
  HandlerRange,
  HandlerResult,
  RangeBlockHashes,
  RangeHandler,
  RangeHandlerResult,
  RevertContext,
  SetupContext,
} from './handler.js';
export type { WorkerOptions } from './options.js';
export type { Worker } from './worker.js';

/**
 * Starts a worker in this process: it loads the handler (`handlerPath`) or takes `handler`,
 * runs its `setup`, connects to the manager and runs heights until `stop()`. Bad options throw
 * a ConfigError at once; a module that cannot be loaded or a setup that throws rejects `done`.
 * The CLI's `blockrunner worker` runs through the same runWorker.
 */
export function startWorker(options: WorkerOptions): Worker {
  const { config, handler, logger } = parseWorkerOptions(options);
  const log = (
    logger ?? createLogger({ level: config.LOG_LEVEL, name: 'blockrunner-worker' })
  ).child({ worker: config.BLOCKRUNNER_WORKER_NAME });
  const source = handler ?? loadHandlerModule(config, process.cwd(), 'handlerPath');
  return runWorker(config, source, log);
}

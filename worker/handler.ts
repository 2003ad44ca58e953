/**
 * Handlers (DESIGN "Handler"): a module whose default export is `async (height, ctx) => void`.
 * A thrown error or rejection is a failed attempt with its message as lastError. Handlers must
 * be idempotent: a height may run more than once (docs say so).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { WorkerConfig } from './config.js';
import { createFlakyHandler } from './handlers/flaky.js';
import noop from './handlers/noop.js';
import { createSleepHandler } from './handlers/sleep.js';

export interface HandlerContext {
  readonly queue: string;
  /** 1 on the first attempt of this height. */
  readonly attempt: number;
  /** Fires when the manager cancels the height, the link drops, or shutdown runs out of time. */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/** May also return synchronously; a synchronous throw is a failed attempt like a rejection. */
export type Handler = (height: number, ctx: HandlerContext) => Promise<void> | void;

export type HandlerConfig = Pick<
  WorkerConfig,
  'BLOCKRUNNER_HANDLER' | 'BLOCKRUNNER_SLEEP_MS' | 'BLOCKRUNNER_FLAKY_RATE'
>;

const BUILT_IN: Record<string, (config: HandlerConfig) => Handler> = {
  noop: () => noop,
  sleep: (config) => createSleepHandler(config.BLOCKRUNNER_SLEEP_MS),
  flaky: (config) => createFlakyHandler(config.BLOCKRUNNER_FLAKY_RATE),
};

/**
 * A built-in name gives that handler, configured from `config`; anything else is a module path,
 * relative to `cwd`. A module that cannot be loaded or has no function default export is a
 * ConfigError naming BLOCKRUNNER_HANDLER, so the process stops at start with one line.
 */
export async function loadHandler(config: HandlerConfig, cwd = process.cwd()): Promise<Handler> {
  const spec = config.BLOCKRUNNER_HANDLER;
  const builtIn = Object.hasOwn(BUILT_IN, spec) ? BUILT_IN[spec] : undefined;
  if (builtIn) return builtIn(config);

  const url = pathToFileURL(resolve(cwd, spec)).href;
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    throw new ConfigError(
      `BLOCKRUNNER_HANDLER: cannot load "${spec}" (not one of ${Object.keys(BUILT_IN).join(', ')}): ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (typeof module.default !== 'function') {
    throw new ConfigError(
      `BLOCKRUNNER_HANDLER: "${spec}" has no default export function (export default async (height, ctx) => {...})`,
    );
  }
  return module.default as Handler;
}

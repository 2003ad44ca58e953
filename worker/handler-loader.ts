/**
 * Picks the handler a worker runs (BLOCKRUNNER_HANDLER): a built-in (worker/handlers/), or a
 * module loaded from a path. Kept apart from the handler contract (handler.ts), which the
 * built-ins import, so that nothing imports back the module that imports it.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../shared/errors.js';
import type { WorkerConfig } from './config.js';
import type { Handler, HandlerModule } from './handler.js';
import { createFlakyHandler } from './handlers/flaky.js';
import noop from './handlers/noop.js';
import { createSleepHandler } from './handlers/sleep.js';

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
  return (await loadHandlerModule(config, cwd)).handle;
}

/** As loadHandler, with the module's optional `revert` (docs/chains.md). */
export async function loadHandlerModule(
  config: HandlerConfig,
  cwd = process.cwd(),
): Promise<HandlerModule> {
  const spec = config.BLOCKRUNNER_HANDLER;
  const builtIn = Object.hasOwn(BUILT_IN, spec) ? BUILT_IN[spec] : undefined;
  if (builtIn) return { handle: builtIn(config) };

  const url = pathToFileURL(resolve(cwd, spec)).href;
  let module: { default?: unknown; revert?: unknown; close?: unknown };
  try {
    module = (await import(url)) as { default?: unknown; revert?: unknown; close?: unknown };
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
  for (const name of ['revert', 'close'] as const) {
    if (module[name] !== undefined && typeof module[name] !== 'function')
      throw new ConfigError(
        `BLOCKRUNNER_HANDLER: "${spec}" exports a ${name} that is not a function`,
      );
  }
  return {
    handle: module.default as Handler,
    ...(module.revert ? { revert: module.revert as HandlerModule['revert'] } : {}),
    ...(module.close ? { close: module.close as HandlerModule['close'] } : {}),
  };
}

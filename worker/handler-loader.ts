/**
 * Picks the handler a worker runs (BLOCKRUNNER_HANDLER): a built-in (worker/handlers/), or a
 * module loaded from a path. Kept apart from the handler contract (handler.ts), which the
 * built-ins import, so that nothing imports back the module that imports it.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../shared/errors.js';
import type { WorkerConfig } from './config.js';
import type { Handler, HandlerModule, RangeHandler } from './handler.js';
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
  const module = await loadHandlerModule(config, cwd);
  if (!module.handle)
    throw new ConfigError(
      `BLOCKRUNNER_HANDLER: "${config.BLOCKRUNNER_HANDLER}" has no height handler`,
    );
  return module.handle;
}

/** Node's own type stripping: 'strip' or 'transform' on Node 22.18+ and 24, absent on Node 20. */
function stripsTypes(): boolean {
  const features = process.features as { typescript?: string | false };
  return typeof features.typescript === 'string';
}

const TYPESCRIPT = /\.(ts|mts|cts)$/;
const HOOKS = ['setup', 'revert', 'close'] as const;

/**
 * As loadHandler, with the module's optional `setup`, `revert` and `close` (docs/workers.md).
 * The module's default export is the handler, with the others as named exports, or an object
 * `{ handle, setup?, revert?, close? }`; a range handler is a named export `handleRange`, or
 * `{ handleRange, ... }` as the default export. `variable` names the setting in error messages
 * (`handlerPath` for the library's startWorker).
 */
export async function loadHandlerModule(
  config: HandlerConfig,
  cwd = process.cwd(),
  variable = 'BLOCKRUNNER_HANDLER',
): Promise<HandlerModule> {
  const spec = config.BLOCKRUNNER_HANDLER;
  const builtIn = Object.hasOwn(BUILT_IN, spec) ? BUILT_IN[spec] : undefined;
  if (builtIn) return { handle: builtIn(config) };

  if (TYPESCRIPT.test(spec) && !stripsTypes()) {
    throw new ConfigError(
      `${variable}: "${spec}" is TypeScript, which Node ${process.versions.node} cannot load: run the worker on Node 22.18+ or 24, or compile the handler to JavaScript`,
    );
  }
  const url = pathToFileURL(resolve(cwd, spec)).href;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(
      `${variable}: cannot load "${spec}" (not one of ${Object.keys(BUILT_IN).join(', ')}): ${(error as Error).message}`,
      { cause: error },
    );
  }
  const isModuleObject =
    loaded.default !== null &&
    typeof loaded.default === 'object' &&
    (typeof (loaded.default as { handle?: unknown }).handle === 'function' ||
      typeof (loaded.default as { handleRange?: unknown }).handleRange === 'function');
  const exports = isModuleObject
    ? (loaded.default as Record<string, unknown>)
    : { ...loaded, handle: loaded.default };
  const module = handlerOf(exports, spec, variable);
  for (const name of HOOKS) {
    const hook = exports[name];
    if (hook === undefined) continue;
    if (typeof hook !== 'function')
      throw new ConfigError(`${variable}: "${spec}" exports a ${name} that is not a function`);
    Object.assign(module, { [name]: hook });
  }
  return module;
}

/**
 * The module's handler: a function `handle` (the default export), or a function `handleRange`
 * (docs/workers.md, "Range handlers"); exactly one of the two.
 */
function handlerOf(
  exports: Record<string, unknown>,
  spec: string,
  variable: string,
): HandlerModule {
  const { handle, handleRange } = exports;
  if (handleRange !== undefined) {
    if (typeof handleRange !== 'function')
      throw new ConfigError(`${variable}: "${spec}" exports a handleRange that is not a function`);
    if (handle !== undefined)
      throw new ConfigError(
        `${variable}: "${spec}" has both a height handler and handleRange: export one of the two`,
      );
    return { handleRange: handleRange as RangeHandler };
  }
  if (typeof handle !== 'function') {
    throw new ConfigError(
      `${variable}: "${spec}" has no default export function (export default async (height, ctx) => {...}) and no handleRange`,
    );
  }
  return { handle: handle as Handler };
}

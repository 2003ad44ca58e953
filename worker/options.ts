/**
 * The options of the library's startWorker (worker/index.ts, docs/workers.md "In your own
 * program"), checked by zod and turned into the same WorkerConfig the CLI's variables give:
 * each option is written as its variable and parsed by worker/config.ts's schema, so the bounds
 * and defaults of `concurrency` and `BLOCKRUNNER_CONCURRENCY` cannot drift apart. Errors name
 * the option, not the variable.
 */
import { z } from 'zod';
import type { Env, LOG_LEVELS } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { type WorkerConfig, withDefaults, workerConfigSchema } from './config.js';
import type { HandlerModule } from './handler.js';

// biome-ignore lint/suspicious/noExplicitAny: a module typed with its own State must fit here.
type AnyState = any;

export interface WorkerOptions {
  /** The handler, or a module with `handle` and optional `setup`, `revert`, `close`. */
  handler?: HandlerModule<AnyState>['handle'] | HandlerModule<AnyState>;
  /** Instead of `handler`: a module file to import (as BLOCKRUNNER_HANDLER), or a built-in name. */
  handlerPath?: string;
  /** The manager's WebSocket URL (`ws://host:8080/v1/ws`), or several, tried in turn. */
  managerUrl: string | readonly string[];
  /** The queues to take heights from, in order of preference. */
  queues: readonly string[];
  /** Handlers running at once. Default 16. */
  concurrency?: number;
  /** Heights held beyond the running ones. Default: equal to concurrency. */
  prefetch?: number;
  /** The manager's BLOCKRUNNER_WORKER_TOKEN. Default none. */
  token?: string;
  /** Shown in /v1/workers. Default `<host name>-<process id>`. */
  name?: string;
  /** For the logger made when `logger` is not given. Default info. */
  logLevel?: (typeof LOG_LEVELS)[number];
  /** A pino logger of your own; every line of the worker goes through it. */
  logger?: Logger;
  /** How long stop() lets running handlers, reverts and close() take. Default 10000. */
  shutdownMs?: number;
  /** Must match the manager's BLOCKRUNNER_HEARTBEAT_MS. Default 15000. */
  heartbeatMs?: number;
  /** Heights after which the worker stops by itself. Default 0 (never). */
  maxJobs?: number;
}

/** Each option that has a variable, and that variable. */
const VARIABLES = {
  managerUrl: 'BLOCKRUNNER_MANAGER_URL',
  queues: 'BLOCKRUNNER_QUEUES',
  concurrency: 'BLOCKRUNNER_CONCURRENCY',
  prefetch: 'BLOCKRUNNER_PREFETCH',
  token: 'BLOCKRUNNER_WORKER_TOKEN',
  name: 'BLOCKRUNNER_WORKER_NAME',
  logLevel: 'LOG_LEVEL',
  shutdownMs: 'BLOCKRUNNER_SHUTDOWN_MS',
  heartbeatMs: 'BLOCKRUNNER_HEARTBEAT_MS',
  maxJobs: 'BLOCKRUNNER_MAX_JOBS',
  handlerPath: 'BLOCKRUNNER_HANDLER',
} as const satisfies Partial<Record<keyof WorkerOptions, keyof typeof workerConfigSchema.shape>>;

const isFunction = (value: unknown) => typeof value === 'function';
const handlerSchema = z.custom<NonNullable<WorkerOptions['handler']>>(
  (value) =>
    isFunction(value) ||
    (typeof value === 'object' &&
      value !== null &&
      isFunction(
        (value as { handle?: unknown }).handle ?? (value as { handleRange?: unknown }).handleRange,
      ) &&
      (['setup', 'revert', 'close'] as const).every((hook) => {
        const fn = (value as Record<string, unknown>)[hook];
        return fn === undefined || isFunction(fn);
      })),
  'expected a function, or an object whose handle or handleRange (and setup, revert, close if given) are functions',
);
const strings = z.union([z.string(), z.array(z.string()).min(1)]);
const whole = z.number().finite().optional();

/** The options' JavaScript types; their values are checked by workerConfigSchema after. */
const optionsSchema = z
  .strictObject({
    handler: handlerSchema.optional(),
    handlerPath: z.string().min(1).optional(),
    managerUrl: strings,
    queues: z.array(z.string()).min(1),
    concurrency: whole,
    prefetch: whole,
    token: z.string().optional(),
    name: z.string().optional(),
    logLevel: z.string().optional(),
    logger: z
      .custom<Logger>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          isFunction((value as { child?: unknown }).child),
        'expected a pino logger',
      )
      .optional(),
    shutdownMs: whole,
    heartbeatMs: whole,
    maxJobs: whole,
  })
  .refine((options) => (options.handler === undefined) !== (options.handlerPath === undefined), {
    message: 'give exactly one of handler and handlerPath',
    path: ['handler'],
  });

export interface ParsedOptions {
  config: WorkerConfig;
  /** Undefined when `handlerPath` names what to load. */
  handler: WorkerOptions['handler'];
  logger: Logger | undefined;
}

/** Checks `options`; every problem is reported at once in one ConfigError naming the options. */
export function parseWorkerOptions(options: WorkerOptions): ParsedOptions {
  const shape = optionsSchema.safeParse(options);
  if (!shape.success) throw optionsError(shape.error.issues);
  const given = shape.data;
  const env: Env = {};
  for (const [option, variable] of Object.entries(VARIABLES)) {
    const value = given[option as keyof typeof VARIABLES];
    if (value === undefined) continue;
    env[variable] = Array.isArray(value) ? value.join(',') : String(value);
  }
  const parsed = workerConfigSchema.safeParse(env);
  if (!parsed.success) {
    const option = Object.fromEntries(Object.entries(VARIABLES).map(([o, v]) => [v, o]));
    throw optionsError(
      parsed.error.issues.map((issue) => ({
        ...issue,
        path: issue.path.map((key) => option[String(key)] ?? key),
      })),
    );
  }
  return { config: withDefaults(parsed.data), handler: given.handler, logger: given.logger };
}

function optionsError(issues: readonly { path: readonly PropertyKey[]; message: string }[]) {
  const problems = issues.map((issue) => {
    const where = issue.path.map(String).join('.');
    return where === '' ? issue.message : `${where}: ${issue.message}`;
  });
  return new ConfigError(`startWorker: invalid options: ${problems.join('; ')}`);
}

/**
 * The worker's configuration (README.md, "Configuration"); every default sits beside its
 * variable. The README's table and cli/usage.ts's notes list the same variables: change them
 * together.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import {
  type Env,
  integer,
  LOG_LEVELS,
  list,
  oneOf,
  parseConfig,
  secret,
  text,
} from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { MAX_HEIGHTS_PER_FRAME, queueNameSchema } from '../shared/protocol.js';

const MAX_CONCURRENCY = 10_000;

const managerUrlSchema = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === 'ws:' || url.protocol === 'wss:';
  } catch {
    return false;
  }
}, 'expected a ws:// or wss:// URL');

/** A share from 0 to 1 written as a decimal ("0.25", "1"); unset or empty means the default. */
function share(fallback: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return fallback;
      const value = Number(raw.trim());
      if (!/^(\d+(\.\d*)?|\.\d+)$/.test(raw.trim()) || value > 1) {
        ctx.addIssue({ code: 'custom', message: `expected a decimal from 0 to 1, got "${raw}"` });
        return z.NEVER;
      }
      return value;
    });
}

/** Like `integer`, but unset stays undefined so another variable can supply the default. */
function optionalInteger(min: number, max: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const value = Number(raw.trim());
      if (!/^\d+$/.test(raw.trim()) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a whole number from ${min} to ${max}, got "${raw.trim()}"`,
        });
        return z.NEVER;
      }
      return value;
    });
}

export const workerConfigSchema = z.object({
  /** Manager WebSocket URLs, comma-separated, tried in turn. Default ws://127.0.0.1:8080/v1/ws */
  BLOCKRUNNER_MANAGER_URL: list(['ws://127.0.0.1:8080/v1/ws'], managerUrlSchema),
  /** Sent as `Authorization: Bearer <token>` at the upgrade. Default unset (open manager). */
  BLOCKRUNNER_WORKER_TOKEN: secret(),
  /** Queues this worker takes heights from, comma-separated. Default `default`. */
  BLOCKRUNNER_QUEUES: list(['default'], queueNameSchema).pipe(
    z.array(z.string()).max(64, 'expected at most 64 queues'),
  ),
  /** Handlers running at once. Default 16. */
  BLOCKRUNNER_CONCURRENCY: integer(16, 1, MAX_CONCURRENCY),
  /**
   * Heights held beyond the running ones, so the worker never runs dry while the next dispatch
   * travels. Default: equal to BLOCKRUNNER_CONCURRENCY. Capacity in hello = concurrency + prefetch.
   */
  BLOCKRUNNER_PREFETCH: optionalInteger(0, MAX_HEIGHTS_PER_FRAME - MAX_CONCURRENCY),
  /**
   * `noop`, `sleep`, `flaky`, or a path (from the working directory) to a module: JavaScript, or
   * TypeScript where Node strips types (22.18+, 24; docs/workers.md). Default noop.
   */
  BLOCKRUNNER_HANDLER: text('noop'),
  /** How long the `sleep` handler sleeps per height. Default 10. */
  BLOCKRUNNER_SLEEP_MS: integer(10, 0, 3_600_000),
  /** Share of attempts the `flaky` handler fails, 0 to 1. Default 0.5. */
  BLOCKRUNNER_FLAKY_RATE: share(0.5),
  /** Shown in /v1/workers. Default `<host name>-<process id>`. */
  BLOCKRUNNER_WORKER_NAME: text(`${hostname()}-${process.pid}`).pipe(
    z.string().max(200, 'expected at most 200 characters'),
  ),
  /** On SIGTERM, how long running handlers may take before they are aborted. Default 10000. */
  BLOCKRUNNER_SHUTDOWN_MS: integer(10_000, 0, 600_000),
  /**
   * The manager pings at this interval; a link silent for 2.5 intervals is dropped and
   * reconnected. Must match the manager's BLOCKRUNNER_HEARTBEAT_MS. Default 15000.
   */
  BLOCKRUNNER_HEARTBEAT_MS: integer(15_000, 10, 600_000),
  /**
   * Worker loops run as child processes by a supervisor that restarts them (worker/supervisor.ts,
   * docs/workers.md). Default 1: no supervisor, this process is the worker.
   */
  BLOCKRUNNER_PROCESSES: integer(1, 1, 256),
  /**
   * Heights after which a worker retires (hands back what it holds, finishes what runs, exits 0)
   * so its supervisor starts a fresh process: for handlers that leak memory. Default 0 (never).
   */
  BLOCKRUNNER_MAX_JOBS: integer(0, 0, Number.MAX_SAFE_INTEGER),
  /** Child crashes the supervisor tolerates within the window; one more and it exits 1. Default 5. */
  BLOCKRUNNER_RESTART_LIMIT: integer(5, 0, 1_000_000),
  /** The window of BLOCKRUNNER_RESTART_LIMIT. Default 60000. */
  BLOCKRUNNER_RESTART_WINDOW_MS: integer(60_000, 1, 86_400_000),
  /**
   * Serve GET /healthz and /readyz on this port (worker/health-server.ts, docs/deployment.md,
   * "Kubernetes"); 0 picks a free one. Only with BLOCKRUNNER_PROCESSES=1. Default unset: no port.
   */
  BLOCKRUNNER_HEALTH_PORT: optionalInteger(0, 65_535),
  /** Default info. */
  LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
});

export type ParsedWorkerConfig = z.output<typeof workerConfigSchema>;

export type WorkerConfig = Readonly<
  Omit<ParsedWorkerConfig, 'BLOCKRUNNER_PREFETCH'> & { BLOCKRUNNER_PREFETCH: number }
>;

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const config = withDefaults(parseConfig(workerConfigSchema, env));
  // A supervisor's probe could not say which of its children is linked: on a container
  // platform, scale processes as replicas, one worker each (docs/deployment.md, "Kubernetes").
  if (config.BLOCKRUNNER_HEALTH_PORT !== undefined && config.BLOCKRUNNER_PROCESSES > 1)
    throw new ConfigError(
      'invalid configuration: BLOCKRUNNER_HEALTH_PORT: serves one worker process; unset it or set BLOCKRUNNER_PROCESSES=1 (run more replicas instead)',
    );
  return config;
}

/** The defaults that depend on another variable; worker/options.ts uses it too. */
export function withDefaults(parsed: ParsedWorkerConfig): WorkerConfig {
  return Object.freeze({
    ...parsed,
    BLOCKRUNNER_PREFETCH: parsed.BLOCKRUNNER_PREFETCH ?? parsed.BLOCKRUNNER_CONCURRENCY,
  });
}

/** Heights the worker may hold at once (running plus buffered), sent in hello. */
export function capacityOf(config: WorkerConfig): number {
  return config.BLOCKRUNNER_CONCURRENCY + config.BLOCKRUNNER_PREFETCH;
}

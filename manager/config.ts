/**
 * The manager's configuration (README.md, "Configuration"); every default sits beside its
 * variable. The README's table and cli/usage.ts's notes list the same variables: change them
 * together.
 */
import { z } from 'zod';
import {
  type Env,
  integer,
  LOG_LEVELS,
  oneOf,
  optionalText,
  parseConfig,
  postgresUrl,
  secret,
  text,
} from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';

export const managerConfigSchema = z.object({
  /**
   * PostgreSQL connection string. Default unset: an embedded database (PGlite) under
   * BLOCKRUNNER_DATA_DIR, for trying Blockrunner out; one manager, no standby
   * (manager/store/embedded-database.ts, docs/deployment.md). A value that is not a
   * connection string pg can use stops the manager with exit 2, its password never shown.
   */
  DATABASE_URL: postgresUrl(),
  /**
   * A direct (session) connection to the same database, for the two session advisory locks
   * (the leader lock and the migrations' lock) when DATABASE_URL goes through a pooler in
   * transaction mode, such as PgBouncer's pool_mode=transaction (docs/deployment.md, "Managed
   * PostgreSQL and poolers"). Only with DATABASE_URL. Default unset: DATABASE_URL serves both.
   */
  BLOCKRUNNER_DIRECT_DATABASE_URL: postgresUrl(),
  /** Where the embedded database lives when DATABASE_URL is unset. Default ./.blockrunner */
  BLOCKRUNNER_DATA_DIR: text('./.blockrunner'),
  /** Interface to listen on. Default 127.0.0.1: expose on purpose, not by accident. */
  HOST: text('127.0.0.1'),
  /** HTTP and WebSocket port. Default 8080; 0 picks a free one (logged at start). */
  PORT: integer(8080, 0, 65_535),
  /** When set, every /v1 HTTP route needs `Authorization: Bearer <token>`. Default unset (open). */
  BLOCKRUNNER_API_TOKEN: secret(),
  /** When set, workers must present it at the WebSocket upgrade. Default unset (open). */
  BLOCKRUNNER_WORKER_TOKEN: secret(),
  /** How long a worker holds a height before the attempt counts as failed. Default 30000. */
  BLOCKRUNNER_LEASE_MS: integer(30_000, 10, 86_400_000),
  /** Attempts before a height is dead-lettered as failed. Default 5. */
  BLOCKRUNNER_MAX_ATTEMPTS: integer(5, 1, 1_000),
  /** Backoff before the first retry; doubles per attempt, with jitter. Default 1000. */
  BLOCKRUNNER_RETRY_BASE_MS: integer(1_000, 0, 86_400_000),
  /** Longest backoff between two attempts. Default 60000. */
  BLOCKRUNNER_RETRY_MAX_MS: integer(60_000, 0, 86_400_000),
  /** On SIGTERM, how long in-flight heights may take to report before the manager stops. Default 10000. */
  BLOCKRUNNER_SHUTDOWN_MS: integer(10_000, 0, 600_000),
  /** Interval of WebSocket pings; a worker silent for two of them is dropped. Default 15000. */
  BLOCKRUNNER_HEARTBEAT_MS: integer(15_000, 50, 600_000),
  /** PEM certificate file: with BLOCKRUNNER_TLS_KEY, serve HTTPS and wss://. Default unset (plain). */
  BLOCKRUNNER_TLS_CERT: optionalText(),
  /** PEM private key file of BLOCKRUNNER_TLS_CERT. Default unset. */
  BLOCKRUNNER_TLS_KEY: optionalText(),
  LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
});

export type ManagerConfig = Readonly<z.output<typeof managerConfigSchema>>;

export function loadManagerConfig(env: Env = process.env): ManagerConfig {
  const config = parseConfig(managerConfigSchema, env);
  if (config.BLOCKRUNNER_DIRECT_DATABASE_URL !== undefined && config.DATABASE_URL === undefined)
    throw new ConfigError(
      'invalid configuration: BLOCKRUNNER_DIRECT_DATABASE_URL: needs DATABASE_URL (the embedded database takes no second URL)',
    );
  return config;
}

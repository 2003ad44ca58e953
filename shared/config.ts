/**
 * Configuration from environment variables, one zod schema per process (manager/config.ts,
 * worker/config.ts). Each key of a schema is the variable's name; CLI flags mirror them
 * (see flagsToEnv). A bad value stops the process with one line naming every bad variable.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError } from './errors.js';

export type Env = Record<string, string | undefined>;

function present(raw: string | undefined): raw is string {
  return raw !== undefined && raw.trim() !== '';
}

/** A whole number within bounds; unset or empty means the default. */
export function integer(fallback: number, min: number, max: number) {
  return wholeNumber(fallback, min, max);
}

/** A whole number within bounds; unset or empty means undefined (the other side's default). */
export function optionalInteger(min: number, max: number) {
  return wholeNumber(undefined, min, max);
}

function wholeNumber<F extends number | undefined>(fallback: F, min: number, max: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): number | F => {
      if (!present(raw)) return fallback;
      const text = raw.trim();
      const value = Number(text);
      if (!/^\d+$/.test(text) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a whole number from ${min} to ${max}, got "${text}"`,
        });
        return z.NEVER;
      }
      return value;
    });
}

export function text(fallback: string) {
  return z
    .string()
    .optional()
    .transform((raw) => (present(raw) ? raw.trim() : fallback));
}

/** A value that must never be printed, not even in an error. Unset or empty means none. */
export function secret() {
  return z
    .string()
    .optional()
    .transform((raw) => (present(raw) ? raw : undefined));
}

export function optionalText() {
  return z
    .string()
    .optional()
    .transform((raw) => (present(raw) ? raw.trim() : undefined));
}

/** The form every DATABASE_URL message shows; a password is always written as ***. */
export const POSTGRES_URL_FORM = 'postgres://user:***@host:5432/db';

/**
 * Why `value` is not a connection string that `pg` can use, or undefined when it is:
 * postgres:// or postgresql:// with a host (or a `host` query parameter naming a socket
 * directory), socket:/dir, or a socket directory path. The problem never quotes the value,
 * which may hold a password.
 */
export function postgresUrlProblem(value: string): string | undefined {
  // pg-connection-string reads a leading / as "socket directory [database]".
  if (value.startsWith('/')) return undefined;
  // As pg-connection-string does before parsing: spaces and stray % become escapes.
  const text = /\s|%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(value)
    ? encodeURI(value).replace(/%25(\d\d)/g, '%$1')
    : value;
  let url: URL | undefined;
  for (const candidate of [text, text.replace('@/', '@host-from-query/')]) {
    try {
      url = new URL(candidate);
      break;
    } catch {
      // Not a URL as written; pg retries `user@/db?host=...` with a placeholder host.
    }
  }
  if (url === undefined) return `not a PostgreSQL URL (${POSTGRES_URL_FORM})`;
  if (url.protocol === 'socket:') {
    return url.pathname === ''
      ? `socket: without a directory (socket:/var/run/postgresql)`
      : undefined;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    return `expected postgres:// or postgresql://, got ${url.protocol} (${POSTGRES_URL_FORM})`;
  }
  const queryHost = url.searchParams.get('host') ?? '';
  const host = url.hostname === 'host-from-query' ? '' : url.hostname;
  if (host === '' && queryHost === '') {
    return `no host (${POSTGRES_URL_FORM}, or ?host=/var/run/postgresql for a socket)`;
  }
  return undefined;
}

/** A PostgreSQL connection string (see postgresUrlProblem). Unset or empty means none. */
export function postgresUrl() {
  return z
    .string()
    .optional()
    .transform((raw, ctx): string | undefined => {
      if (!present(raw)) return undefined;
      const value = raw.trim();
      const problem = postgresUrlProblem(value);
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return value;
    });
}

/** A comma-separated list whose items each pass `item`. */
export function list(fallback: string[], item: z.ZodType<string>) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (!present(raw)) return fallback;
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      for (const value of items) {
        const result = item.safeParse(value);
        if (!result.success) {
          ctx.addIssue({
            code: 'custom',
            message: `"${value}": ${result.error.issues[0]?.message ?? 'invalid'}`,
          });
          return z.NEVER;
        }
      }
      return items.length > 0 ? items : fallback;
    });
}

export function oneOf<const T extends readonly [string, ...string[]]>(
  values: T,
  fallback: T[number],
) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (!present(raw)) return fallback;
      const value = raw.trim() as T[number];
      if (!values.includes(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `expected one of ${values.join(', ')}, got "${raw}"`,
        });
        return z.NEVER;
      }
      return value;
    });
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Parses `env` with `schema`, reporting every bad variable at once, and freezes the result. */
export function parseConfig<S extends z.ZodObject>(schema: S, env: Env): Readonly<z.output<S>> {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) picked[key] = env[key];
  const result = schema.safeParse(picked);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return Object.freeze(result.data);
}

/** `--lease-ms` for BLOCKRUNNER_LEASE_MS, `--port` for PORT, `--database-url` for DATABASE_URL. */
export function flagName(variable: string): string {
  return variable
    .replace(/^BLOCKRUNNER_/, '')
    .toLowerCase()
    .replaceAll('_', '-');
}

/**
 * Overlays command-line flags on the environment: every variable of `schema` gets a flag
 * named by flagName. Unknown flags and stray arguments are a ConfigError.
 */
export function flagsToEnv(schema: z.ZodObject, args: string[], env: Env): Env {
  const variables = Object.keys(schema.shape);
  const options = Object.fromEntries(
    variables.map((variable) => [flagName(variable), { type: 'string' as const }]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const overlay: Env = { ...env };
  for (const variable of variables) {
    const value = values[flagName(variable)];
    if (typeof value === 'string') overlay[variable] = value;
  }
  return overlay;
}

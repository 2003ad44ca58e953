/**
 * Flags of the client commands (enqueue, status, failed, retry), checked by a zod schema
 * through parseConfig like the processes' own configuration. Keys are the variables a flag
 * mirrors (BLOCKRUNNER_URL for --url) or, for flags without a variable, the flag itself, so
 * every error names what the user typed. cli/usage.ts documents the same flags.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { type Env, parseConfig, secret } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { queueNameSchema } from '../shared/protocol.js';
import { parseHeight } from './height-args.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

function present(raw: string | undefined): raw is string {
  return raw !== undefined && raw.trim() !== '';
}

/** The manager's base URL, without a trailing slash (a path prefix behind a proxy is kept). */
export function httpUrl(fallback: string) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const text = present(raw) ? raw.trim() : fallback;
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        url = new URL('invalid:');
      }
      if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash) {
        ctx.addIssue({
          code: 'custom',
          message: `expected an http:// or https:// URL like ${DEFAULT_URL}, got "${text}"`,
        });
        return z.NEVER;
      }
      return url.href.replace(/\/+$/, '');
    });
}

/** A queue name; unset means `fallback`. */
export function queueName<F extends string | undefined>(fallback: F) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): string | F => {
      if (!present(raw)) return fallback;
      const result = queueNameSchema.safeParse(raw.trim());
      if (!result.success) {
        ctx.addIssue({
          code: 'custom',
          message: `"${raw}": ${result.error.issues[0]?.message ?? 'invalid queue name'}`,
        });
        return z.NEVER;
      }
      return result.data;
    });
}

/** One height (see cli/height-args.ts); unset means undefined. */
export function optionalHeight() {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (!present(raw)) return undefined;
      const height = parseHeight(raw.trim());
      if (!height.ok) {
        ctx.addIssue({ code: 'custom', message: `"${raw}": ${height.problem}` });
        return z.NEVER;
      }
      return height.value;
    });
}

/** Flags every client command takes. */
export const connectionShape = {
  /** The manager's HTTP address. Default http://127.0.0.1:8080 */
  BLOCKRUNNER_URL: httpUrl(DEFAULT_URL),
  /** Sent as `Authorization: Bearer <token>`. Default unset. */
  BLOCKRUNNER_API_TOKEN: secret(),
};

/** `env`: the variable the flag mirrors; its schema key. Without one, the key is `--<flag>`. */
type StringFlag = { type: 'string'; short?: string; env?: string };
type BooleanFlag = { type: 'boolean'; short?: string };
export type FlagSpec = Record<string, StringFlag | BooleanFlag>;

/** --url, --token and --json, shared by every client command. */
export const connectionFlags = {
  url: { type: 'string', env: 'BLOCKRUNNER_URL' },
  token: { type: 'string', env: 'BLOCKRUNNER_API_TOKEN' },
  json: { type: 'boolean' },
} as const satisfies FlagSpec;

export interface ParsedArgs<S extends z.ZodObject> {
  config: Readonly<z.output<S>>;
  flags: Record<string, boolean>;
  positionals: string[];
}

/**
 * Parses `args` against `flags` and checks the string ones with `schema`: a flag's value
 * wins over its variable in `env`. Unknown flags and stray arguments are a ConfigError.
 */
export function parseClientArgs<S extends z.ZodObject>(
  command: string,
  schema: S,
  flags: FlagSpec,
  args: string[],
  env: Env,
  options: { positionals?: boolean } = {},
): ParsedArgs<S> {
  const parseOptions = Object.fromEntries(
    Object.entries(flags).map(([name, flag]) => [
      name,
      flag.short === undefined ? { type: flag.type } : { type: flag.type, short: flag.short },
    ]),
  );
  // `enqueue -5` must reach the height parser ("cannot be negative"), not fail as an unknown option.
  const negatives = options.positionals ? negativeNumbers(args, flags) : new Set<number>();
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: args.filter((_, i) => !negatives.has(i)),
      options: parseOptions,
      strict: true,
      allowPositionals: options.positionals ?? false,
    }));
  } catch (error) {
    // node's message goes on to explain `--`; its first sentence is the part that matters.
    const first = (error as Error).message.split(/\.\s/)[0] ?? 'bad arguments';
    throw new ConfigError(`${command}: ${first} (see blockrunner ${command} --help)`);
  }
  // Variables the schema reads without a flag (up's BLOCKRUNNER_SHUTDOWN_MS) come from env.
  const input: Env = { ...env };
  const booleans: Record<string, boolean> = {};
  for (const [name, flag] of Object.entries(flags)) {
    const value = values[name];
    if (flag.type === 'boolean') {
      booleans[name] = value === true;
    } else if (flag.env !== undefined) {
      input[flag.env] = typeof value === 'string' ? value : env[flag.env];
    } else {
      input[`--${name}`] = typeof value === 'string' ? value : undefined;
    }
  }
  const stray = [...negatives].map((i) => args[i] ?? '');
  return {
    config: parseConfig(schema, input),
    flags: booleans,
    positionals: [...positionals, ...stray],
  };
}

/** Indexes of arguments like `-5` or `-5..3` that are not the value of a string flag. */
function negativeNumbers(args: string[], flags: FlagSpec): Set<number> {
  const found = new Set<number>();
  const takesValue = (arg: string) => {
    if (arg.includes('=')) return false;
    const flag = arg.startsWith('--')
      ? flags[arg.slice(2)]
      : Object.values(flags).find((f) => arg.length === 2 && f.short === arg[1]);
    return flag?.type === 'string';
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') break;
    if (/^-\d/.test(arg)) found.add(i);
    else if (takesValue(arg)) i++;
  }
  return found;
}

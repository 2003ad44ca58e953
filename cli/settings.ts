/**
 * `blockrunner settings --queue Q [--priority N] [--range-size N] [--rate R|none]
 * [--max-in-flight N|none]`: changes the queue's settings (PUT /v1/queues/:queue/settings) and
 * prints them; with no change asked, prints them (GET). docs/api.md, "Queue settings".
 */
import { z } from 'zod';
import { type QueueSettings, SETTINGS_LIMITS } from '../shared/api-schemas.js';
import { Client } from '../shared/client.js';
import { type Env, optionalInteger } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { connectionFlags, connectionShape, parseClientArgs, queueName } from './client-options.js';

/** A number within bounds, or `none` for no bound (null); unset means unchanged. */
function boundOrNone(min: number, max: number, whole: boolean) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): number | null | undefined => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const text = raw.trim();
      if (text === 'none') return null;
      const value = Number(text);
      const shape = whole ? /^\d+$/ : /^\d+(\.\d+)?$/;
      if (!shape.test(text) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected ${whole ? 'a whole number' : 'a number'} from ${min} to ${max}, or "none", got "${text}"`,
        });
        return z.NEVER;
      }
      return value;
    });
}

/** A whole number that may be negative, within ±limit. */
function signedInteger(limit: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): number | undefined => {
      if (raw === undefined || raw.trim() === '') return undefined;
      const text = raw.trim();
      const value = Number(text);
      if (!/^-?\d+$/.test(text) || Math.abs(value) > limit) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a whole number from -${limit} to ${limit}, got "${text}"`,
        });
        return z.NEVER;
      }
      return value;
    });
}

const schema = z.object({
  ...connectionShape,
  /** Required. */
  '--queue': queueName(undefined),
  '--priority': signedInteger(SETTINGS_LIMITS.priority),
  '--range-size': optionalInteger(1, SETTINGS_LIMITS.rangeSize),
  '--rate': boundOrNone(Number.MIN_VALUE, SETTINGS_LIMITS.ratePerSecond, false),
  '--max-in-flight': boundOrNone(1, SETTINGS_LIMITS.maxInFlight, true),
});

const flags = {
  ...connectionFlags,
  queue: { type: 'string', short: 'q' },
  priority: { type: 'string' },
  'range-size': { type: 'string' },
  rate: { type: 'string' },
  'max-in-flight': { type: 'string' },
} as const;

export async function settings(args: string[], env: Env): Promise<void> {
  const { config, flags: set } = parseClientArgs('settings', schema, flags, args, env);
  const queue = config['--queue'];
  if (queue === undefined)
    throw new ConfigError('settings: --queue is required (see blockrunner settings --help)');
  const change: Partial<QueueSettings> = {
    priority: config['--priority'],
    rangeSize: config['--range-size'],
    ratePerSecond: config['--rate'],
    maxInFlight: config['--max-in-flight'],
  };
  const client = new Client({ url: config.BLOCKRUNNER_URL, token: config.BLOCKRUNNER_API_TOKEN });
  // JSON.stringify leaves out the settings not asked for: they stay as they are.
  const { body, raw } = Object.values(change).some((value) => value !== undefined)
    ? await client.answers.updateSettings(queue, change)
    : await client.answers.settings(queue);
  if (set.json) {
    process.stdout.write(`${raw.trim()}\n`);
    return;
  }
  process.stdout.write(`${settingsLine(queue, body)}\n`);
}

/** `queue eth: priority 0, range size 1, rate 200/s, max in flight none` */
export function settingsLine(queue: string, value: QueueSettings): string {
  const rate = value.ratePerSecond === null ? 'none' : `${value.ratePerSecond}/s`;
  const inFlight = value.maxInFlight === null ? 'none' : String(value.maxInFlight);
  return `queue ${queue}: priority ${value.priority}, range size ${value.rangeSize}, rate ${rate}, max in flight ${inFlight}`;
}

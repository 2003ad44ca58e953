/**
 * Dead letters (docs/api.md, "States"): `blockrunner failed` lists them, `blockrunner retry`
 * requeues them, through GET /v1/queues/:queue/failed and POST /v1/queues/:queue/failed/retry.
 */
import { z } from 'zod';
import { Client } from '../shared/client.js';
import { type Env, integer } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import {
  connectionFlags,
  connectionShape,
  optionalHeight,
  parseClientArgs,
  queueName,
} from './client-options.js';

const failedSchema = z.object({
  ...connectionShape,
  /** Default "default". */
  '--queue': queueName('default'),
  /** Most heights listed, up to the API's 10000. Default 100. */
  '--limit': integer(100, 1, 10_000),
  /** List heights above this one (the `next` of an earlier page). Default unset. */
  '--after': optionalHeight(),
});

const failedFlags = {
  ...connectionFlags,
  queue: { type: 'string', short: 'q' },
  limit: { type: 'string' },
  after: { type: 'string' },
} as const;

export async function failed(args: string[], env: Env): Promise<void> {
  const { config, flags } = parseClientArgs('failed', failedSchema, failedFlags, args, env);
  const queue = config['--queue'];
  const client = new Client({
    url: config.BLOCKRUNNER_URL,
    token: config.BLOCKRUNNER_API_TOKEN,
  });
  const after = config['--after'];
  const { body, raw } = await client.answers.failed(queue, {
    limit: config['--limit'],
    ...(after === undefined ? {} : { after }),
  });
  if (flags.json) {
    process.stdout.write(`${raw.trim()}\n`);
    return;
  }
  // Rows on stdout (one per height, for scripts), remarks on stderr.
  for (const item of body.items) {
    const error = item.lastError.replace(/\s+/g, ' ').trim();
    process.stdout.write(`${item.height} ${item.attempts} ${error}\n`);
  }
  if (body.items.length === 0) process.stderr.write(`queue ${queue}: no failed heights\n`);
  if (body.next !== null) {
    process.stderr.write(
      `more after height ${body.next}: blockrunner failed --queue ${queue} --after ${body.next}\n`,
    );
  }
}

const retrySchema = z.object({
  ...connectionShape,
  /** Default "default". */
  '--queue': queueName('default'),
  /** Lowest height to requeue. Default unset: 0 when --to is given, else every dead letter. */
  '--from': optionalHeight(),
  /** Highest height to requeue. Default unset: 2^53-1 when --from is given. */
  '--to': optionalHeight(),
});

const retryFlags = {
  ...connectionFlags,
  queue: { type: 'string', short: 'q' },
  from: { type: 'string' },
  to: { type: 'string' },
} as const;

export async function retry(args: string[], env: Env): Promise<void> {
  const { config, flags } = parseClientArgs('retry', retrySchema, retryFlags, args, env);
  const from = config['--from'];
  const to = config['--to'];
  let range: { from: number; to: number } | undefined;
  if (from !== undefined || to !== undefined) {
    range = { from: from ?? 0, to: to ?? Number.MAX_SAFE_INTEGER };
    if (range.from > range.to) {
      throw new ConfigError(`retry: --from ${range.from} is above --to ${range.to}`);
    }
  }
  const client = new Client({
    url: config.BLOCKRUNNER_URL,
    token: config.BLOCKRUNNER_API_TOKEN,
  });
  const answer = await client.answers.retry(config['--queue'], range);
  process.stdout.write(
    flags.json ? `${answer.raw.trim()}\n` : `requeued ${answer.body.requeued}\n`,
  );
}

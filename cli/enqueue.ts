/** `blockrunner enqueue [--queue Q] [--force] 100..200 7 9`: POST /v1/queues/:queue/heights. */
import { z } from 'zod';
import { Client } from '../shared/client.js';
import type { Env } from '../shared/config.js';
import { connectionFlags, connectionShape, parseClientArgs, queueName } from './client-options.js';
import { parseHeightArgs } from './height-args.js';

const schema = z.object({
  ...connectionShape,
  /** Queue to add to. Default "default". */
  '--queue': queueName('default'),
});

const flags = {
  ...connectionFlags,
  queue: { type: 'string', short: 'q' },
  force: { type: 'boolean' },
} as const;

/** Well under the API's 100,000 ranges and its body size limit. */
const RANGES_PER_REQUEST = 10_000;

export async function enqueue(args: string[], env: Env): Promise<void> {
  const {
    config,
    flags: set,
    positionals,
  } = parseClientArgs('enqueue', schema, flags, args, env, {
    positionals: true,
  });
  const ranges = parseHeightArgs(positionals);
  const queue = config['--queue'];
  const client = new Client({
    url: config.BLOCKRUNNER_URL,
    token: config.BLOCKRUNNER_API_TOKEN,
  });
  let added = 0;
  let skipped = 0;
  // One request, unless so many disjoint ranges were given that the body would pass the
  // manager's limits; the counts are then summed.
  for (let start = 0; start < ranges.length; start += RANGES_PER_REQUEST) {
    const chunk = ranges.slice(start, start + RANGES_PER_REQUEST);
    const options = set.force ? { force: true } : {};
    const answer = await client.answers.enqueue(queue, { ranges: chunk }, options);
    if (set.json) process.stdout.write(`${answer.raw.trim()}\n`);
    added += answer.body.added;
    skipped += answer.body.skipped;
  }
  if (!set.json) process.stdout.write(`queue ${queue}: added ${added}, skipped ${skipped}\n`);
}

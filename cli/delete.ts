/**
 * `blockrunner delete --queue Q --yes`: DELETE /v1/queues/:queue, which removes the queue with
 * its heights, history, source, hashes and reorganisations, and cancels its leases
 * (docs/api.md). Destructive, so it needs --yes; without it nothing is sent.
 */
import { z } from 'zod';
import { Client } from '../shared/client.js';
import type { Env } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { connectionFlags, connectionShape, parseClientArgs, queueName } from './client-options.js';

const schema = z.object({
  ...connectionShape,
  /** The queue to delete. Required: no default for a destructive command. */
  '--queue': queueName(undefined),
});

const flags = {
  ...connectionFlags,
  queue: { type: 'string', short: 'q' },
  yes: { type: 'boolean', short: 'y' },
} as const;

export async function deleteQueue(args: string[], env: Env): Promise<void> {
  const { config, flags: set } = parseClientArgs('delete', schema, flags, args, env);
  const usage = (problem: string) =>
    new ConfigError(`delete: ${problem} (see blockrunner delete --help)`);
  const queue = config['--queue'];
  if (queue === undefined) throw usage('--queue is required');
  if (!set.yes)
    throw usage(`deleting queue ${queue} removes all of its heights and history; pass --yes`);
  const client = new Client({ url: config.BLOCKRUNNER_URL, token: config.BLOCKRUNNER_API_TOKEN });
  await client.deleteQueue(queue);
  // 204 has no JSON to print: --json prints nothing, the exit code says it went through.
  if (!set.json) process.stdout.write(`queue ${queue}: deleted\n`);
}

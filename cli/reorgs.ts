/**
 * `blockrunner reorgs --queue Q [--limit N]`: the queue's reorganisations, newest first, from
 * GET /v1/queues/:queue/reorgs (docs/chains.md, "Reorganisations").
 */
import { z } from 'zod';
import type { ReorgList } from '../shared/api-schemas.js';
import { Client } from '../shared/client.js';
import { type Env, integer } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { connectionFlags, connectionShape, parseClientArgs, queueName } from './client-options.js';

const schema = z.object({
  ...connectionShape,
  /** Required. */
  '--queue': queueName(undefined),
  /** Most reorganisations listed, up to the API's 1000. Default 100. */
  '--limit': integer(100, 1, 1_000),
});

const flags = {
  ...connectionFlags,
  queue: { type: 'string', short: 'q' },
  limit: { type: 'string' },
} as const;

export async function reorgs(args: string[], env: Env): Promise<void> {
  const { config, flags: set } = parseClientArgs('reorgs', schema, flags, args, env);
  const queue = config['--queue'];
  if (queue === undefined)
    throw new ConfigError('reorgs: --queue is required (see blockrunner reorgs --help)');
  const client = new Client({
    url: config.BLOCKRUNNER_URL,
    token: config.BLOCKRUNNER_API_TOKEN,
  });
  const { body, raw } = await client.answers.reorgs(queue, { limit: config['--limit'] });
  if (set.json) {
    process.stdout.write(`${raw.trim()}\n`);
    return;
  }
  // Rows on stdout (one per reorganisation, for scripts), remarks on stderr.
  for (const line of reorgLines(body.items)) process.stdout.write(`${line}\n`);
  if (body.items.length === 0) process.stderr.write(`queue ${queue}: no reorganisations\n`);
}

type ReorgItem = ReorgList['items'][number];

/**
 * One line per reorganisation: `2025-05-01T12:00:00.000Z  fork 1234  depth 3
 * 0x1a2b3c…d4e5 → 0x9f8e7d…c6b5  reverted` (or `revert due` while the workers' revert has
 * not succeeded yet), the columns padded to line up.
 */
export function reorgLines(items: readonly ReorgItem[]): string[] {
  const fork = Math.max(0, ...items.map((item) => String(item.forkHeight).length));
  const depth = Math.max(0, ...items.map((item) => String(item.depth).length));
  const old = Math.max(0, ...items.map((item) => shortHash(item.oldHash).length));
  return items.map((item) =>
    [
      item.detectedAt,
      `fork ${String(item.forkHeight).padStart(fork)}`,
      `depth ${String(item.depth).padStart(depth)}`,
      `${shortHash(item.oldHash).padEnd(old)} → ${shortHash(item.newHash)}`,
      item.revertedAt === null ? 'revert due' : 'reverted',
    ].join('  '),
  );
}

/** `0x1a2b3c…d4e5`: enough to tell two blocks apart at a glance; `?` when unknown. */
export function shortHash(hash: string | null): string {
  if (hash === null) return '?';
  return hash.length <= 14 ? hash : `${hash.slice(0, 8)}…${hash.slice(-4)}`;
}

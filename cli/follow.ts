/**
 * `blockrunner follow --queue Q --rpc URL | --push | --stop`: sets or removes the queue's chain
 * source through PUT and DELETE /v1/queues/:queue/source (docs/chains.md), and prints the
 * source with its head, lag and state as the manager answers them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { RPC_URL_PROTOCOLS, SOURCE_LIMITS, type SourceAnswer } from '../shared/api-schemas.js';
import { type Answer, Client, type ClientAnswers, type SourceRequest } from '../shared/client.js';
import { type Env, integer, optionalInteger } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import {
  connectionFlags,
  connectionShape,
  optionalHeight,
  parseClientArgs,
  queueName,
} from './client-options.js';

/** Between two looks at the source while waiting for its first head. */
const LOOK_EVERY_MS = 200;
/** A source in one of these states will not have a head soon: no use waiting. */
const FAILING_STATES = new Set(['unreachable', 'rate_limited', 'failing']);

const schema = z.object({
  ...connectionShape,
  /** The queue that follows the chain. Required. */
  '--queue': queueName(undefined),
  /** The node's JSON-RPC URL. Default unset: one of --rpc, --push and --stop is required. */
  '--rpc': rpcUrl(),
  /** Lowest height enqueued. Default unset: the manager's (0). */
  '--from': optionalHeight(),
  /** Default unset: the manager's (0). */
  '--confirmations': optionalInteger(
    SOURCE_LIMITS.confirmations.min,
    SOURCE_LIMITS.confirmations.max,
  ),
  /** Default unset: the manager's (64). */
  '--finality': optionalInteger(SOURCE_LIMITS.finality.min, SOURCE_LIMITS.finality.max),
  /** Default unset: the manager's (1000). */
  '--poll-ms': optionalInteger(SOURCE_LIMITS.pollMs.min, SOURCE_LIMITS.pollMs.max),
  /** How long to wait for an evm source's first head before printing. Default 5000. */
  '--wait-ms': integer(5_000, 0, 600_000),
});

/** The flags of a source's fields, which --stop does not take. */
const SOURCE_FLAGS = ['--from', '--confirmations', '--finality', '--poll-ms'] as const;

const flags = {
  ...connectionFlags,
  queue: { type: 'string', short: 'q' },
  rpc: { type: 'string' },
  push: { type: 'boolean' },
  stop: { type: 'boolean' },
  from: { type: 'string' },
  confirmations: { type: 'string' },
  finality: { type: 'string' },
  'poll-ms': { type: 'string' },
  'wait-ms': { type: 'string' },
} as const;

/** A URL the manager takes as an evm source. Never echoed: its path may hold an API key. */
function rpcUrl() {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === '') return undefined;
      let protocol = '';
      try {
        protocol = new URL(raw.trim()).protocol;
      } catch {}
      if (!RPC_URL_PROTOCOLS.includes(protocol)) {
        ctx.addIssue({
          code: 'custom',
          message: 'expected an http://, https://, ws:// or wss:// URL like http://127.0.0.1:8545',
        });
        return z.NEVER;
      }
      return raw.trim();
    });
}

export async function follow(args: string[], env: Env): Promise<void> {
  const { config, flags: set } = parseClientArgs('follow', schema, flags, args, env);
  const usage = (problem: string) =>
    new ConfigError(`follow: ${problem} (see blockrunner follow --help)`);
  const queue = config['--queue'];
  if (queue === undefined) throw usage('--queue is required');
  const url = config['--rpc'];
  const modes = [url !== undefined && '--rpc', set.push && '--push', set.stop && '--stop'];
  const given = modes.filter((mode): mode is string => mode !== false);
  if (given.length === 0) throw usage('pass --rpc URL, --push or --stop');
  if (given.length > 1) throw usage(`${given.join(' and ')} exclude each other`);
  const fields = {
    from: config['--from'],
    confirmations: config['--confirmations'],
    finality: config['--finality'],
    pollMs: config['--poll-ms'],
  };
  const client = new Client({
    url: config.BLOCKRUNNER_URL,
    token: config.BLOCKRUNNER_API_TOKEN,
  });

  if (set.stop) {
    for (const flag of SOURCE_FLAGS)
      if (config[flag] !== undefined) throw usage(`--stop takes no ${flag}`);
    await client.deleteSource(queue);
    // 204 has no JSON to print: --json prints nothing, the exit code says it went through.
    if (!set.json)
      process.stdout.write(`queue ${queue}: stopped following; enqueued heights stay\n`);
    return;
  }

  // Unset fields are left out by JSON.stringify: the manager's defaults apply.
  const body: SourceRequest =
    url === undefined ? { kind: 'push', ...fields } : { kind: 'evm', url, ...fields };
  let answer = await client.answers.setSource(queue, body);
  answer = await untilFirstHead(client.answers, answer, config['--wait-ms']);
  process.stdout.write(set.json ? `${answer.raw.trim()}\n` : `${sourceLine(answer.body)}\n`);
}

/**
 * An evm source has no head until the manager's first poll of the node: look again until it
 * has one, fails, or `waitMs` is over, so that the line says whether the node answers.
 */
async function untilFirstHead(
  client: ClientAnswers,
  answer: Answer<SourceAnswer>,
  waitMs: number,
): Promise<Answer<SourceAnswer>> {
  const deadline = Date.now() + waitMs;
  let current = answer;
  const settled = ({ kind, head, state }: SourceAnswer) =>
    kind !== 'evm' || head !== null || FAILING_STATES.has(state);
  while (!settled(current.body) && Date.now() < deadline) {
    await sleep(Math.min(LOOK_EVERY_MS, Math.max(0, deadline - Date.now())));
    current = await client.source(current.body.queue);
  }
  return current;
}

/**
 * `queue eth: follows http://node:8545, head 2000, lag 12, state following`, with the phase
 * of a reorganisation being handled and the source's last error when there are.
 */
export function sourceLine(source: SourceAnswer): string {
  const what = source.kind === 'evm' ? `follows ${source.url ?? '?'}` : 'takes pushed heads';
  const parts = [
    `queue ${source.queue}: ${what}`,
    `head ${source.head ?? '-'}`,
    `lag ${source.lag ?? '-'}`,
    `state ${source.state}`,
  ];
  if (source.reorg !== null) parts.push(`reorganisation: ${source.reorg}`);
  if (source.lastError !== null)
    parts.push(`last error: ${source.lastError.replace(/\s+/g, ' ').trim()}`);
  return parts.join(', ');
}

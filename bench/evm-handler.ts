/**
 * The real handler of S5 and S7: examples/evm-blocks/handler.mjs, which fetches each block with
 * its transactions from the node over JSON-RPC and replaces that height's rows in evm_blocks and
 * evm_transactions. S7 runs it inside handlers/height-recorder.ts, whose lines a HeightLog
 * collects; `indexedHashes` reads back what the handler wrote.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { packageRoot } from '../shared/package-root.js';
import type { BenchAnvil } from './anvil.js';
import type { WorkerSettings } from './cluster.js';
import {
  type HeightRecord,
  parseHeightLine,
  parseRevertLine,
  type RevertRecord,
} from './handlers/height-recorder.js';
import type { BenchProcess } from './processes.js';

export const EXAMPLE_HANDLER = join(packageRoot(), 'examples', 'evm-blocks', 'handler.mjs');
/** SQLSTATE of a table that does not exist. */
const UNDEFINED_TABLE = '42P01';
const RECORDER = fileURLToPath(new URL('./handlers/height-recorder.js', import.meta.url));

/** A worker of `queues` that runs the example handler against `anvil`, recorded. */
export function recordedWorker(
  queues: string[],
  anvil: BenchAnvil,
  databaseUrl: string,
  concurrency: number,
): WorkerSettings {
  return {
    queues,
    concurrency,
    prefetch: 0,
    handler: RECORDER,
    env: {
      BENCH_RECORDED_HANDLER: EXAMPLE_HANDLER,
      EVM_RPC_URL: anvil.url,
      EVM_BLOCKS_DATABASE_URL: databaseUrl,
    },
  };
}

/** Every height record and revert the recorded worker printed, as they arrive. */
export class HeightLog {
  readonly heights: HeightRecord[] = [];
  readonly reverts: RevertRecord[] = [];

  constructor(worker: BenchProcess) {
    worker.onLine((line) => {
      const height = parseHeightLine(line);
      if (height) this.heights.push(height);
      const revert = parseRevertLine(line);
      if (revert) this.reverts.push(revert);
    });
  }

  /** The first attempt that started at each height of `queue` (after `since`, if given). */
  firstStarts(queue: string, since = 0): Map<number, HeightRecord> {
    const first = new Map<number, HeightRecord>();
    for (const record of this.heights) {
      if (record.queue !== queue || record.startedAt < since) continue;
      const known = first.get(record.height);
      if (!known || record.startedAt < known.startedAt) first.set(record.height, record);
    }
    return first;
  }
}

/**
 * The hash evm_blocks holds at each height of from..to (absent heights are left out; none
 * before the handler has created its tables).
 */
export async function indexedHashes(
  client: pg.ClientBase,
  from: number,
  to: number,
): Promise<Map<number, string>> {
  try {
    const { rows } = await client.query<{ number: string; hash: string }>(
      'SELECT number::text, hash FROM evm_blocks WHERE number BETWEEN $1::bigint AND $2::bigint',
      [from, to],
    );
    return new Map(rows.map((row) => [Number(row.number), row.hash]));
  } catch (error) {
    // undefined_table: the handler creates its tables at its first height, not yet run.
    if ((error as { code?: string }).code === UNDEFINED_TABLE) return new Map();
    throw error;
  }
}

/** True when evm_blocks holds exactly `hashes` (lowest first) from height `from` up. */
export async function holdsHashes(
  client: pg.ClientBase,
  from: number,
  hashes: string[],
): Promise<boolean> {
  const held = await indexedHashes(client, from, from + hashes.length - 1);
  return hashes.every((hash, i) => held.get(from + i) === hash);
}

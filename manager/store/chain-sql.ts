/**
 * SQL for the chain tables (migrations/002_chains.sql, docs/chains.md): loading a queue's
 * source, head, kept hashes and reorganisations at start, and the part of each commit that
 * writes them (queue-sql.ts commitBatch puts these statements in its one fenced statement).
 */
import type pg from 'pg';
import type { BlockLink, ChainHead, ReorgRecord, SourceConfig } from '../chain/chain-types.js';
import type { WriteBatch } from './pending-writes.js';

export interface LoadedChainRows {
  sources: Map<string, SourceConfig>;
  heads: Map<string, ChainHead>;
  hashes: Map<string, Map<number, BlockLink>>;
  /** Newest first, per queue: the recent ones and every one whose revert is still due. */
  reorgs: Map<string, ReorgRecord[]>;
  lastReorgId: number;
}

/** Reorganisations loaded per queue at start (older ones stay in the table). */
const REORGS_LOADED = 1_000;

export async function loadChainRows(db: pg.Pool | pg.ClientBase): Promise<LoadedChainRows> {
  const sources = new Map<string, SourceConfig>();
  const { rows: sourceRows } = await db.query<{
    queue: string;
    kind: 'evm' | 'push';
    url: string | null;
    from_height: string;
    confirmations: number;
    finality: number;
    poll_ms: number;
  }>(
    'SELECT queue, kind, url, from_height::text, confirmations, finality, poll_ms FROM queue_sources',
  );
  for (const row of sourceRows) {
    sources.set(row.queue, {
      kind: row.kind,
      url: row.url ?? undefined,
      from: Number(row.from_height),
      confirmations: row.confirmations,
      finality: row.finality,
      pollMs: row.poll_ms,
    });
  }
  const heads = new Map<string, ChainHead>();
  const { rows: headRows } = await db.query<{
    name: string;
    head: string;
    head_hash: string | null;
  }>('SELECT name, head::text, head_hash FROM queues WHERE head IS NOT NULL');
  for (const row of headRows)
    heads.set(row.name, { height: Number(row.head), hash: row.head_hash ?? undefined });

  const hashes = new Map<string, Map<number, BlockLink>>();
  const { rows: hashRows } = await db.query<{
    queue: string;
    height: string;
    hash: string;
    parent_hash: string;
  }>('SELECT queue, height::text, hash, parent_hash FROM block_hashes');
  for (const row of hashRows) {
    let kept = hashes.get(row.queue);
    if (!kept) {
      kept = new Map();
      hashes.set(row.queue, kept);
    }
    kept.set(Number(row.height), { hash: row.hash, parentHash: row.parent_hash });
  }

  const reorgs = new Map<string, ReorgRecord[]>();
  const { rows: reorgRows } = await db.query<{
    queue: string;
    id: string;
    detected_at: Date;
    fork_height: string;
    depth: string;
    old_hash: string | null;
    new_hash: string | null;
    revert_from: string;
    revert_to: string;
    reverted_at: Date | null;
  }>(
    `SELECT queue, id::text, detected_at, fork_height::text, depth::text, old_hash, new_hash,
            revert_from::text, revert_to::text, reverted_at
     FROM (SELECT *, row_number() OVER (PARTITION BY queue ORDER BY id DESC) AS n FROM reorgs) r
     WHERE n <= $1::int OR reverted_at IS NULL
     ORDER BY queue, id DESC`,
    [REORGS_LOADED],
  );
  for (const row of reorgRows) {
    let list = reorgs.get(row.queue);
    if (!list) {
      list = [];
      reorgs.set(row.queue, list);
    }
    list.push({
      id: Number(row.id),
      detectedAt: row.detected_at,
      forkHeight: Number(row.fork_height),
      depth: Number(row.depth),
      oldHash: row.old_hash,
      newHash: row.new_hash,
      revertFrom: Number(row.revert_from),
      revertTo: Number(row.revert_to),
      revertedAt: row.reverted_at,
    });
  }
  const { rows: idRows } = await db.query<{ id: string | null }>(
    'SELECT max(id)::text AS id FROM reorgs',
  );
  return { sources, heads, hashes, reorgs, lastReorgId: Number(idRows[0]?.id ?? 0) };
}

/**
 * The chain writes of a batch as data-modifying CTEs of commitBatch's statement, each guarded
 * by its fence; parameters are numbered from `firstParam`.
 */
export function chainWrites(
  batch: WriteBatch,
  firstParam: number,
): { sql: string; params: unknown[] } {
  const hashDeleted = { queues: [] as string[], heights: [] as number[] };
  const hashKept = {
    queues: [] as string[],
    heights: [] as number[],
    hashes: [] as string[],
    parents: [] as string[],
  };
  const reorg = {
    queues: [] as string[],
    ids: [] as number[],
    detected: [] as number[],
    forks: [] as number[],
    depths: [] as number[],
    oldHashes: [] as (string | null)[],
    newHashes: [] as (string | null)[],
    froms: [] as number[],
    tos: [] as number[],
    reverted: [] as (number | null)[],
  };
  const sourceDeleted: string[] = [];
  const source = {
    queues: [] as string[],
    kinds: [] as string[],
    urls: [] as (string | null)[],
    froms: [] as number[],
    confirmations: [] as number[],
    finalities: [] as number[],
    polls: [] as number[],
  };
  for (const [queue, writes] of batch) {
    for (const [height, link] of writes.hashes) {
      if (link) {
        hashKept.queues.push(queue);
        hashKept.heights.push(height);
        hashKept.hashes.push(link.hash);
        hashKept.parents.push(link.parentHash);
      } else {
        hashDeleted.queues.push(queue);
        hashDeleted.heights.push(height);
      }
    }
    for (const record of writes.reorgs.values()) {
      reorg.queues.push(queue);
      reorg.ids.push(record.id);
      reorg.detected.push(record.detectedAt.getTime());
      reorg.forks.push(record.forkHeight);
      reorg.depths.push(record.depth);
      reorg.oldHashes.push(record.oldHash);
      reorg.newHashes.push(record.newHash);
      reorg.froms.push(record.revertFrom);
      reorg.tos.push(record.revertTo);
      reorg.reverted.push(record.revertedAt?.getTime() ?? null);
    }
    if (writes.source === null) sourceDeleted.push(queue);
    else if (writes.source) {
      source.queues.push(queue);
      source.kinds.push(writes.source.kind);
      source.urls.push(writes.source.url ?? null);
      source.froms.push(writes.source.from);
      source.confirmations.push(writes.source.confirmations);
      source.finalities.push(writes.source.finality);
      source.polls.push(writes.source.pollMs);
    }
  }
  const params: unknown[] = [];
  const p = (value: unknown, type: string) => {
    params.push(value);
    return `$${firstParam + params.length - 1}::${type}`;
  };
  const held = '(SELECT held FROM fence)';
  const ctes: string[] = [];
  if (hashDeleted.queues.length > 0)
    ctes.push(`hashes_forgotten AS (
       DELETE FROM block_hashes b
       USING unnest(${p(hashDeleted.queues, 'text[]')}, ${p(hashDeleted.heights, 'bigint[]')}) AS d(queue, height)
       WHERE ${held} AND b.queue = d.queue AND b.height = d.height
     )`);
  if (hashKept.queues.length > 0)
    ctes.push(`hashes_kept AS (
       INSERT INTO block_hashes (queue, height, hash, parent_hash)
       SELECT * FROM unnest(${p(hashKept.queues, 'text[]')}, ${p(hashKept.heights, 'bigint[]')},
                            ${p(hashKept.hashes, 'text[]')}, ${p(hashKept.parents, 'text[]')})
       WHERE ${held}
       ON CONFLICT (queue, height) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash
     )`);
  if (reorg.queues.length > 0)
    ctes.push(`reorgs_written AS (
       INSERT INTO reorgs (queue, id, detected_at, fork_height, depth, old_hash, new_hash,
                           revert_from, revert_to, reverted_at)
       SELECT r.queue, r.id, to_timestamp(r.detected / 1000.0), r.fork, r.depth, r.old_hash,
              r.new_hash, r.revert_from, r.revert_to, to_timestamp(r.reverted / 1000.0)
       FROM unnest(${p(reorg.queues, 'text[]')}, ${p(reorg.ids, 'bigint[]')}, ${p(reorg.detected, 'float8[]')},
                   ${p(reorg.forks, 'bigint[]')}, ${p(reorg.depths, 'bigint[]')}, ${p(reorg.oldHashes, 'text[]')},
                   ${p(reorg.newHashes, 'text[]')}, ${p(reorg.froms, 'bigint[]')}, ${p(reorg.tos, 'bigint[]')},
                   ${p(reorg.reverted, 'float8[]')})
         AS r(queue, id, detected, fork, depth, old_hash, new_hash, revert_from, revert_to, reverted)
       WHERE ${held}
       ON CONFLICT (queue, id) DO UPDATE SET reverted_at = EXCLUDED.reverted_at
     )`);
  if (sourceDeleted.length > 0)
    ctes.push(`sources_deleted AS (
       DELETE FROM queue_sources s USING unnest(${p(sourceDeleted, 'text[]')}) AS d(queue)
       WHERE ${held} AND s.queue = d.queue
     )`);
  if (source.queues.length > 0)
    ctes.push(`sources_written AS (
       INSERT INTO queue_sources (queue, kind, url, from_height, confirmations, finality, poll_ms)
       SELECT * FROM unnest(${p(source.queues, 'text[]')}, ${p(source.kinds, 'text[]')}, ${p(source.urls, 'text[]')},
                            ${p(source.froms, 'bigint[]')}, ${p(source.confirmations, 'int[]')},
                            ${p(source.finalities, 'int[]')}, ${p(source.polls, 'int[]')})
       WHERE ${held}
       ON CONFLICT (queue) DO UPDATE SET kind = EXCLUDED.kind, url = EXCLUDED.url,
         from_height = EXCLUDED.from_height, confirmations = EXCLUDED.confirmations,
         finality = EXCLUDED.finality, poll_ms = EXCLUDED.poll_ms, updated_at = now()
     )`);
  return { sql: ctes.map((cte) => `,\n     ${cte}`).join(''), params };
}

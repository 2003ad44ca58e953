/**
 * SQL of DELETE /v1/queues/:queue (docs/api.md, "Deleting a queue"): every row of one queue,
 * table by table, in one statement (one implicit transaction), fenced like commitBatch: nothing
 * is deleted unless the session `leaderPid` still holds the leader lock. A table that gains a
 * queue column gains a line here (docs/architecture.md, "Deleting a queue").
 */
import type pg from 'pg';
import { LeadershipLostError } from '../../shared/errors.js';
import { type Fence, fenceCte } from './leader-lock.js';

/** What the delete removed, per table: a test reads it, the log line shows it. */
export interface DeletedRows {
  queues: number;
  heightAttempts: number;
  blockHashes: number;
  reorgs: number;
  sources: number;
  settings: number;
}

/**
 * Deletes the queue `name` and every row that belongs to it. The rows of the queue's own tables
 * go first and the queues row last, each guarded by the fence, so the statement is the same
 * whether or not the foreign keys cascade. Resolves with the counts; a queue without rows gives
 * zeros (deleting twice is harmless). Throws LeadershipLostError when the fence does not hold.
 */
export async function deleteQueueRows(
  db: pg.Pool | pg.ClientBase,
  name: string,
  fence: Fence,
): Promise<DeletedRows> {
  const { rows } = await db.query<{
    held: boolean;
    queues: string;
    height_attempts: string;
    block_hashes: string;
    reorgs: string;
    sources: string;
    settings: string;
  }>(
    `WITH ${fenceCte('$1', '$2')},
     attempts_deleted AS (
       DELETE FROM height_attempts WHERE (SELECT held FROM fence) AND queue = $3::text RETURNING 1
     ),
     hashes_deleted AS (
       DELETE FROM block_hashes WHERE (SELECT held FROM fence) AND queue = $3::text RETURNING 1
     ),
     reorgs_deleted AS (
       DELETE FROM reorgs WHERE (SELECT held FROM fence) AND queue = $3::text RETURNING 1
     ),
     sources_deleted AS (
       DELETE FROM queue_sources WHERE (SELECT held FROM fence) AND queue = $3::text RETURNING 1
     ),
     settings_deleted AS (
       DELETE FROM queue_settings WHERE (SELECT held FROM fence) AND queue = $3::text RETURNING 1
     ),
     queues_deleted AS (
       DELETE FROM queues WHERE (SELECT held FROM fence) AND name = $3::text RETURNING 1
     )
     SELECT (SELECT held FROM fence) AS held,
            (SELECT count(*) FROM queues_deleted)::text AS queues,
            (SELECT count(*) FROM attempts_deleted)::text AS height_attempts,
            (SELECT count(*) FROM hashes_deleted)::text AS block_hashes,
            (SELECT count(*) FROM reorgs_deleted)::text AS reorgs,
            (SELECT count(*) FROM sources_deleted)::text AS sources,
            (SELECT count(*) FROM settings_deleted)::text AS settings`,
    [fence.lockKey, fence.leaderPid, name],
  );
  const row = rows[0];
  if (!row?.held) throw new LeadershipLostError('this manager no longer holds the leader lock');
  return {
    queues: Number(row.queues),
    heightAttempts: Number(row.height_attempts),
    blockHashes: Number(row.block_hashes),
    reorgs: Number(row.reorgs),
    sources: Number(row.sources),
    settings: Number(row.settings),
  };
}

/**
 * SQL for the queue tables, one function per operation (STYLE "Database access").
 * Ranges travel as int8multirange literals; per-height rows as unnest($n::type[]) batches.
 */
import type pg from 'pg';
import { toMultirange } from './multirange.js';
import type { AttemptRecord } from './queue-state.js';
import type { QueueWrites, WriteBatch } from './queue-writes.js';

export interface QueueRow {
  name: string;
  enqueued: string;
  done: string;
}

export interface HistoryRow {
  queue: string;
  height: string;
  attempts: number;
  last_error: string;
  next_attempt_at: Date;
  failed: boolean;
}

export async function loadQueues(db: pg.Pool | pg.ClientBase): Promise<QueueRow[]> {
  const { rows } = await db.query<QueueRow>(
    'SELECT name, enqueued::text AS enqueued, done::text AS done FROM queues ORDER BY name',
  );
  return rows;
}

export async function loadHistory(db: pg.Pool | pg.ClientBase): Promise<HistoryRow[]> {
  const { rows } = await db.query<HistoryRow>(
    'SELECT queue, height::text AS height, attempts, last_error, next_attempt_at, failed FROM height_attempts',
  );
  return rows;
}

export class LeadershipLostError extends Error {
  override name = 'LeadershipLostError';
}

/**
 * Commits one batch in one transaction, fenced: it aborts unless the session `leaderPid` still
 * holds the leader lock, so a manager that lost leadership can never write.
 */
export async function commitBatch(
  client: pg.ClientBase,
  batch: WriteBatch,
  fence: { lockKey: number; leaderPid: number },
): Promise<void> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ held: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM pg_locks
         WHERE locktype = 'advisory' AND classid = 0 AND objid = $1::bigint AND objsubid = 1
           AND pid = $2::int AND granted
       ) AS held`,
      [fence.lockKey, fence.leaderPid],
    );
    if (!rows[0]?.held)
      throw new LeadershipLostError('this manager no longer holds the leader lock');
    for (const [queue, writes] of batch) await writeQueue(client, queue, writes);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

async function writeQueue(client: pg.ClientBase, queue: string, writes: QueueWrites) {
  await client.query(
    `INSERT INTO queues (name, enqueued, done) VALUES ($1, $2::int8multirange, $3::int8multirange)
     ON CONFLICT (name) DO UPDATE
       SET enqueued = queues.enqueued + EXCLUDED.enqueued,
           done = (queues.done - $4::int8multirange) + EXCLUDED.done`,
    [queue, toMultirange(writes.enqueued), toMultirange(writes.done), toMultirange(writes.undone)],
  );
  const deleted: number[] = [];
  const upserted: [number, AttemptRecord][] = [];
  for (const [height, record] of writes.history) {
    if (record) upserted.push([height, record]);
    else deleted.push(height);
  }
  if (deleted.length > 0) {
    await client.query(
      'DELETE FROM height_attempts WHERE queue = $1 AND height = ANY($2::bigint[])',
      [queue, deleted],
    );
  }
  if (upserted.length > 0) {
    await client.query(
      `INSERT INTO height_attempts (queue, height, attempts, last_error, next_attempt_at, failed)
       SELECT $1, t.height, t.attempts, t.last_error, to_timestamp(t.next_ms / 1000.0), t.failed
       FROM unnest($2::bigint[], $3::int[], $4::text[], $5::float8[], $6::bool[])
         AS t(height, attempts, last_error, next_ms, failed)
       ON CONFLICT (queue, height) DO UPDATE
         SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
             next_attempt_at = EXCLUDED.next_attempt_at, failed = EXCLUDED.failed, updated_at = now()`,
      [
        queue,
        upserted.map(([height]) => height),
        upserted.map(([, r]) => r.attempts),
        upserted.map(([, r]) => r.lastError),
        upserted.map(([, r]) => r.nextAttemptAt),
        upserted.map(([, r]) => r.failed),
      ],
    );
  }
}

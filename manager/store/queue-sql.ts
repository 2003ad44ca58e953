/**
 * SQL for the queue tables, one function per operation, the SQL beside it (docs/architecture.md,
 * "Store").
 * Ranges travel as int8multirange literals; per-height rows as unnest($n::type[]) batches.
 */
import type pg from 'pg';
import { LeadershipLostError } from '../../shared/errors.js';
import type { AttemptRecord } from '../queue/queue-state.js';
import { chainWrites } from './chain-sql.js';
import { toMultirange } from './multirange.js';
import type { QueueWrites, WriteBatch } from './pending-writes.js';

export interface QueueRow {
  name: string;
  enqueued: string;
  done: string;
  paused_reason: string | null;
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
    'SELECT name, enqueued::text AS enqueued, done::text AS done, paused_reason FROM queues ORDER BY name',
  );
  return rows;
}

export async function loadHistory(db: pg.Pool | pg.ClientBase): Promise<HistoryRow[]> {
  const { rows } = await db.query<HistoryRow>(
    'SELECT queue, height::text AS height, attempts, last_error, next_attempt_at, failed FROM height_attempts',
  );
  return rows;
}

/**
 * Commits one batch in one statement (so one round trip and one implicit transaction), fenced:
 * it writes nothing unless the session `leaderPid` still holds the leader lock, so a manager
 * that lost leadership can never write. Every queue of the batch goes in the same statement.
 */
export async function commitBatch(
  client: pg.ClientBase,
  batch: WriteBatch,
  fence: { lockKey: number; leaderPid: number },
): Promise<void> {
  const queues = new QueueColumns();
  const deleted = new HeightColumns();
  const upserted = new HistoryColumns();
  for (const [queue, writes] of batch) {
    queues.push(queue, writes);
    for (const [height, record] of writes.history) {
      if (record) upserted.push(queue, height, record);
      else deleted.push(queue, height);
    }
  }
  const chain = chainWrites(batch, 20);
  const { rows } = await client.query<{ held: boolean }>(
    `WITH fence AS (
       SELECT EXISTS (
         SELECT 1 FROM pg_locks
         WHERE locktype = 'advisory' AND classid = 0 AND objid = $1::bigint AND objsubid = 1
           AND pid = $2::int AND granted
       ) AS held
     ),
     w AS (
       SELECT * FROM unnest($3::text[], $4::int8multirange[], $5::int8multirange[], $6::int8multirange[],
                            $15::bool[], $16::text[], $17::bool[], $18::bigint[], $19::text[])
         AS w(name, enqueued, done, undone, set_paused, paused_reason, set_head, head, head_hash)
       WHERE (SELECT held FROM fence)
     ),
     updated AS (
       UPDATE queues q SET enqueued = q.enqueued + w.enqueued, done = (q.done - w.undone) + w.done,
         paused_reason = CASE WHEN w.set_paused THEN w.paused_reason ELSE q.paused_reason END,
         head = CASE WHEN w.set_head THEN w.head ELSE q.head END,
         head_hash = CASE WHEN w.set_head THEN w.head_hash ELSE q.head_hash END
       FROM w WHERE q.name = w.name
     ),
     created AS (
       INSERT INTO queues (name, enqueued, done, paused_reason, head, head_hash)
       SELECT w.name, w.enqueued, w.done, w.paused_reason, w.head, w.head_hash FROM w
       WHERE NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = w.name)
     ),
     deleted AS (
       DELETE FROM height_attempts a
       USING unnest($7::text[], $8::bigint[]) AS d(queue, height)
       WHERE (SELECT held FROM fence) AND a.queue = d.queue AND a.height = d.height
     ),
     upserted AS (
       INSERT INTO height_attempts (queue, height, attempts, last_error, next_attempt_at, failed)
       SELECT t.queue, t.height, t.attempts, t.last_error, to_timestamp(t.next_ms / 1000.0), t.failed
       FROM unnest($9::text[], $10::bigint[], $11::int[], $12::text[], $13::float8[], $14::bool[])
         AS t(queue, height, attempts, last_error, next_ms, failed)
       WHERE (SELECT held FROM fence)
       ON CONFLICT (queue, height) DO UPDATE
         SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
             next_attempt_at = EXCLUDED.next_attempt_at, failed = EXCLUDED.failed, updated_at = now()
     )${chain.sql}
     SELECT held FROM fence`,
    [
      fence.lockKey,
      fence.leaderPid,
      ...queues.params(),
      ...deleted.params(),
      ...upserted.params(),
      ...queues.chainParams(),
      ...chain.params,
    ],
  );
  if (!rows[0]?.held) throw new LeadershipLostError('this manager no longer holds the leader lock');
}

/** The queues rows of a batch, column by column, for unnest. */
class QueueColumns {
  private readonly names: string[] = [];
  private readonly enqueued: string[] = [];
  private readonly done: string[] = [];
  private readonly undone: string[] = [];
  private readonly setPaused: boolean[] = [];
  private readonly pausedReasons: (string | null)[] = [];
  private readonly setHead: boolean[] = [];
  private readonly heads: (number | null)[] = [];
  private readonly headHashes: (string | null)[] = [];

  push(queue: string, writes: QueueWrites): void {
    this.names.push(queue);
    this.enqueued.push(toMultirange(writes.enqueued));
    this.done.push(toMultirange(writes.done));
    this.undone.push(toMultirange(writes.undone));
    this.setPaused.push(writes.paused !== undefined);
    this.pausedReasons.push(writes.paused ?? null);
    this.setHead.push(writes.head !== undefined);
    this.heads.push(writes.head?.height ?? null);
    this.headHashes.push(writes.head?.hash ?? null);
  }

  params(): unknown[] {
    return [this.names, this.enqueued, this.done, this.undone];
  }

  /** $15..$19: the queues row's own columns (pause reason, head). */
  chainParams(): unknown[] {
    return [this.setPaused, this.pausedReasons, this.setHead, this.heads, this.headHashes];
  }
}

class HeightColumns {
  private readonly queues: string[] = [];
  private readonly heights: number[] = [];

  push(queue: string, height: number): void {
    this.queues.push(queue);
    this.heights.push(height);
  }

  params(): unknown[] {
    return [this.queues, this.heights];
  }
}

class HistoryColumns {
  private readonly queues: string[] = [];
  private readonly heights: number[] = [];
  private readonly attempts: number[] = [];
  private readonly errors: string[] = [];
  private readonly nextMs: number[] = [];
  private readonly failed: boolean[] = [];

  push(queue: string, height: number, record: AttemptRecord): void {
    this.queues.push(queue);
    this.heights.push(height);
    this.attempts.push(record.attempts);
    this.errors.push(record.lastError);
    this.nextMs.push(record.nextAttemptAt);
    this.failed.push(record.failed);
  }

  params(): unknown[] {
    return [this.queues, this.heights, this.attempts, this.errors, this.nextMs, this.failed];
  }
}

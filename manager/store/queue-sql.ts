/**
 * SQL for the queue tables, one function per operation, the SQL beside it (docs/architecture.md,
 * "Store").
 * Ranges travel as int8multirange literals; rows as unnest($n::type[]) batches.
 */
import type pg from 'pg';
import { LeadershipLostError } from '../../shared/errors.js';
import type { AttemptRecord } from '../queue/queue-state.js';
import { chainWrites } from './chain-sql.js';
import type { ChunkWrite } from './chunk-layout.js';
import { fenceCte } from './leader-lock.js';
import { toMultirangeArray } from './multirange.js';
import type { QueueWrites, WriteBatch } from './pending-writes.js';

export interface QueueRow {
  name: string;
  paused_reason: string | null;
}

export interface ChunkRow {
  queue: string;
  lo: string;
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
  const { rows } = await db.query<QueueRow>('SELECT name, paused_reason FROM queues ORDER BY name');
  return rows;
}

/** Every queue's rows of heights, in order of queue and span, so each set is read in order. */
export async function loadChunks(db: pg.Pool | pg.ClientBase): Promise<ChunkRow[]> {
  const { rows } = await db.query<ChunkRow>(
    `SELECT c.queue, c.lo::text AS lo, c.enqueued::text AS enqueued, c.done::text AS done
     FROM queue_chunks c ORDER BY c.queue, c.lo`,
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
 * `chunks` are the rows of queue_chunks the batch changes (ChunkLayouts.plan): each is
 * rewritten from its own content (or, for a row cut from a bigger one, from that row's) and
 * the changes clipped to its span; no other row of the queue is read or written. A row's new
 * `done` takes the cover of its successes cut to its new `enqueued` (chunk-layout.ts, coverOf).
 */
export async function commitBatch(
  client: pg.ClientBase,
  batch: WriteBatch,
  chunks: ChunkWrite[],
  fence: { lockKey: number; leaderPid: number },
  { prepared = false }: { prepared?: boolean } = {},
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
  const chain = chainWrites(batch, 27);
  const text = `WITH ${fenceCte('$1', '$2')},
     w AS (
       SELECT * FROM unnest($3::text[], $4::bool[], $5::text[], $6::bool[], $7::bigint[], $8::text[])
         AS w(name, set_paused, paused_reason, set_head, head, head_hash)
       WHERE (SELECT held FROM fence)
     ),
     updated AS (
       UPDATE queues q SET
         paused_reason = CASE WHEN w.set_paused THEN w.paused_reason ELSE q.paused_reason END,
         head = CASE WHEN w.set_head THEN w.head ELSE q.head END,
         head_hash = CASE WHEN w.set_head THEN w.head_hash ELSE q.head_hash END
       FROM w WHERE q.name = w.name AND (w.set_paused OR w.set_head)
     ),
     created AS (
       INSERT INTO queues (name, paused_reason, head, head_hash)
       SELECT w.name, w.paused_reason, w.head, w.head_hash FROM w
       WHERE NOT EXISTS (SELECT 1 FROM queues q WHERE q.name = w.name)
     ),
     c AS (
       SELECT c.*, int8multirange(int8range(c.lo, c.span_end)) AS span
       FROM unnest($17::text[], $18::bigint[], $19::bigint[], $20::bigint[], $21::int8multirange[],
                   $22::int8multirange[], $23::int8multirange[], $24::bool[], $25::bool[],
                   $26::bool[])
         AS c(queue, lo, span_end, source, enqueued, done, undone, set_enqueued, set_done,
              whole_done)
       WHERE (SELECT held FROM fence)
     ),
     chunk_updated AS (
       UPDATE queue_chunks k SET
         enqueued = CASE WHEN c.set_enqueued THEN (k.enqueued * c.span) + c.enqueued ELSE k.enqueued END,
         done = CASE WHEN NOT c.set_done THEN k.done
           -- Every enqueued height of the row done (ChunkWrite.wholeDone): no multirange step.
           WHEN c.whole_done THEN k.enqueued
           -- A drain's commit: only successes, on a row not being cut. The same sets as below,
           -- in one multirange step of the row's size instead of five.
           WHEN isempty(c.undone) AND isempty(c.enqueued)
             AND coalesce(upper(k.enqueued), c.lo) <= c.span_end
             AND coalesce(upper(k.done), c.lo) <= c.span_end
           THEN k.done + (c.done * k.enqueued)
           ELSE ((k.done * c.span) - c.undone) + (c.done * ((k.enqueued * c.span) + c.enqueued))
           END
       FROM c WHERE k.queue = c.queue AND k.lo = c.lo AND c.source = c.lo
     ),
     chunk_created AS (
       INSERT INTO queue_chunks (queue, lo, enqueued, done)
       SELECT c.queue, c.lo, n.enqueued,
              ((coalesce(k.done, '{}') * c.span) - c.undone) + (c.done * n.enqueued)
       FROM c LEFT JOIN queue_chunks k ON k.queue = c.queue AND k.lo = c.source,
         LATERAL (SELECT (coalesce(k.enqueued, '{}') * c.span) + c.enqueued) AS n(enqueued)
       WHERE c.source IS DISTINCT FROM c.lo
       -- The row exists only when this very statement committed and its answer was lost: the
       -- retry (same rows, WriteBehind) adds nothing the row does not hold already.
       ON CONFLICT (queue, lo) DO UPDATE
         SET enqueued = queue_chunks.enqueued + EXCLUDED.enqueued,
             done = queue_chunks.done + EXCLUDED.done
     ),
     deleted AS (
       DELETE FROM height_attempts a
       USING unnest($9::text[], $10::bigint[]) AS d(queue, height)
       WHERE (SELECT held FROM fence) AND a.queue = d.queue AND a.height = d.height
     ),
     upserted AS (
       INSERT INTO height_attempts (queue, height, attempts, last_error, next_attempt_at, failed)
       SELECT t.queue, t.height, t.attempts, t.last_error, to_timestamp(t.next_ms / 1000.0), t.failed
       FROM unnest($11::text[], $12::bigint[], $13::int[], $14::text[], $15::float8[], $16::bool[])
         AS t(queue, height, attempts, last_error, next_ms, failed)
       WHERE (SELECT held FROM fence)
       ON CONFLICT (queue, height) DO UPDATE
         SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
             next_attempt_at = EXCLUDED.next_attempt_at, failed = EXCLUDED.failed, updated_at = now()
     )${chain.sql}
     SELECT held FROM fence`;
  const values = [
    fence.lockKey,
    fence.leaderPid,
    ...queues.params(),
    ...deleted.params(),
    ...upserted.params(),
    ...chunkParams(chunks),
    ...chain.params,
  ];
  const { rows } = await client.query<{ held: boolean }>(
    prepared ? { name: commitStatementName(text), text, values } : { text, values },
  );
  if (!rows[0]?.held) throw new LeadershipLostError('this manager no longer holds the leader lock');
}

/**
 * The name of each shape of the commit statement (which chain CTEs it holds; a few dozen at
 * most), so that each connection parses and analyses a shape once instead of at every commit:
 * that took PostgreSQL about three quarters of a small commit's CPU (docs/architecture.md,
 * "Write-behind"). A name always stands for the same text, as `pg` requires.
 */
const commitStatementNames = new Map<string, string>();

function commitStatementName(text: string): string {
  let name = commitStatementNames.get(text);
  if (name === undefined) {
    name = `blockrunner_commit_${commitStatementNames.size + 1}`;
    commitStatementNames.set(text, name);
  }
  return name;
}

/** $17..$26: the rows of queue_chunks to write, column by column. */
export function chunkParams(chunks: ChunkWrite[]): unknown[] {
  return [
    chunks.map((c) => c.queue),
    chunks.map((c) => c.lo),
    chunks.map((c) => c.end),
    chunks.map((c) => c.source),
    toMultirangeArray(chunks.map((c) => c.enqueued)),
    toMultirangeArray(chunks.map((c) => c.done)),
    toMultirangeArray(chunks.map((c) => c.undone)),
    chunks.map((c) => c.setEnqueued),
    chunks.map((c) => c.setDone),
    chunks.map((c) => c.wholeDone),
  ];
}

/** The queues rows of a batch, column by column, for unnest: $3..$8. */
class QueueColumns {
  private readonly names: string[] = [];
  private readonly setPaused: boolean[] = [];
  private readonly pausedReasons: (string | null)[] = [];
  private readonly setHead: boolean[] = [];
  private readonly heads: (number | null)[] = [];
  private readonly headHashes: (string | null)[] = [];

  push(queue: string, writes: QueueWrites): void {
    this.names.push(queue);
    this.setPaused.push(writes.paused !== undefined);
    this.pausedReasons.push(writes.paused ?? null);
    this.setHead.push(writes.head !== undefined);
    this.heads.push(writes.head?.height ?? null);
    this.headHashes.push(writes.head?.hash ?? null);
  }

  params(): unknown[] {
    return [
      this.names,
      this.setPaused,
      this.pausedReasons,
      this.setHead,
      this.heads,
      this.headHashes,
    ];
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

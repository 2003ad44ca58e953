/**
 * Rebuilds every queue's memory from PostgreSQL when a manager becomes leader: the range sets
 * from queue_chunks, the attempt history from height_attempts.
 */
import type pg from 'pg';
import { RangeSetBuilder } from '../../shared/range-set.js';
import type { LoadedChain } from '../chain/chain-types.js';
import { type AttemptRecord, QueueState } from '../queue/queue-state.js';
import type { LoadedChainRows } from './chain-sql.js';
import { appendMultirange } from './multirange.js';
import { loadChunks, loadHistory, loadQueues } from './queue-sql.js';

/** What a leader starts from: every queue's memory and where its rows of heights begin. */
export interface LoadedQueues {
  queues: Map<string, QueueState>;
  /** Per queue, the `lo` of each of its queue_chunks rows, ascending (ChunkLayouts). */
  chunkStarts: Map<string, number[]>;
}

export async function loadQueueStates(pool: pg.Pool): Promise<LoadedQueues> {
  const histories = new Map<string, Map<number, AttemptRecord>>();
  for (const row of await loadHistory(pool)) {
    let history = histories.get(row.queue);
    if (!history) {
      history = new Map();
      histories.set(row.queue, history);
    }
    history.set(Number(row.height), {
      attempts: row.attempts,
      lastError: row.last_error,
      nextAttemptAt: row.next_attempt_at.getTime(),
      failed: row.failed,
    });
  }
  // Rows come in span order: each set is built by appending, linear in its ranges.
  const sets = new Map<string, { enqueued: RangeSetBuilder; done: RangeSetBuilder }>();
  const chunkStarts = new Map<string, number[]>();
  for (const row of await loadChunks(pool)) {
    let queue = sets.get(row.queue);
    if (!queue) {
      queue = { enqueued: new RangeSetBuilder(), done: new RangeSetBuilder() };
      sets.set(row.queue, queue);
      chunkStarts.set(row.queue, []);
    }
    try {
      appendMultirange(queue.enqueued, row.enqueued);
      appendMultirange(queue.done, row.done);
    } catch (error) {
      throw new Error(`queue_chunks row (${row.queue}, ${row.lo}) cannot be read`, {
        cause: error,
      });
    }
    chunkStarts.get(row.queue)?.push(Number(row.lo));
  }
  const queues = new Map<string, QueueState>();
  for (const row of await loadQueues(pool)) {
    const loaded = sets.get(row.name);
    const state = new QueueState(
      row.name,
      loaded?.enqueued.build(),
      loaded?.done.build(),
      histories.get(row.name),
    );
    if (row.paused_reason !== null) state.pause(row.paused_reason);
    queues.set(row.name, state);
  }
  return { queues, chunkStarts };
}

/** The chain rows of every queue, as the chain stage takes them (manager/chain/chains.ts). */
export function loadedChains(rows: LoadedChainRows): Map<string, LoadedChain> {
  const names = new Set([
    ...rows.sources.keys(),
    ...rows.heads.keys(),
    ...rows.hashes.keys(),
    ...rows.reorgs.keys(),
  ]);
  const loaded = new Map<string, LoadedChain>();
  for (const name of names) {
    loaded.set(name, {
      source: rows.sources.get(name),
      head: rows.heads.get(name),
      hashes: rows.hashes.get(name) ?? new Map(),
      reorgs: rows.reorgs.get(name) ?? [],
    });
  }
  return loaded;
}

/**
 * Rebuilds every queue's memory from PostgreSQL when a manager becomes leader: the range sets
 * from the queues table, the attempt history from height_attempts.
 */
import type pg from 'pg';
import type { LoadedChain } from '../chain/chain-types.js';
import { type AttemptRecord, QueueState } from '../queue/queue-state.js';
import type { LoadedChainRows } from './chain-sql.js';
import { fromMultirange } from './multirange.js';
import { loadHistory, loadQueues } from './queue-sql.js';

export async function loadQueueStates(pool: pg.Pool): Promise<Map<string, QueueState>> {
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
  const queues = new Map<string, QueueState>();
  for (const row of await loadQueues(pool)) {
    const state = new QueueState(
      row.name,
      fromMultirange(row.enqueued),
      fromMultirange(row.done),
      histories.get(row.name),
    );
    if (row.paused_reason !== null) state.pause(row.paused_reason);
    queues.set(row.name, state);
  }
  return queues;
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

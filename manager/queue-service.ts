/**
 * The queues as the HTTP API sees them: load from PostgreSQL at start, enqueue, inspect,
 * requeue dead letters. Each write is applied to memory first and answered once committed.
 */
import type pg from 'pg';
import { RangeSet } from '../shared/range-set.js';
import type { Dispatcher } from './dispatcher.js';
import type { EnqueueMetrics } from './metrics.js';
import { fromMultirange } from './multirange.js';
import {
  type AttemptRecord,
  type Gap,
  type HeightState,
  QueueState,
  type QueueSummary,
} from './queue-state.js';
import { loadHistory, loadQueues } from './store.js';
import type { WriteBehind } from './write-behind.js';

export interface FailedItem {
  height: number;
  attempts: number;
  lastError: string;
}

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
    queues.set(row.name, state);
  }
  return queues;
}

export class QueueService {
  /** Told once per enqueue request, after its commit. */
  metrics: EnqueueMetrics | undefined;

  constructor(
    readonly queues: Map<string, QueueState>,
    private readonly writer: WriteBehind,
    private readonly dispatcher: Dispatcher,
  ) {}

  async enqueue(name: string, request: RangeSet, force: boolean) {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new QueueState(name);
      this.queues.set(name, queue);
    }
    const outcome = queue.enqueue(request, force);
    const writes = this.writer.forQueue(name);
    writes.touched = true;
    writes.enqueued.addSet(outcome.fresh);
    writes.undone.addSet(outcome.undone);
    for (const height of outcome.cleared) writes.history.set(height, null);
    if (outcome.added > 0) this.dispatcher.wake();
    await this.writer.committed();
    this.metrics?.enqueued(name, outcome.added);
    return { queue: name, added: outcome.added, skipped: outcome.skipped };
  }

  summaries(): QueueSummary[] {
    return [...this.queues.values()].map((queue) => queue.summary());
  }

  summary(name: string): QueueSummary | undefined {
    return this.queues.get(name)?.summary();
  }

  heightState(
    name: string,
    height: number,
  ):
    | { height: number; state: HeightState; attempts: number; lastError: string | null }
    | undefined {
    const state = this.queues.get(name)?.stateOf(height);
    return state && { height, ...state };
  }

  gaps(name: string, limit: number): Gap[] | undefined {
    return this.queues.get(name)?.gaps(limit);
  }

  /** Dead letters in height order, after `after`, with the cursor for the next page. */
  failed(name: string, limit: number, after: number | undefined) {
    const queue = this.queues.get(name);
    if (!queue) return undefined;
    const heights = queue.failedWithin(
      after === undefined ? 0 : after + 1,
      Number.MAX_SAFE_INTEGER,
    );
    const page = heights.slice(0, limit);
    const items: FailedItem[] = page.map((height) => {
      const record = queue.history.get(height) as AttemptRecord;
      return { height, attempts: record.attempts, lastError: record.lastError };
    });
    const next = heights.length > limit ? (page.at(-1) ?? null) : null;
    return { items, next };
  }

  async retryFailed(name: string, from: number, to: number) {
    const queue = this.queues.get(name);
    if (!queue) return undefined;
    const heights = queue.failedWithin(from, to);
    queue.requeue(heights);
    const writes = this.writer.forQueue(name);
    for (const height of heights) writes.history.set(height, null);
    if (heights.length > 0) this.dispatcher.wake();
    await this.writer.committed();
    return { requeued: heights.length };
  }
}

export function rangeSetOf(ranges: { from: number; to: number }[]): RangeSet {
  return RangeSet.from(ranges.map(({ from, to }) => [from, to] as const));
}

/**
 * The queues as the HTTP API sees them: enqueue, inspect, requeue dead letters. Each write is
 * applied to memory first and answered once committed (docs/architecture.md, "Queue service").
 */

import type pg from 'pg';
import type { QueueSettings } from '../../shared/api-schemas.js';
import type { Logger } from '../../shared/logger.js';
import { RangeSet } from '../../shared/range-set.js';
import { RETRY_POLICIES, retry } from '../../shared/retry.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { Fence } from '../store/leader-lock.js';
import { deleteQueueRows } from '../store/queue-delete.js';
import type { WriteBehind } from '../store/write-behind.js';
import {
  type AttemptRecord,
  type Gap,
  type HeightState,
  type Lane,
  QueueState,
  type QueueSummary,
} from './queue-state.js';

export interface FailedItem {
  height: number;
  attempts: number;
  lastError: string;
}

/** What the queue service reports: once per enqueue request after its commit; a deletion. */
export interface EnqueueMetrics {
  enqueued(queue: string, added: number): void;
  /** The queue is deleted: its series go. */
  deleted(queue: string): void;
}

export interface QueueServiceOptions {
  queues: Map<string, QueueState>;
  writer: WriteBehind;
  dispatcher: Dispatcher;
  /** Where a deleted queue's rows are deleted, fenced by the leader lock session. */
  pool: pg.Pool;
  fence: () => Fence | undefined;
  log: Logger;
  /** Aborted when the manager stops: ends a deletion still retrying. */
  signal: AbortSignal;
  metrics?: EnqueueMetrics;
  /** Persists a queue's settings, fenced (manager/store/settings-sql.ts). */
  saveSettings?: (queue: string, settings: QueueSettings) => Promise<void>;
}

export class QueueService {
  readonly queues: Map<string, QueueState>;
  private readonly writer: WriteBehind;
  private readonly dispatcher: Dispatcher;
  private readonly metrics: EnqueueMetrics | undefined;
  private readonly saveSettings: QueueServiceOptions['saveSettings'];
  /** Deletions whose rows are not gone yet, by queue: the same name is made again only after. */
  private readonly deleting = new Map<string, Promise<void>>();

  constructor(private readonly options: QueueServiceOptions) {
    this.queues = options.queues;
    this.writer = options.writer;
    this.dispatcher = options.dispatcher;
    this.metrics = options.metrics;
    this.saveSettings = options.saveSettings;
  }

  /**
   * The queue `name`, made (empty, written at the next commit) if it does not exist. Callers
   * that may make it await `deleted(name)` first.
   */
  ensureQueue(name: string): QueueState {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new QueueState(name);
      this.queues.set(name, queue);
      this.writer.revive(name);
      this.writer.forQueue(name).touched = true;
    }
    return queue;
  }

  /** Resolves once no deletion of `name` is in progress (at once, nearly always). */
  async deleted(name: string): Promise<void> {
    await this.deleting.get(name)?.catch(() => {});
  }

  async enqueue(name: string, request: RangeSet, force: boolean, lane: Lane = 'backfill') {
    // Enqueued right after a delete: a fresh queue, made once the old rows are gone.
    if (this.deleting.has(name)) await this.deleted(name);
    const outcome = this.ensureQueue(name).enqueue(request, force, lane);
    this.writer.forQueue(name).recordEnqueue(outcome);
    if (outcome.added > 0 || lane === 'tip') this.dispatcher.wake();
    await this.writer.committed();
    this.metrics?.enqueued(name, outcome.added);
    return { queue: name, added: outcome.added, skipped: outcome.skipped };
  }

  /** Stops dispatch from `name` until resumed (persisted); false for an unknown queue. */
  async pause(name: string, reason: string): Promise<boolean> {
    const queue = this.queues.get(name);
    if (!queue) return false;
    queue.pause(reason);
    this.writer.forQueue(name).paused = reason;
    await this.writer.committed();
    return true;
  }

  async resume(name: string): Promise<boolean> {
    const queue = this.queues.get(name);
    if (!queue) return false;
    queue.resume();
    this.writer.forQueue(name).paused = null;
    this.dispatcher.wake();
    await this.writer.committed();
    return true;
  }

  /**
   * DELETE /v1/queues/:queue (docs/api.md): the queue leaves memory at once, its leases are
   * cancelled (late results fenced off), what is recorded for it and not yet committing is
   * dropped and nothing more is recorded; then, after any commit still running (which may hold
   * its writes), its rows are deleted in one fenced statement, retried like a commit. Resolves
   * true once they are gone; false for an unknown queue. The caller has stopped its chain
   * source (manager/chain/chains.ts, deleteQueue).
   */
  async delete(name: string): Promise<boolean> {
    const queue = this.queues.get(name);
    if (!queue) {
      await this.deleted(name);
      return false;
    }
    this.queues.delete(name);
    const cancelled = this.dispatcher.cancelQueue(name);
    this.dispatcher.settings.delete(name);
    this.writer.forget(name);
    this.metrics?.deleted(name);
    const rows = this.deleteRows(name, cancelled);
    this.deleting.set(name, rows);
    try {
      await rows;
    } finally {
      if (this.deleting.get(name) === rows) this.deleting.delete(name);
    }
    return true;
  }

  private async deleteRows(name: string, cancelledHeights: number): Promise<void> {
    const { pool, fence, log, signal } = this.options;
    // A commit already running may hold writes of this queue: it goes first, or it would make
    // the row again after the delete (and count the queue's successes in the metrics again).
    await this.writer.committed();
    this.metrics?.deleted(name);
    const rows = await retry(
      () => {
        const held = fence();
        if (!held) throw new Error('waiting for the leader lock');
        return deleteQueueRows(pool, name, held);
      },
      {
        policy: RETRY_POLICIES.commit,
        signal,
        onFailedAttempt: ({ error, delayMs }) =>
          log.error(
            { err: error, queue: name, retryInMs: delayMs },
            'queue delete failed; retrying',
          ),
      },
    );
    log.info({ queue: name, cancelledHeights, rows }, 'queue deleted');
  }

  summaries(): QueueSummary[] {
    return [...this.queues.values()].map((queue) => this.summaryOf(queue));
  }

  summary(name: string): QueueSummary | undefined {
    const queue = this.queues.get(name);
    return queue && this.summaryOf(queue);
  }

  settings(name: string): QueueSettings | undefined {
    return this.queues.has(name) ? this.dispatcher.settings.get(name) : undefined;
  }

  /**
   * Changes some of a queue's settings (PUT /v1/queues/:queue/settings), made if it does not
   * exist; answers the whole settings once persisted. The new limits apply at once.
   */
  async updateSettings(name: string, change: Partial<QueueSettings>): Promise<QueueSettings> {
    await this.deleted(name);
    this.ensureQueue(name);
    const settings = { ...this.dispatcher.settings.get(name), ...change };
    // The queue's row first, so that a restart never finds settings without their queue.
    await this.writer.committed();
    await this.saveSettings?.(name, settings);
    this.dispatcher.settings.set(name, settings);
    this.dispatcher.wake();
    return settings;
  }

  private summaryOf(queue: QueueState): QueueSummary {
    const throttle = this.dispatcher.settings.throttle(queue.name);
    return {
      ...queue.summary(),
      settings: this.dispatcher.settings.get(queue.name),
      effectiveRate: throttle?.effectiveRate ?? null,
      effectiveRangeSize: this.dispatcher.settings.effectiveRangeSize(queue.name),
    };
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

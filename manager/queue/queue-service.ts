/**
 * The queues as the HTTP API sees them: enqueue, inspect, requeue dead letters. Each write is
 * applied to memory first and answered once committed (docs/architecture.md, "Queue service").
 */
import type { QueueSettings } from '../../shared/api-schemas.js';
import { RangeSet } from '../../shared/range-set.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
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

/** What the queue service reports, once per enqueue request, after its commit. */
export interface EnqueueMetrics {
  enqueued(queue: string, added: number): void;
}

export interface QueueServiceOptions {
  queues: Map<string, QueueState>;
  writer: WriteBehind;
  dispatcher: Dispatcher;
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

  constructor(options: QueueServiceOptions) {
    this.queues = options.queues;
    this.writer = options.writer;
    this.dispatcher = options.dispatcher;
    this.metrics = options.metrics;
    this.saveSettings = options.saveSettings;
  }

  /** The queue `name`, made (empty, written at the next commit) if it does not exist. */
  ensureQueue(name: string): QueueState {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new QueueState(name);
      this.queues.set(name, queue);
      this.writer.forQueue(name).touched = true;
    }
    return queue;
  }

  async enqueue(name: string, request: RangeSet, force: boolean, lane: Lane = 'backfill') {
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

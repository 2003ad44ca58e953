/**
 * One queue's heights in memory. Every enqueued height is in exactly one state:
 * pending (in `pending`), leased (in `leased`, or in `committing` once its success awaits the
 * commit), retrying or failed (a row in `history`), or done (in `done`, committed).
 * Dispatch works from this memory; the write-behind log makes it durable (DESIGN "Storage").
 */
import { Heap } from 'heap-js';
import { RangeSet } from '../shared/range-set.js';
import { RateMeter } from './rate-meter.js';

export type HeightState = 'pending' | 'leased' | 'retrying' | 'done' | 'failed';

export interface AttemptRecord {
  attempts: number;
  lastError: string;
  /** Epoch ms when the next attempt is due; meaningless once failed. */
  nextAttemptAt: number;
  failed: boolean;
}

export interface QueueSummary {
  queue: string;
  pending: number;
  leased: number;
  retrying: number;
  done: number;
  failed: number;
  watermark: number | null;
  rate: number;
}

export interface EnqueueOutcome {
  added: number;
  skipped: number;
  /** Heights never enqueued before: the write adds them to `enqueued`. */
  fresh: RangeSet;
  /** Done heights put back by force: the write removes them from `done`. */
  undone: RangeSet;
  /** Heights whose attempt history was dropped (forced failed heights). */
  cleared: number[];
}

export type GapState = HeightState | 'missing';
export interface Gap {
  from: number;
  to: number;
  state: GapState;
}

interface DueRetry {
  height: number;
  due: number;
}

export class QueueState {
  readonly pending: RangeSet;
  readonly leased = new Set<number>();
  readonly committing = new RangeSet();
  private retryingCount = 0;
  private failedCount = 0;
  private readonly retryHeap = new Heap<DueRetry>((a, b) => a.due - b.due || a.height - b.height);
  readonly rate = new RateMeter();

  constructor(
    readonly name: string,
    readonly enqueued = new RangeSet(),
    readonly done = new RangeSet(),
    readonly history = new Map<number, AttemptRecord>(),
  ) {
    this.pending = enqueued.difference(done);
    for (const [height, record] of history) {
      this.pending.remove(height);
      if (record.failed) this.failedCount++;
      else this.scheduleRetry(height, record.nextAttemptAt);
    }
  }

  /**
   * Takes up to `limit` heights to lease: retries that are due first, then the lowest pending.
   * `attempts` is null when every height taken is a first attempt.
   */
  take(limit: number, now: number): { heights: number[]; attempts: number[] | null } {
    const heights: number[] = [];
    let attempts: number[] | null = null;
    while (heights.length < limit) {
      const next = this.retryHeap.peek();
      if (!next || next.due > now) break;
      this.retryHeap.pop();
      const record = this.history.get(next.height);
      if (!this.isWaitingRetry(next, record)) continue;
      this.retryingCount--;
      attempts ??= new Array(heights.length).fill(1);
      heights.push(next.height);
      attempts.push(record.attempts + 1);
    }
    if (heights.length < limit) {
      const fresh = this.pending.take(limit - heights.length);
      for (const height of fresh) heights.push(height);
      if (attempts) for (let i = 0; i < fresh.length; i++) attempts.push(1);
    }
    for (const height of heights) this.leased.add(height);
    return { heights, attempts };
  }

  /** The handler succeeded: the height awaits its commit. True when it had a history to delete. */
  succeed(height: number): boolean {
    this.leased.delete(height);
    this.committing.add(height);
    return this.history.delete(height);
  }

  /** An attempt failed (handler error or lease expiry): retry later, or dead-letter it. */
  fail(
    height: number,
    error: string,
    now: number,
    maxAttempts: number,
    backoff: (attempt: number) => number,
  ): AttemptRecord {
    this.leased.delete(height);
    const previous = this.history.get(height);
    const attempts = (previous?.attempts ?? 0) + 1;
    const failed = attempts >= maxAttempts;
    const record: AttemptRecord = {
      attempts,
      lastError: error,
      nextAttemptAt: failed ? now : now + backoff(attempts),
      failed,
    };
    this.history.set(height, record);
    if (failed) this.failedCount++;
    else this.scheduleRetry(height, record.nextAttemptAt);
    return record;
  }

  /** A lease ended without an attempt (disconnect, release): the height is due again at once. */
  giveBack(height: number, now: number): void {
    this.leased.delete(height);
    const record = this.history.get(height);
    if (record) {
      record.nextAttemptAt = now;
      this.scheduleRetry(height, now);
    } else {
      this.pending.add(height);
    }
  }

  /** A write holding these successes committed: they are done now. */
  committed(heights: RangeSet): void {
    this.committing.removeSet(heights);
    this.done.addSet(heights);
    this.rate.record(heights.count);
  }

  /**
   * Enqueues `request`. Heights already known are skipped, except that `force` puts done and
   * failed heights back to pending (attempts reset); pending, leased and retrying ones stay.
   */
  enqueue(request: RangeSet, force: boolean): EnqueueOutcome {
    const fresh = request.difference(this.enqueued);
    const undone = force ? request.intersection(this.done) : new RangeSet();
    const cleared: number[] = [];
    if (force) {
      for (const [height, record] of this.history) {
        if (record.failed && request.has(height)) cleared.push(height);
      }
    }
    this.enqueued.addSet(fresh);
    this.pending.addSet(fresh);
    this.done.removeSet(undone);
    this.pending.addSet(undone);
    this.requeue(cleared);
    const added = fresh.count + undone.count + cleared.length;
    return { added, skipped: request.count - added, fresh, undone, cleared };
  }

  /** Failed heights within [from, to], lowest first. */
  failedWithin(from: number, to: number): number[] {
    const heights: number[] = [];
    for (const [height, record] of this.history) {
      if (record.failed && height >= from && height <= to) heights.push(height);
    }
    return heights.sort((a, b) => a - b);
  }

  /** Dead-lettered heights go back to pending with their history dropped. */
  requeue(failedHeights: number[]): void {
    for (const height of failedHeights) {
      this.history.delete(height);
      this.failedCount--;
      this.pending.add(height);
    }
  }

  /** When the earliest waiting retry is due, if any. */
  nextRetryDue(): number | undefined {
    for (;;) {
      const next = this.retryHeap.peek();
      if (!next) return undefined;
      if (this.isWaitingRetry(next, this.history.get(next.height))) return next.due;
      this.retryHeap.pop();
    }
  }

  hasWork(now: number): boolean {
    if (!this.pending.isEmpty) return true;
    const due = this.nextRetryDue();
    return due !== undefined && due <= now;
  }

  stateOf(
    height: number,
  ): { state: HeightState; attempts: number; lastError: string | null } | undefined {
    const record = this.history.get(height);
    const attempts = record?.attempts ?? 0;
    const lastError = record?.lastError ?? null;
    if (this.leased.has(height) || this.committing.has(height))
      return { state: 'leased', attempts, lastError };
    if (record) return { state: record.failed ? 'failed' : 'retrying', attempts, lastError };
    if (this.pending.has(height)) return { state: 'pending', attempts, lastError };
    if (this.done.has(height)) return { state: 'done', attempts: Math.max(1, attempts), lastError };
    return undefined;
  }

  /** Highest H with every height from the lowest enqueued one through H done; null if none. */
  watermark(): number | null {
    const lowest = this.enqueued.min();
    if (lowest === undefined) return null;
    return this.done.rangeContaining(lowest)?.[1] ?? null;
  }

  summary(): QueueSummary {
    return {
      queue: this.name,
      pending: this.pending.count,
      leased: this.leased.size + this.committing.count,
      retrying: this.retryingCount,
      done: this.done.count,
      failed: this.failedCount,
      watermark: this.watermark(),
      rate: this.rate.perSecond(),
    };
  }

  /** What holds the watermark back: not-done ranges above it, up to the highest enqueued height. */
  gaps(limit: number): Gap[] {
    const highest = this.enqueued.max();
    const lowest = this.enqueued.min();
    if (highest === undefined || lowest === undefined) return [];
    const from = (this.watermark() ?? lowest - 1) + 1;
    if (from > highest) return [];
    const span = RangeSet.from([[from, highest]]);
    const pieces: Gap[] = [];
    const addRanges = (set: RangeSet, state: GapState) => {
      for (const [a, b] of set.rangesWithin(from, highest)) pieces.push({ from: a, to: b, state });
    };
    addRanges(span.difference(this.enqueued), 'missing');
    addRanges(this.pending, 'pending');
    addRanges(this.committing, 'leased');
    for (const height of this.leased) {
      if (height >= from) pieces.push({ from: height, to: height, state: 'leased' });
    }
    for (const [height, record] of this.history) {
      if (height >= from && !this.leased.has(height)) {
        pieces.push({ from: height, to: height, state: record.failed ? 'failed' : 'retrying' });
      }
    }
    pieces.sort((a, b) => a.from - b.from);
    const merged: Gap[] = [];
    for (const piece of pieces) {
      const last = merged.at(-1);
      if (last && last.state === piece.state && last.to + 1 === piece.from) last.to = piece.to;
      else if (merged.length === limit) break;
      else merged.push({ ...piece });
    }
    return merged;
  }

  private scheduleRetry(height: number, due: number): void {
    this.retryingCount++;
    this.retryHeap.push({ height, due });
  }

  /** Heap entries go stale when a height is requeued or re-leased; the record tells. */
  private isWaitingRetry(
    entry: DueRetry,
    record: AttemptRecord | undefined,
  ): record is AttemptRecord {
    return (
      record !== undefined &&
      !record.failed &&
      record.nextAttemptAt === entry.due &&
      !this.leased.has(entry.height)
    );
  }
}

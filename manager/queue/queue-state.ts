/**
 * One queue's heights in memory. Every enqueued height is in exactly one state:
 * pending (in `pending`), leased (in `leased`, or in `committing` once its success awaits the
 * commit), retrying or failed (a row in `history`), or done (in `done`, committed).
 * Dispatch works from this memory; the write-behind log makes it durable
 * (docs/architecture.md, "Queue state").
 */
import { Heap } from 'heap-js';
import type { QueueSummary } from '../../shared/api-schemas.js';
import { pushRange } from '../../shared/range-flat.js';
import { RangeSet } from '../../shared/range-set.js';
import { CommittingHeights } from './committing-heights.js';
import { RateMeter } from './rate-meter.js';

/**
 * The states a height can be in, in the order the API lists them: the one list, from which the
 * HTTP schemas (manager/http/schemas.ts) and the dashboard's height map (manager/dashboard/)
 * derive theirs. docs/api.md, "States", says what each means.
 */
export const HEIGHT_STATES = ['pending', 'leased', 'retrying', 'done', 'failed'] as const;
export type HeightState = (typeof HEIGHT_STATES)[number];

export interface AttemptRecord {
  attempts: number;
  lastError: string;
  /** Epoch ms when the next attempt is due; meaningless once failed. */
  nextAttemptAt: number;
  failed: boolean;
}

/** What summary() gives: the wire shape of GET /v1/queues/:queue (shared/api-schemas.ts). */
export type { QueueSummary };

/** The tip lane goes before the backfill lane of the same queue (docs/chains.md, "Lanes"). */
export type Lane = 'tip' | 'backfill';

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

/**
 * Heights taken to lease. `flat` holds their ranges as `[from0, to0, from1, to1, ...]`, the
 * layout RangeSet keeps and the dispatch's deltas are made from, with no pair allocated per
 * range (a sparse lease is thousands of one-height ranges).
 */
export interface Taken {
  flat: number[];
  /** Each range's attempt number (index i for the range at flat[2i]); null when all are 1. */
  attempts: number[] | null;
  count: number;
}

interface DueRetry {
  height: number;
  due: number;
}

export class QueueState {
  readonly pending: RangeSet;
  readonly leased = new RangeSet();
  private readonly committingHeights = new CommittingHeights();
  private retryingCount = 0;
  private failedCount = 0;
  private readonly retryHeap = new Heap<DueRetry>((a, b) => a.due - b.due || a.height - b.height);
  readonly rate = new RateMeter();
  /**
   * The tip lane (docs/chains.md, "Lanes"): heights a chain source or a `"lane":"tip"` request
   * enqueued, not yet done. Their pending ones (`tipPending`, always within `pending`) go
   * before the backfill lane.
   */
  readonly tip = new RangeSet();
  readonly tipPending = new RangeSet();
  /**
   * For a queue that follows a chain: head - confirmations. Heights above it do not exist on the
   * chain yet (a chain that got shorter, a re-enqueue past the head) and are not handed out.
   */
  private ceiling: number | undefined;
  /** The newest chain head and when it moved, for summaries (docs/chains.md, "Lag"). */
  private head: { height: number; movedAt: number } | undefined;
  /** Set while an operator or a deep reorganisation paused dispatch: the reason shown. */
  pausedReason: string | undefined;
  /**
   * Set while a reorganisation is handled: no dispatch, or only of `only` (a probed height).
   * Not persisted: a restart finds the reorganisation again.
   */
  private held: { only: RangeSet | undefined } | undefined;

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

  /** Successes awaiting their commit, as one new set (for reads: gaps, the height map, tests). */
  get committing(): RangeSet {
    return this.committingHeights.toSet();
  }

  /**
   * Takes up to `limit` heights to lease: retries that are due first (one range each), then the
   * lowest pending as ranges. `attempts` gives each range's attempt number; null when every
   * height taken is a first attempt. `count` is the number of heights taken.
   */
  take(limit: number, now: number): Taken {
    const taken: Taken = { flat: [], attempts: null, count: 0 };
    if (this.pausedReason !== undefined) return taken;
    if (this.held) {
      // Held for a reorganisation: only a probed height, as a first attempt.
      for (const [from, to] of this.held.only?.ranges() ?? [])
        this.takePending(taken, limit, from, to);
      return taken;
    }
    while (taken.count < limit) {
      const next = this.retryHeap.peek();
      if (!next || next.due > now) break;
      this.retryHeap.pop();
      const record = this.history.get(next.height);
      if (!this.isWaitingRetry(next, record)) continue;
      this.retryingCount--;
      taken.attempts ??= [];
      pushRange(taken.flat, next.height, next.height);
      taken.attempts.push(record.attempts + 1);
      this.leased.add(next.height);
      taken.count++;
    }
    const ceiling = this.ceiling ?? Number.MAX_SAFE_INTEGER;
    this.takePending(taken, limit, 0, ceiling, this.tipPending);
    this.takePending(taken, limit, 0, ceiling);
    return taken;
  }

  /**
   * Takes the lowest heights of `lane` (all pending, or the tip lane's) within [from, to] until
   * `taken` holds `limit` heights, and puts them in `leased` as one set (one walk, not range by
   * range). Per range, never per height: a backfill lease is one range.
   */
  private takePending(
    taken: Taken,
    limit: number,
    from: number,
    to: number,
    lane: RangeSet = this.pending,
  ): void {
    const wanted = limit - taken.count;
    if (wanted <= 0 || to < from || lane.isEmpty) return;
    const { flat } = taken;
    const start = flat.length;
    taken.count +=
      from === 0 && to === Number.MAX_SAFE_INTEGER
        ? lane.takeInto(wanted, flat)
        : takeLowestWithin(lane, wanted, from, to, flat);
    if (flat.length === start) return;
    const otherLane = lane === this.pending ? this.tipPending : this.pending;
    if (!otherLane.isEmpty) {
      for (let i = start; i < flat.length; i += 2)
        otherLane.remove(flat[i] as number, flat[i + 1] as number);
    }
    if (taken.attempts) for (let i = start; i < flat.length; i += 2) taken.attempts.push(1);
    // Ranges taken from one set are ascending and apart: they are a set as they lie.
    this.leased.addFlat(flat, start);
  }

  /** Stops dispatch while a reorganisation is handled; `only` lets those heights through. */
  hold(_reason: 'reorg', only?: RangeSet): void {
    this.held = { only };
  }

  release(_reason: 'reorg'): void {
    this.held = undefined;
  }

  /** Whether a reorganisation holds dispatch (tests look). */
  get isHeld(): boolean {
    return this.held !== undefined;
  }

  /** Stops dispatch until resume(); results of heights out already are still taken. */
  pause(reason: string): void {
    this.pausedReason = reason;
  }

  resume(): void {
    this.pausedReason = undefined;
  }

  /** The highest height above `height` that may have run (done, leased, retrying, failed). */
  highestTouchedAbove(height: number): number | undefined {
    let top: number | undefined;
    const consider = (value: number | undefined) => {
      if (value !== undefined && value > height && (top === undefined || value > top)) top = value;
    };
    consider(this.done.max());
    consider(this.committingHeights.max());
    consider(this.leased.max());
    for (const kept of this.history.keys()) consider(kept);
    return top;
  }

  /**
   * The handler succeeded for [from, to]: the heights await their commit. Returns the ones that
   * had an attempt history, now deleted.
   */
  succeed(from: number, to: number): number[] {
    return this.succeedAll(RangeSet.from([[from, to]]));
  }

  /**
   * succeed() for every range of `heights` (all leased), as one set walk instead of a remove
   * per range: a sparse lease's results carry one range per height. `heights` is kept, as the
   * committing part it becomes (committing-heights.ts): the caller must not change it.
   */
  succeedAll(heights: RangeSet): number[] {
    this.leased.removeSet(heights);
    this.committingHeights.add(heights);
    const dropped: number[] = [];
    if (this.history.size > 0)
      heights.forEachRange((from, to) => {
        for (const height of this.dropHistory(from, to)) dropped.push(height);
      });
    return dropped;
  }

  /** An attempt failed (handler error or lease expiry): retry later, or dead-letter it. */
  fail(
    height: number,
    error: string,
    now: number,
    maxAttempts: number,
    backoff: (attempt: number) => number,
  ): AttemptRecord {
    this.leased.remove(height);
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

  /**
   * A lease ended without an attempt (disconnect, release): [from, to] is due again at once,
   * as pending, or as a retry due now for heights that have an attempt history.
   */
  giveBack(from: number, to: number, now: number): void {
    this.leased.remove(from, to);
    const back = RangeSet.from([[from, to]]);
    for (const height of this.historyWithin(from, to)) {
      const record = this.history.get(height) as AttemptRecord;
      record.nextAttemptAt = now;
      this.scheduleRetry(height, now);
      back.remove(height);
    }
    this.pending.addSet(back);
    this.backToTipLane(back);
  }

  /** Heights of the tip lane that became pending again keep their place before the backfill. */
  private backToTipLane(heights: RangeSet): void {
    if (this.tip.isEmpty) return;
    for (const [from, to] of heights.ranges())
      for (const [a, b] of this.tip.rangesWithin(from, to)) this.tipPending.add(a, b);
  }

  /** A write holding these successes committed: they are done now. */
  committed(heights: RangeSet): void {
    this.committingHeights.committed(heights);
    this.done.addSet(heights);
    if (!this.tip.isEmpty) this.tip.removeSet(heights);
    this.rate.record(heights.count);
  }

  /**
   * Enqueues `request`. Heights already known are skipped, except that `force` puts done and
   * failed heights back to pending (attempts reset); pending, leased and retrying ones stay.
   * The outcome's `fresh` may be `request` itself, which the write batch then holds until its
   * commit: the caller must not change `request` afterwards.
   */
  enqueue(request: RangeSet, force: boolean, lane: Lane = 'backfill'): EnqueueOutcome {
    const top = this.enqueued.max();
    // A request wholly above the queue's heights (a sparse backfill's, request after request)
    // is all fresh: the request itself, not a copy (its caller does not change it afterwards).
    const fresh =
      top === undefined || (request.min() as number) > top
        ? request
        : request.difference(this.enqueued);
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
    if (lane === 'tip') {
      // Everything of the request that is pending now, new or not, goes to the tip lane.
      for (const [from, to] of request.ranges())
        for (const [a, b] of [...this.pending.rangesWithin(from, to)]) {
          this.tip.add(a, b);
          this.tipPending.add(a, b);
        }
    }
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
      if (this.tip.has(height)) this.tipPending.add(height);
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

  /** Heights waiting for a retry (due or not). */
  get retrying(): number {
    return this.retryingCount;
  }

  /** Nothing left to run or running: no height pending, leased or waiting for a retry. */
  get drained(): boolean {
    return this.pending.isEmpty && this.leased.isEmpty && this.retryingCount === 0;
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
    if (this.leased.has(height) || this.committingHeights.has(height))
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
      leased: this.leased.count + this.committingHeights.count,
      retrying: this.retryingCount,
      done: this.done.count,
      failed: this.failedCount,
      watermark: this.watermark(),
      rate: this.rate.perSecond(),
      state: this.pausedReason === undefined ? 'active' : 'paused',
      ...(this.pausedReason === undefined ? {} : { pausedReason: this.pausedReason }),
      ...this.headView(),
    };
  }

  /**
   * The chain stage tells the newest head (manager/chain/chains.ts) and the ceiling it sets
   * (head - confirmations); summaries and the source view show head, lag and head age.
   */
  noteHead(height: number, ceiling: number, now = Date.now()): void {
    if (this.head?.height !== height) this.head = { height, movedAt: now };
    this.ceiling = ceiling;
  }

  /** The queue no longer follows a chain: no head, no ceiling. */
  clearHead(): void {
    this.head = undefined;
    this.ceiling = undefined;
  }

  /** Head, lag (head minus watermark) and seconds since the head moved; undefined without one. */
  headView(): { head: number; lag: number | null; headAgeSeconds: number } | undefined {
    if (!this.head) return undefined;
    const watermark = this.watermark();
    return {
      head: this.head.height,
      lag: watermark === null ? null : Math.max(0, this.head.height - watermark),
      headAgeSeconds: Math.max(0, Math.round((Date.now() - this.head.movedAt) / 100) / 10),
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
    addRanges(this.leased, 'leased');
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

  /** Heights in [from, to] with an attempt history: per height or per record, whichever is fewer. */
  private historyWithin(from: number, to: number): number[] {
    const found: number[] = [];
    if (this.history.size === 0) return found;
    if (to - from < this.history.size) {
      for (let height = from; height <= to; height++)
        if (this.history.has(height)) found.push(height);
    } else {
      for (const height of this.history.keys())
        if (height >= from && height <= to) found.push(height);
    }
    return found;
  }

  private dropHistory(from: number, to: number): number[] {
    const found = this.historyWithin(from, to);
    for (const height of found) this.history.delete(height);
    return found;
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

/**
 * Removes the lowest `limit` heights of `set` within [from, to] and appends them to `out` as
 * flat ranges; returns how many.
 */
function takeLowestWithin(
  set: RangeSet,
  limit: number,
  from: number,
  to: number,
  out: number[],
): number {
  const start = out.length;
  let left = limit;
  for (const [a, b] of set.rangesWithin(from, to)) {
    const end = Math.min(b, a + left - 1);
    pushRange(out, a, end);
    left -= end - a + 1;
    if (left === 0) break;
  }
  for (let i = start; i < out.length; i += 2) set.remove(out[i] as number, out[i + 1] as number);
  return limit - left;
}

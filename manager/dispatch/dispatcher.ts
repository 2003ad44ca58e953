/**
 * Hands heights to connected workers and takes their results (docs/architecture.md,
 * "Dispatcher"; docs/operations.md, "Guarantees"): leases, retries with backoff, dead letters,
 * hand-back on disconnect, expiry with cancel.
 * Everything here is synchronous memory work; durability is the write-behind's job.
 */
import { backoffDelay } from '../../shared/backoff.js';
import type { Logger } from '../../shared/logger.js';
import {
  type BlockReport,
  type DispatchFrame,
  doneOf,
  heightsIn,
  type ManagerFrame,
  type ReleaseFrame,
  type ResultsFrame,
} from '../../shared/protocol.js';
import { deltasOfFlat, heightsInDeltas } from '../../shared/range-codec.js';
import { forEachFlat, pairsOfFlat } from '../../shared/range-flat.js';
import { RangeSet } from '../../shared/range-set.js';
import { SettingsTable } from '../queue/queue-settings.js';
import type { QueueState } from '../queue/queue-state.js';
import type { QueueWrites } from '../store/pending-writes.js';
import { type Lease, LeaseTable } from './lease-table.js';

export interface WorkerLink {
  readonly id: string;
  readonly name: string;
  readonly queues: readonly string[];
  readonly capacity: number;
  readonly connectedAt: Date;
  /** Heights leased to this worker right now. */
  held: number;
  done: number;
  failed: number;
  /** The worker said `deltas` in hello: its dispatches carry range deltas (docs/protocol.md). */
  readonly deltas: boolean;
  send(frame: ManagerFrame): void;
}

/** What the dispatcher reports, once per results frame or expired lease (never per height). */
export interface DispatchMetrics {
  /**
   * A results frame for a live lease: `ageMs` since its dispatch; `runMs` the handler time the
   * worker summed over the frame's heights (absent from workers that do not send it).
   */
  results(
    queue: string,
    heights: number,
    ageMs: number,
    runMs: number | undefined,
    failedAttempts: number,
    deadLettered: number,
  ): void;
  /** A lease expired: each of its heights is a failed attempt. */
  expired(queue: string, failedAttempts: number, deadLettered: number): void;
}

/**
 * Who checks the block hashes that results carry (the chain stage, manager/chain/chains.ts):
 * told synchronously, for heights the lease held, in the same turn as their success.
 */
export interface HashReports {
  reported(queue: string, reports: readonly BlockReport[]): void;
}

/** Where the dispatcher records what must become durable (the write-behind log). */
export interface WriteRecorder {
  forQueue(queue: string): QueueWrites;
  /** A queue has just recorded its last results: commit them without the long linger. */
  soon?(): void;
}

export interface DispatcherOptions {
  queues: Map<string, QueueState>;
  writer: WriteRecorder;
  metrics?: DispatchMetrics;
  hashes?: HashReports;
  /** Each queue's priority, rate and in-flight bound (docs/api.md, "Queue settings"). */
  settings?: SettingsTable;
  log: Logger;
  leaseMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  now?: () => number;
}

export const LEASE_EXPIRED = 'lease expired';

/**
 * A link keeps one slot in this many free of backfill heights (none below this capacity), so
 * that a tip height enqueued while a backfill saturates every worker is dispatched at once
 * rather than at the next results frame (docs/architecture.md, "Dispatcher").
 */
export const TIP_RESERVE_PER_SLOTS = 256;

/** A retry timer that fires this long before its retry is due (by the wall clock) is told. */
const CLOCK_STEP_WARN_MS = 1_000;

/**
 * How often the dispatcher checks that no retry waits without a wake-up (sweepRetries): a due
 * retry beside a free slot that could take it, or one not yet due with no retry timer. Seen in
 * two checks in a row, the retry was missed: the dispatcher says so and wakes. Every path that
 * makes a retry is meant to arm the timer or fill a slot; the fault tests once ended with a
 * few retries waiting and every worker idle (wake() read the clock twice: docs/architecture.md,
 * "Retries"), and this turns a miss by any other path into a second's delay.
 */
export const RETRY_SWEEP_MS = 1_000;

function tipReserveOf(capacity: number): number {
  return Math.floor(capacity / TIP_RESERVE_PER_SLOTS);
}

/**
 * The link's free slots that `queue` may fill: the reserve is the tip lane's, so tip heights may
 * fill it and backfill heights leave it free.
 */
function roomFor(link: WorkerLink, queue: QueueState): number {
  const free = link.capacity - link.held;
  return Math.max(free - tipReserveOf(link.capacity), Math.min(free, queue.tipPending.count));
}

/**
 * Where the tip lane's part of a take ends, as an index of its ranges: after its due retries
 * (attempt 2 and up, always first) and the ranges holding the `tipHeights` heights taken from
 * the tip lane, which follow them. 0 when it took none. `flat` is the take's ranges, flat.
 */
function tipLaneEnd(
  flat: readonly number[],
  attempts: readonly number[] | null,
  tipHeights: number,
): number {
  if (tipHeights <= 0) return 0;
  const ranges = flat.length / 2;
  let end = 0;
  while (end < ranges && (attempts?.[end] ?? 1) > 1) end++;
  for (let left = tipHeights; left > 0 && end < ranges; end++) {
    left -= (flat[2 * end + 1] as number) - (flat[2 * end] as number) + 1;
  }
  return end;
}

export class Dispatcher {
  private readonly links = new Set<WorkerLink>();
  private readonly leases: LeaseTable;
  private readonly now: () => number;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryTimerDue = Number.POSITIVE_INFINITY;
  /** Links whose results freed capacity this turn: refilled once, at the end of the turn. */
  private readonly refills = new Set<WorkerLink>();
  /** Set when the refill at the end of the turn should offer work to every link. */
  private refillAll = false;
  private refillTimer: NodeJS.Immediate | undefined;
  private paused = false;
  /** One timer for the earliest moment a throttled queue may send again. */
  private throttleTimer: NodeJS.Timeout | undefined;
  private throttleTimerDue = Number.POSITIVE_INFINITY;
  /** Where wake() starts among the links, so throttled tokens do not always go to the first. */
  private rotation = 0;
  readonly settings: SettingsTable;
  /** Results that arrived for leases the sender did not hold (expired, foreign or unknown). */
  ignoredResults = 0;
  private readonly metrics: DispatchMetrics | undefined;
  private readonly retrySweep: NodeJS.Timeout;
  /** Per queue, the due time of the retry that the last sweep found waiting unseen. */
  private unseenRetries = new Map<string, number>();

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? Date.now;
    this.metrics = options.metrics;
    this.settings = options.settings ?? new SettingsTable(new Map(), { now: this.now });
    this.leases = new LeaseTable(options.leaseMs, (lease) => this.expire(lease), this.now);
    this.retrySweep = setInterval(() => this.sweepRetries(), RETRY_SWEEP_MS);
    this.retrySweep.unref();
  }

  get leaseCount(): number {
    return this.leases.size;
  }

  /** Resolves true once no height is leased, or false when `timeoutMs` passed first. */
  async settled(timeoutMs: number): Promise<boolean> {
    const timeUp = AbortSignal.timeout(timeoutMs);
    await this.leases.whenEmpty(timeUp);
    return this.leases.size === 0;
  }

  workers(): WorkerLink[] {
    return [...this.links];
  }

  connect(link: WorkerLink): void {
    this.links.add(link);
    this.fill(link);
  }

  /** The worker is gone: its heights go back at once, with no attempt counted. */
  disconnect(link: WorkerLink): void {
    if (!this.links.delete(link)) return;
    const now = this.now();
    for (const lease of this.leases.takeAll(link)) {
      for (const [from, to] of lease.heights.ranges()) lease.queue.giveBack(from, to, now);
      link.held -= lease.heights.count;
      lease.heights.clear();
    }
    this.wake();
  }

  onResults(link: WorkerLink, frame: ResultsFrame): void {
    const lease = this.leases.heldBy(frame.lease, link);
    if (!lease) {
      const reported = frame.doneDeltas
        ? heightsInDeltas(frame.doneDeltas)
        : heightsIn(frame.done ?? []);
      this.ignoredResults += reported + frame.failed.length;
      return;
    }
    const queue = lease.queue;
    const writes = this.options.writer.forQueue(queue.name);
    // Work per range, not per height: a backfill lease's successes are one range, and a sparse
    // lease's thousands of ranges move between sets in one walk each (shared/range-set.ts).
    const reported = doneOf(frame);
    const done = lease.heights.extract(reported);
    this.ignoredResults += reported.count - done.count;
    for (const height of queue.succeedAll(done)) writes.history.set(height, null);
    writes.done.addSet(done);
    link.held -= done.count;
    link.done += done.count;
    // The refusal first: the calls that follow count at the size the worker fell back to.
    if (frame.rangeSize !== undefined) this.settings.rangeRefused(queue.name, frame.rangeSize);
    if (done.count > 0) {
      const calls = this.callsIn(queue.name, done.count, done);
      this.settings.throttleFor(queue.name).succeeded(calls);
      this.settings.rangeCallsSucceeded(queue.name, calls);
    }
    if (frame.hashes && frame.hashes.length > 0 && this.options.hashes) {
      const held = frame.hashes.filter((report) => done.has(report.height));
      if (held.length > 0) this.options.hashes.reported(queue.name, held);
    }
    let failedAttempts = 0;
    let deadLettered = 0;
    let rateLimited = 0;
    if (frame.failed.length > 0) {
      const now = this.now();
      for (const { height, error, kind, retryAfterMs } of frame.failed) {
        if (lease.heights.remove(height) === 0) {
          this.ignoredResults++;
          continue;
        }
        link.held--;
        if (kind === 'rate-limited') {
          // Not a failed attempt: the whole queue backs off, and the height waits its turn.
          queue.giveBack(height, height, now);
          const dispatchedAt = lease.deadline - this.options.leaseMs;
          this.settings.throttleFor(queue.name).rateLimited(retryAfterMs, dispatchedAt);
          rateLimited++;
          continue;
        }
        const record = this.failAttempt(queue, height, error, now);
        writes.history.set(height, record);
        failedAttempts++;
        if (record.failed) deadLettered++;
        link.failed++;
      }
      this.armRetryTimer();
      if (rateLimited > 0) this.armThrottleTimer();
    }
    if (this.metrics) {
      const age = this.now() - (lease.deadline - this.options.leaseMs);
      const heights = done.count + failedAttempts + rateLimited;
      this.metrics.results(queue.name, heights, age, frame.runMs, failedAttempts, deadLettered);
    }
    this.leases.settleIfEmpty(lease);
    // The last results of a backfill: whoever watches the queue sees its end committed soon.
    if (done.count + failedAttempts > 0 && queue.drained) this.options.writer.soon?.();
    // Room under a queue's in-flight bound goes round every link, not back to this one.
    if (this.settings.get(queue.name).maxInFlight !== null) this.refillAll = true;
    this.refillSoon(link);
  }

  /** A stopping worker hands back heights it has not started: no attempt counted. */
  onRelease(link: WorkerLink, frame: ReleaseFrame): void {
    const lease = this.leases.heldBy(frame.lease, link);
    if (!lease) return;
    const now = this.now();
    const released = RangeSet.from(frame.ranges).intersection(lease.heights);
    for (const [from, to] of released.ranges()) {
      lease.heights.remove(from, to);
      lease.queue.giveBack(from, to, now);
    }
    link.held -= released.count;
    this.leases.settleIfEmpty(lease);
    this.wake(link);
  }

  /**
   * Takes back the heights of `queue` within [from, to] from every lease (a reorganisation
   * orphaned them): no attempt counted, the holders are told to cancel, and their late results
   * are ignored since the heights are no longer in the lease. Returns how many.
   */
  revoke(queue: string, from: number, to: number): number {
    const now = this.now();
    let revoked = 0;
    for (const lease of [...this.leases.live()]) {
      if (lease.queue.name !== queue) continue;
      const taken = RangeSet.from([...lease.heights.rangesWithin(from, to)]);
      if (taken.isEmpty) continue;
      for (const [a, b] of taken.ranges()) {
        lease.heights.remove(a, b);
        lease.queue.giveBack(a, b, now);
      }
      const link = lease.holder as WorkerLink;
      link.held -= taken.count;
      revoked += taken.count;
      if (this.links.has(link))
        link.send({ type: 'cancel', lease: lease.id, ranges: taken.toJSON() });
      this.leases.settleIfEmpty(lease);
    }
    return revoked;
  }

  /**
   * The queue is deleted (DELETE /v1/queues/:queue): every lease of it ends at once, with no
   * attempt counted and nothing handed back (the queue is gone). The holders are told to cancel;
   * their late results are ignored, since no lease holds those heights any more. The freed
   * capacity is offered to the other queues. Returns how many heights were leased.
   */
  cancelQueue(queue: string): number {
    let cancelled = 0;
    for (const lease of [...this.leases.live()]) {
      if (lease.queue.name !== queue) continue;
      const link = lease.holder as WorkerLink;
      const ranges = lease.heights.toJSON();
      link.held -= lease.heights.count;
      cancelled += lease.heights.count;
      lease.heights.clear();
      this.leases.settleIfEmpty(lease);
      if (this.links.has(link)) link.send({ type: 'cancel', lease: lease.id, ranges });
    }
    if (cancelled > 0) this.wake();
    return cancelled;
  }

  /** New work may be there (enqueue, requeue, due retries): offer it to every worker. */
  wake(except?: WorkerLink): void {
    // One reading of the clock for the fills and the retry timer: a retry that came due between
    // two readings would be too early for the fill and too late for a timer, and wait unseen.
    const now = this.now();
    const links = [...this.links];
    const start = links.length > 0 ? this.rotation % links.length : 0;
    for (let i = 0; i < links.length; i++) {
      const link = links[(start + i) % links.length] as WorkerLink;
      if (link !== except) this.fill(link, now);
    }
    this.armRetryTimer(now);
  }

  /** Expires the leases whose deadline passed; the lease timer does it, tests call it directly. */
  expireDue(): void {
    this.leases.expireDue();
  }

  /** Stops handing out heights (shutdown); results are still taken. */
  pause(): void {
    this.paused = true;
  }

  close(): void {
    this.paused = true;
    this.leases.close();
    clearInterval(this.retrySweep);
    clearTimeout(this.retryTimer);
    clearTimeout(this.throttleTimer);
    clearImmediate(this.refillTimer);
  }

  /**
   * Several results frames of one worker often arrive in one read: one refill for all of them
   * sends one dispatch (one lease) instead of one per frame, so batches stay batched.
   */
  private refillSoon(link: WorkerLink): void {
    this.refills.add(link);
    this.refillTimer ??= setImmediate(this.refill);
  }

  private readonly refill = (): void => {
    this.refillTimer = undefined;
    if (this.refillAll) {
      this.refillAll = false;
      this.refills.clear();
      this.wake();
      return;
    }
    for (const link of this.refills) if (this.links.has(link)) this.fill(link);
    this.refills.clear();
  };

  private fill(link: WorkerLink, now = this.now()): void {
    if (this.paused) return;
    for (const name of this.settings.byPriority(link.queues)) {
      const free = link.capacity - link.held;
      if (free <= 0) return;
      const queue = this.options.queues.get(name);
      if (!queue) continue;
      const tipWaiting = queue.tipPending.count;
      const limit = this.withinLimits(queue, roomFor(link, queue));
      if (limit <= 0) continue;
      const { flat, attempts, count } = queue.take(limit, now);
      if (count === 0) continue;
      // Every queue counts its calls: a rate-limited answer backs off from what went out.
      const throttle = this.settings.throttleFor(name);
      throttle.spend(this.callsIn(name, count, flat));
      if (throttle.effectiveRate !== null || this.settings.get(name).maxInFlight !== null) {
        // The next wake starts at the next link, so a bounded queue's calls spread over links.
        this.rotation++;
        // Out of calls with work left: come back when the bucket has one again.
        if (throttle.allowance() === 0 && queue.hasWork(now)) this.armThrottleTimer();
      }
      link.held += count;
      if (attempts) this.armRetryTimer(now);
      // Tip-lane heights (with the due retries before them) go under a lease of their own,
      // which the worker starts before the backfill it buffered (docs/protocol.md, "Lanes").
      const tipEnd = 2 * tipLaneEnd(flat, attempts, tipWaiting - queue.tipPending.count);
      if (tipEnd > 0) this.grant(link, queue, flat.slice(0, tipEnd), attempts, 'tip');
      if (tipEnd < flat.length) {
        this.grant(link, queue, tipEnd === 0 ? flat : flat.slice(tipEnd), attempts);
      }
    }
  }

  /**
   * Leases the ranges of `flat` (`[from0, to0, ...]`, which the lease's set keeps) to `link`
   * and sends their dispatch; `attempts` is per range of the take.
   */
  private grant(
    link: WorkerLink,
    queue: QueueState,
    flat: number[],
    attempts: number[] | null,
    lane?: 'tip',
  ): void {
    const lease = this.leases.grant(queue, link, RangeSet.fromFlat(flat));
    // Deltas when the worker reads them and the ranges ascend (a take's retries come first).
    const deltas = link.deltas ? deltasOfFlat(flat) : undefined;
    const frame: DispatchFrame = deltas
      ? { type: 'dispatch', lease: lease.id, queue: queue.name, deltas }
      : { type: 'dispatch', lease: lease.id, queue: queue.name, ranges: pairsOfFlat(flat) };
    const ranges = flat.length / 2;
    // Range handlers cut the lease into calls of this many heights (docs/protocol.md).
    const rangeSize = this.settings.effectiveRangeSize(queue.name);
    if (rangeSize > 1) frame.rangeSize = rangeSize;
    // The take's retries come first: a tip part holds them all, a backfill part after it none.
    const own = attempts && (lane ? attempts.slice(0, ranges) : attempts.slice(-ranges));
    if (own?.some((attempt) => attempt > 1)) frame.attempts = own;
    if (lane) frame.lane = lane;
    link.send(frame);
  }

  /**
   * How many of `free` slots the queue's settings let it fill now: within its in-flight bound
   * and the calls its throttle allows. A throttle with no call left arms the throttle timer.
   */
  private withinLimits(queue: QueueState, free: number): number {
    const { maxInFlight } = this.settings.get(queue.name);
    const rangeSize = this.settings.effectiveRangeSize(queue.name);
    let limit = free;
    if (maxInFlight !== null) limit = Math.min(limit, maxInFlight - queue.leased.count);
    const throttle = this.settings.throttle(queue.name);
    if (throttle && limit > 0) {
      const calls = throttle.allowance();
      if (calls < Number.POSITIVE_INFINITY) limit = Math.min(limit, calls * rangeSize);
      if (calls === 0 && queue.hasWork(this.now())) this.armThrottleTimer();
    }
    return limit;
  }

  /**
   * Handler calls for the `count` heights of `ranges` (a set, or flat `[from0, to0, ...]`): one
   * per height, or one per effective range size heights. Per-height queues, nearly all of them,
   * never walk the ranges.
   */
  private callsIn(queue: string, count: number, ranges: RangeSet | readonly number[]): number {
    const rangeSize = this.settings.effectiveRangeSize(queue);
    if (rangeSize === 1) return count;
    let calls = 0;
    const visit = (from: number, to: number) => {
      calls += Math.ceil((to - from + 1) / rangeSize);
    };
    if (ranges instanceof RangeSet) ranges.forEachRange(visit);
    else forEachFlat(ranges, visit);
    return calls;
  }

  private armThrottleTimer(): void {
    let due = Number.POSITIVE_INFINITY;
    for (const name of this.options.queues.keys()) {
      const next = this.settings.throttle(name)?.nextAllowedAt();
      if (next !== undefined && next < due) due = next;
    }
    if (due >= this.throttleTimerDue && this.throttleTimer) return;
    clearTimeout(this.throttleTimer);
    this.throttleTimer = undefined;
    this.throttleTimerDue = due;
    if (due === Number.POSITIVE_INFINITY) return;
    this.throttleTimer = setTimeout(
      () => {
        this.throttleTimer = undefined;
        this.throttleTimerDue = Number.POSITIVE_INFINITY;
        this.wake();
      },
      Math.max(1, due - this.now()),
    );
  }

  private expire(lease: Lease): void {
    const link = lease.holder as WorkerLink;
    const now = this.now();
    const writes = this.options.writer.forQueue(lease.queue.name);
    const ranges = lease.heights.toJSON();
    const heights = [...lease.heights.heights()];
    let deadLettered = 0;
    for (const height of heights) {
      const record = this.failAttempt(lease.queue, height, LEASE_EXPIRED, now);
      writes.history.set(height, record);
      if (record.failed) deadLettered++;
    }
    this.metrics?.expired(lease.queue.name, heights.length, deadLettered);
    link.held -= heights.length;
    link.failed += heights.length;
    lease.heights.clear();
    this.options.log.warn(
      { queue: lease.queue.name, worker: link.name, lease: lease.id, count: heights.length },
      'lease expired',
    );
    if (this.links.has(link)) link.send({ type: 'cancel', lease: lease.id, ranges });
    // Its last heights dead-lettered by the expiry: the end is committed soon, as after results.
    if (heights.length > 0 && lease.queue.drained) this.options.writer.soon?.();
    this.wake();
  }

  private failAttempt(queue: QueueState, height: number, error: string, now: number) {
    const { maxAttempts, retryBaseMs, retryMaxMs } = this.options;
    return queue.fail(height, error, now, maxAttempts, (attempt) =>
      backoffDelay(attempt, { baseMs: retryBaseMs, maxMs: retryMaxMs }),
    );
  }

  /**
   * RETRY_SWEEP_MS: a queue whose earliest retry waited unseen (due with a free slot for it, or
   * not due with no timer) in this check and the last, for the same retry, is woken and logged.
   */
  private sweepRetries(): void {
    if (this.paused) return;
    const now = this.now();
    const missed: { queue: string; dueMs: number; retrying: number }[] = [];
    // Built anew each sweep, so a deleted queue leaves nothing behind.
    const unseenNow = new Map<string, number>();
    for (const queue of this.options.queues.values()) {
      const due = queue.nextRetryDue();
      if (due === undefined) continue;
      const unseen = due <= now ? this.hasRoomFor(queue) : this.retryTimer === undefined;
      if (!unseen) continue;
      if (this.unseenRetries.get(queue.name) === due)
        missed.push({ queue: queue.name, dueMs: Math.round(now - due), retrying: queue.retrying });
      else unseenNow.set(queue.name, due);
    }
    this.unseenRetries = unseenNow;
    if (missed.length === 0) return;
    const timer = this.retryTimer
      ? { retryTimerDueInMs: Math.round(this.retryTimerDue - now) }
      : {};
    this.options.log.warn(
      { queues: missed, ...timer },
      'retries waited without a wake-up: dispatching them now',
    );
    this.wake();
  }

  /** Whether some link that serves `queue` would take a height of it now, as fill() counts. */
  private hasRoomFor(queue: QueueState): boolean {
    if (queue.pausedReason !== undefined || queue.isHeld) return false;
    for (const link of this.links) {
      if (!link.queues.includes(queue.name)) continue;
      if (this.withinLimits(queue, roomFor(link, queue)) > 0) return true;
    }
    return false;
  }

  /**
   * One timer for the earliest retry not yet due at `now`, across queues. Retries already due
   * need no timer: they wait for a free slot, and every freed slot runs fill(). After a fill,
   * `now` must be the fill's: a retry due between the two readings was not taken.
   */
  private armRetryTimer(now = this.now()): void {
    let due = Number.POSITIVE_INFINITY;
    for (const queue of this.options.queues.values()) {
      const next = queue.nextRetryDue();
      if (next !== undefined && next > now && next < due) due = next;
    }
    if (due >= this.retryTimerDue && this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryTimerDue = due;
    if (due === Number.POSITIVE_INFINITY) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retryTimerDue = Number.POSITIVE_INFINITY;
      // The timer counts on the monotonic clock, due times on the wall clock: a wall clock set
      // back while it ran leaves the retries waiting that much longer. Said, so it is seen.
      const behindMs = due - this.now();
      if (behindMs > CLOCK_STEP_WARN_MS)
        this.options.log.warn(
          { behindMs: Math.round(behindMs) },
          'the system clock went back: retries are due that much later',
        );
      this.wake();
    }, due - now);
  }
}

/**
 * A queue's fleet-wide budget (docs/api.md, "Queue settings"): handler calls per second across
 * every worker together (`ratePerSecond`, a token bucket), and the rate the queue backs off to
 * when handlers say the node rate-limited them (`RateLimitedError`). One per queue, held by the
 * dispatcher; pure memory work on an injected clock.
 */

/**
 * The bucket holds this share of a second's calls, so a timer that fires late by up to that
 * share of a second loses none; the calls of the last second are counted too (in 10 ms slots),
 * and any second may start at most WINDOW_SHARE of the rate: what workers add on the way (a
 * process that stalls, then sends what it held at once) stays within the rate.
 */
const BURST_SHARE = 0.1;
const WINDOW_SLOTS = 100;
const WINDOW_SLOT_MS = 10;
const WINDOW_SHARE = 0.92;
/** A rate-limited answer sets the effective rate to this share of what the node accepted. */
export const RATE_DECREASE = 0.85;
/**
 * While calls go out the effective rate climbs back by this share, per second, of the rate the
 * node accepted when it last said no (of the effective rate before that; at least MIN_RATE), so
 * it is back at that rate in a few seconds whatever it is.
 */
const RATE_INCREASE_PER_SECOND = 0.05;
/**
 * The effective rate is lowered at most once per this long. A node that counts calls over a
 * second refuses for up to that second after a burst, whatever the fleet sends meanwhile: a
 * lowering per refusal would compound into a fraction of the rate the node takes.
 */
const LOWER_AT_MOST_EVERY_MS = 1_000;
/** The effective rate never drops below this many calls per second. */
const MIN_RATE = 1;
/** Pause after a rate-limited answer that named no retry time; doubles while they repeat. */
const PAUSE_BASE_MS = 100;
const PAUSE_MAX_MS = 10_000;
/**
 * Calls that succeeded over the last second, in tenths of it: what a node that limits calls per
 * second accepts, the rate to back off from.
 */
const RECENT_SLOTS = 10;
const RECENT_SLOT_MS = 100;

export interface ThrottleLimits {
  /** Handler calls per second across all workers; null: no bound. */
  ratePerSecond: number | null;
}

export class Throttle {
  private limit: number | null;
  /** The rate in force: the limit, or lower after rate-limited answers; null when unbounded. */
  private effective: number | null;
  private tokens: number;
  private refilledAt: number;
  private pausedUntil = 0;
  private pauseMs = PAUSE_BASE_MS;
  /** The node's accepted rate when it last said no: what the climb back is scaled to. */
  private learned: number | undefined;
  /** When the effective rate was last lowered: calls sent before it say nothing new. */
  private loweredAt = Number.NEGATIVE_INFINITY;
  /**
   * Set by a refusal, used when its pause ends: the successes of calls that were in flight have
   * come in by then, so what the node accepted is known better than at the refusal.
   */
  private recount = false;
  /** Calls that succeeded lately. */
  private readonly accepted = new SlotCounter(RECENT_SLOTS, RECENT_SLOT_MS);
  /** Calls started in the last second. */
  private readonly started = new SlotCounter(WINDOW_SLOTS, WINDOW_SLOT_MS);

  constructor(
    limits: ThrottleLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.limit = limits.ratePerSecond;
    this.effective = this.limit;
    this.refilledAt = now();
    this.tokens = this.burst();
  }

  /** New settings: the effective rate restarts at the new limit, and a pause ends. */
  configure(limits: ThrottleLimits): void {
    this.limit = limits.ratePerSecond;
    this.effective = this.limit;
    this.pausedUntil = 0;
    this.pauseMs = PAUSE_BASE_MS;
    this.learned = undefined;
    this.loweredAt = Number.NEGATIVE_INFINITY;
    this.recount = false;
    this.refilledAt = this.now();
    this.tokens = Math.min(this.tokens, this.burst());
  }

  get effectiveRate(): number | null {
    return this.effective === null ? null : Math.round(this.effective * 10) / 10;
  }

  /** How many calls may start now (Infinity when nothing bounds them). */
  allowance(): number {
    const now = this.now();
    if (now < this.pausedUntil) return 0;
    if (this.effective === null) return Number.POSITIVE_INFINITY;
    this.refill(now);
    // The margin once it is a whole call; below that, the rate's whole calls.
    const margin = this.effective * (1 - WINDOW_SHARE);
    const perWindow =
      margin >= 1 ? this.effective - margin : Math.max(1, Math.floor(this.effective));
    const window = Math.floor(perWindow - this.started.total(now));
    return Math.max(0, Math.min(Math.floor(this.tokens), window));
  }

  /** `calls` started (dispatched). */
  spend(calls: number): void {
    if (calls <= 0 || this.effective === null) return;
    const now = this.now();
    this.refill(now);
    this.tokens -= calls;
    this.started.add(now, calls);
  }

  /** `calls` succeeded: the node took them. */
  succeeded(calls: number): void {
    if (calls <= 0) return;
    const now = this.now();
    this.accepted.add(now, calls);
    // The node takes calls again: the next refusal pauses for the base time.
    this.pauseMs = PAUSE_BASE_MS;
  }

  /**
   * When calls may start again, for the dispatcher's timer: after a pause, or once the bucket is
   * half full (one wake-up per few calls, not one per call). Undefined when one may start now.
   */
  nextAllowedAt(): number | undefined {
    const now = this.now();
    if (now < this.pausedUntil) return this.pausedUntil;
    if (this.effective === null) return undefined;
    this.refill(now);
    if (this.allowance() >= 1) return undefined;
    if (this.tokens >= 1) return this.started.nextExpiry(now);
    const wanted = Math.max(1, Math.floor(this.burst() / 2));
    return now + Math.ceil(((wanted - this.tokens) / this.effective) * 1000);
  }

  /**
   * A handler was rate limited: dispatch pauses for `retryAfterMs` (or a backoff that doubles
   * while refusals come with no success between them), and the effective rate drops to
   * RATE_DECREASE of what the node accepted over the last second (or of the effective rate, if
   * that was lower). A refusal of a call sent before the last lowering changes nothing: it was
   * already in flight, and the rate it was sent at is already lowered. Within a second of a
   * lowering, a refusal pauses dispatch but lowers nothing again (LOWER_AT_MOST_EVERY_MS).
   */
  rateLimited(retryAfterMs: number | undefined, sentAt = this.now()): void {
    const now = this.now();
    if (now < this.pausedUntil || sentAt < this.loweredAt) return;
    if (now - this.loweredAt < LOWER_AT_MOST_EVERY_MS) {
      this.pause(retryAfterMs, now);
      return;
    }
    // From what actually went out: an effective rate that climbed past it would back off nothing.
    const accepted = this.accepted.total(now);
    const from =
      accepted > 0
        ? Math.min(this.effective ?? Number.POSITIVE_INFINITY, accepted)
        : (this.effective ?? MIN_RATE);
    this.learned = Math.max(MIN_RATE, from);
    this.loweredAt = now;
    this.recount = true;
    this.effective = Math.max(MIN_RATE, from * RATE_DECREASE);
    this.pause(retryAfterMs, now);
  }

  /** Dispatch waits `retryAfterMs`, or a backoff that doubles while refusals repeat. */
  private pause(retryAfterMs: number | undefined, now: number): void {
    const pause = retryAfterMs ?? this.pauseMs;
    this.pauseMs =
      retryAfterMs === undefined ? Math.min(PAUSE_MAX_MS, this.pauseMs * 2) : PAUSE_BASE_MS;
    this.pausedUntil = now + pause;
    // The pause is the wait: one call may go when it ends, then the lowered rate paces them.
    this.refilledAt = this.pausedUntil;
    this.tokens = 1;
  }

  private refill(now: number): void {
    if (this.effective === null || now <= this.refilledAt) return;
    if (this.recount && now >= this.pausedUntil) {
      this.recount = false;
      const accepted = this.accepted.total(now);
      this.learned = Math.max(this.learned ?? MIN_RATE, accepted);
      const recounted = Math.max(this.effective, accepted * RATE_DECREASE);
      this.effective = this.limit === null ? recounted : Math.min(this.limit, recounted);
    }
    const elapsedS = (now - this.refilledAt) / 1000;
    this.refilledAt = now;
    // Calls went out at the effective rate: it climbs back, never above the limit.
    const scale = this.learned ?? this.effective;
    const climbed =
      this.effective + Math.max(MIN_RATE, scale * RATE_INCREASE_PER_SECOND) * elapsedS;
    if (this.limit === null) this.effective = climbed;
    else this.effective = Math.min(this.limit, climbed);
    this.tokens = Math.min(this.burst(), this.tokens + elapsedS * this.effective);
  }

  private burst(): number {
    return this.effective === null ? 0 : Math.max(1, this.effective * BURST_SHARE);
  }
}

/** Counts over a sliding window of `slots` time slots of `slotMs` each. */
class SlotCounter {
  private readonly counts: Float64Array;
  private readonly slotOf: Float64Array;

  constructor(
    private readonly slots: number,
    private readonly slotMs: number,
  ) {
    this.counts = new Float64Array(slots);
    this.slotOf = new Float64Array(slots).fill(-1);
  }

  add(now: number, count: number): void {
    const slot = Math.floor(now / this.slotMs);
    const index = slot % this.slots;
    if (this.slotOf[index] !== slot) {
      this.slotOf[index] = slot;
      this.counts[index] = 0;
    }
    this.counts[index] = (this.counts[index] ?? 0) + count;
  }

  total(now: number): number {
    const slot = Math.floor(now / this.slotMs);
    let total = 0;
    for (let index = 0; index < this.slots; index++) {
      const at = this.slotOf[index] ?? -1;
      if (at > slot - this.slots && at <= slot) total += this.counts[index] ?? 0;
    }
    return total;
  }

  /** When the oldest counted slot leaves the window (undefined when none is counted). */
  nextExpiry(now: number): number | undefined {
    const slot = Math.floor(now / this.slotMs);
    let oldest = Number.POSITIVE_INFINITY;
    for (let index = 0; index < this.slots; index++) {
      const at = this.slotOf[index] ?? -1;
      if (at > slot - this.slots && at <= slot && (this.counts[index] ?? 0) > 0)
        oldest = Math.min(oldest, at);
    }
    return oldest === Number.POSITIVE_INFINITY ? undefined : (oldest + this.slots) * this.slotMs;
  }
}

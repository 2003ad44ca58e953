/**
 * The queue throttle on an injected clock (manager/dispatch/throttle.ts): the token bucket never
 * lets a second exceed the rate by more than its burst, a rate-limited answer pauses and lowers
 * the effective rate, which climbs back while time passes but never above the limit.
 */
import { describe, expect, it } from 'vitest';
import { RATE_DECREASE, Throttle } from '../../../manager/dispatch/throttle.js';

const T0 = 1_700_000_000_000;

/** Takes every call the throttle allows, every `stepMs`, for `ms`; the start time of each. */
function drain(throttle: Throttle, clock: { now: number }, ms: number, stepMs = 1): number[] {
  const starts: number[] = [];
  const end = clock.now + ms;
  for (; clock.now < end; clock.now += stepMs) {
    const calls = throttle.allowance();
    throttle.spend(calls);
    for (let i = 0; i < calls; i++) starts.push(clock.now);
  }
  return starts;
}

/** The most calls in any window of `windowMs`. */
function busiestWindow(starts: number[], windowMs = 1_000): number {
  let best = 0;
  let first = 0;
  for (let last = 0; last < starts.length; last++) {
    while ((starts[last] as number) - (starts[first] as number) >= windowMs) first++;
    best = Math.max(best, last - first + 1);
  }
  return best;
}

describe('Throttle', () => {
  it('holds every 1-second window within ratePerSecond and uses at least 90% of it', () => {
    for (const rate of [1, 7, 200, 5_000]) {
      const clock = { now: T0 };
      const throttle = new Throttle({ ratePerSecond: rate }, () => clock.now);
      const starts = drain(throttle, clock, 10_000);
      expect(busiestWindow(starts)).toBeLessThanOrEqual(Math.max(rate, 1));
      expect(starts.length).toBeGreaterThanOrEqual(Math.floor(rate * 10 * 0.9));
    }
  });

  it('allows everything and needs no timer without a rate', () => {
    const throttle = new Throttle({ ratePerSecond: null }, () => T0);
    expect(throttle.allowance()).toBe(Number.POSITIVE_INFINITY);
    throttle.spend(1_000_000);
    expect(throttle.nextAllowedAt()).toBeUndefined();
    expect(throttle.effectiveRate).toBeNull();
  });

  it('says when the next call may start once the bucket is empty', () => {
    const clock = { now: T0 };
    const throttle = new Throttle({ ratePerSecond: 100 }, () => clock.now);
    throttle.spend(throttle.allowance());
    expect(throttle.allowance()).toBe(0);
    const next = throttle.nextAllowedAt() as number;
    expect(next - T0).toBeGreaterThan(0);
    // Not one wake-up per call: once the bucket is half full again (10% of a second's calls).
    expect(next - T0).toBeLessThanOrEqual(50);
    clock.now = next;
    expect(throttle.allowance()).toBeGreaterThanOrEqual(1);
  });

  it('pauses for retryAfterMs after a rate-limited answer, lowers the rate, then climbs back to the limit', () => {
    const clock = { now: T0 };
    const throttle = new Throttle({ ratePerSecond: 100 }, () => clock.now);
    drain(throttle, clock, 2_000);
    throttle.rateLimited(500);
    expect(throttle.effectiveRate).toBeCloseTo(100 * RATE_DECREASE, 0);
    expect(throttle.allowance()).toBe(0);
    expect(throttle.nextAllowedAt()).toBe(clock.now + 500);
    // Answers from calls already in flight during the pause lower it only once.
    throttle.rateLimited(500);
    expect(throttle.effectiveRate).toBeCloseTo(100 * RATE_DECREASE, 0);
    clock.now += 499;
    expect(throttle.allowance()).toBe(0);
    const after = drain(throttle, clock, 60_000);
    expect(after.length).toBeGreaterThan(0);
    expect(throttle.effectiveRate).toBe(100);
    expect(busiestWindow(after)).toBeLessThanOrEqual(105);
  });

  it('without a rate set, backs off from what the node accepted over the last seconds', () => {
    const clock = { now: T0 };
    const throttle = new Throttle({ ratePerSecond: null }, () => clock.now);
    for (let i = 0; i < 50; i++) {
      throttle.succeeded(40); // 400 calls per second, every 100 ms
      clock.now += 100;
    }
    throttle.rateLimited(undefined);
    // What the node took over the last second (nine or ten tenths of it at 40 each).
    const effective = throttle.effectiveRate as number;
    expect(effective).toBeGreaterThanOrEqual(Math.floor(360 * RATE_DECREASE));
    expect(effective).toBeLessThanOrEqual(400 * RATE_DECREASE);
    // No retry time given: a short pause, doubling while answers repeat.
    const firstPause = (throttle.nextAllowedAt() as number) - clock.now;
    expect(firstPause).toBeGreaterThan(0);
    clock.now += firstPause;
    throttle.rateLimited(undefined);
    expect((throttle.nextAllowedAt() as number) - clock.now).toBe(firstPause * 2);
  });

  it('lowers the rate once for the calls in flight and at most once a second: refusals of calls sent before that change nothing', () => {
    const clock = { now: T0 };
    const throttle = new Throttle({ ratePerSecond: null }, () => clock.now);
    throttle.succeeded(300);
    const sentBefore = clock.now;
    clock.now += 50;
    throttle.rateLimited(undefined, sentBefore);
    const lowered = throttle.effectiveRate as number;
    expect(lowered).toBe(300 * RATE_DECREASE);
    clock.now = (throttle.nextAllowedAt() as number) + 1;
    // Past the pause, a refusal of a call sent before the lowering: nothing new.
    throttle.rateLimited(undefined, sentBefore);
    expect(throttle.effectiveRate).toBe(lowered);
    expect(throttle.allowance()).toBeGreaterThan(0);
    // A call sent after it, refused within the second: the node's window still holds the
    // burst that made it refuse. A pause, and no second lowering.
    throttle.rateLimited(undefined, clock.now);
    expect(throttle.effectiveRate).toBe(lowered);
    expect(throttle.allowance()).toBe(0);
    // A second after the lowering, a refusal lowers the rate again.
    clock.now += 1_000;
    throttle.rateLimited(undefined, clock.now);
    expect(throttle.effectiveRate as number).toBeLessThan(lowered);
  });

  it('restarts at a new limit when the settings change', () => {
    const clock = { now: T0 };
    const throttle = new Throttle({ ratePerSecond: 100 }, () => clock.now);
    throttle.rateLimited(10);
    throttle.configure({ ratePerSecond: 50 });
    expect(throttle.effectiveRate).toBe(50);
    throttle.configure({ ratePerSecond: null });
    expect(throttle.allowance()).toBe(Number.POSITIVE_INFINITY);
  });
});

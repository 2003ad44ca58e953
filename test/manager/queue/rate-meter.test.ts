/**
 * The queue's rate (manager/queue/rate-meter.ts) on an injected clock: measured over the run's
 * own time while it is younger than a minute, so one second into a run the rate is that
 * second's, even for a queue that sat idle long before.
 */
import { describe, expect, it } from 'vitest';
import { RateMeter } from '../../../manager/queue/rate-meter.js';

const T0 = 1_700_000_000_000;

describe('RateMeter', () => {
  it('is 0 before any height', () => {
    expect(new RateMeter(() => T0).perSecond()).toBe(0);
  });

  it('one second into a run on a queue idle for ten minutes, gives that second rate', () => {
    const clock = { now: T0 };
    const meter = new RateMeter(() => clock.now);
    clock.now += 600_000;
    for (let tenth = 0; tenth < 10; tenth++) {
      meter.record(100);
      clock.now += 100;
    }
    // 1,000 heights in the first second: 1,000 a second, not 1,000 over 60 s.
    expect(meter.perSecond()).toBe(1_000);
  });

  it('averages over the last minute once the run is older than that', () => {
    const clock = { now: T0 };
    const meter = new RateMeter(() => clock.now);
    for (let second = 0; second < 120; second++) {
      meter.record(second < 60 ? 10 : 30);
      clock.now += 1_000;
    }
    expect(meter.perSecond()).toBeGreaterThanOrEqual(29);
    expect(meter.perSecond()).toBeLessThanOrEqual(30.5);
  });

  it('starts a new run after a minute without heights', () => {
    const clock = { now: T0 };
    const meter = new RateMeter(() => clock.now);
    meter.record(5_000);
    clock.now += 90_000;
    meter.record(50);
    clock.now += 500;
    // The old run is out of the window; the new one is half a second old (a span of 1 s at least).
    expect(meter.perSecond()).toBe(50);
  });
});

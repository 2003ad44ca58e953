import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../shared/backoff.js';

const options = { baseMs: 1_000, maxMs: 60_000 };

function ceiling(attempt: number, baseMs: number, maxMs: number, factor = 2): number {
  return baseMs === 0 ? 0 : Math.min(maxMs, baseMs * factor ** (attempt - 1));
}

describe('backoffDelay', () => {
  it('stays within [ceiling / 2, ceiling] for attempts 1..60', () => {
    for (const r of [0, 0.5, 0.999]) {
      for (let attempt = 1; attempt <= 60; attempt++) {
        const top = ceiling(attempt, options.baseMs, options.maxMs);
        const delay = backoffDelay(attempt, options, () => r);
        expect(Number.isInteger(delay), `attempt ${attempt}, random ${r}`).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(top / 2);
        expect(delay).toBeLessThanOrEqual(top);
      }
    }
  });

  it('grows by the factor from base and is half the ceiling at random() = 0', () => {
    const low = (attempt: number) => backoffDelay(attempt, options, () => 0);
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(low)).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
    expect(backoffDelay(1, options, () => 0.99)).toBe(995);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 10_000, factor: 3 }, () => 0)).toBe(450);
  });

  it('respects the cap', () => {
    for (let attempt = 1; attempt <= 200; attempt++) {
      expect(backoffDelay(attempt, { baseMs: 50, maxMs: 5_000 }, () => 0.999)).toBeLessThanOrEqual(
        5_000,
      );
    }
    expect(backoffDelay(7, { baseMs: 1_000, maxMs: 300 }, () => 0)).toBe(150);
    expect(backoffDelay(9, { baseMs: 0, maxMs: 0 }, () => 0.7)).toBe(0);
  });

  it('gives a finite delay for a huge attempt', () => {
    for (const attempt of [1_024, 1_025, 1e6, Number.MAX_SAFE_INTEGER, 1e300]) {
      const delay = backoffDelay(attempt, options, () => 0.5);
      expect(delay).toBe(45_000);
    }
    expect(backoffDelay(1e300, { baseMs: 0, maxMs: 60_000 }, () => 0.5)).toBe(0);
    expect(backoffDelay(1e9, { baseMs: 1, maxMs: 10, factor: 1 }, () => 0)).toBe(1);
  });

  it('uses Math.random by default and stays in bounds', () => {
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(4, options);
      expect(delay).toBeGreaterThanOrEqual(4_000);
      expect(delay).toBeLessThanOrEqual(8_000);
    }
  });

  it('rejects an attempt below 1 and bad options', () => {
    expect(() => backoffDelay(0, options)).toThrow(RangeError);
    expect(() => backoffDelay(1.5, options)).toThrow(RangeError);
    expect(() => backoffDelay(Number.NaN, options)).toThrow(RangeError);
    expect(() => backoffDelay(1, { baseMs: -1, maxMs: 10 })).toThrow(RangeError);
    expect(() => backoffDelay(1, { baseMs: 1, maxMs: Number.POSITIVE_INFINITY })).toThrow(
      RangeError,
    );
    expect(() => backoffDelay(1, { baseMs: 1, maxMs: 10, factor: 0.5 })).toThrow(RangeError);
  });

  it('property: an integer in [ceiling / 2, ceiling], monotone in random()', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseMs, maxMs, factor, r1, r2) => {
          const opts = { baseMs, maxMs, factor };
          const top = ceiling(attempt, baseMs, maxMs, factor);
          const delay = backoffDelay(attempt, opts, () => r1);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(top / 2));
          expect(delay).toBeLessThanOrEqual(Math.ceil(top));
          expect(delay).toBeLessThanOrEqual(maxMs);
          const [lo, hi] = r1 <= r2 ? [r1, r2] : [r2, r1];
          expect(backoffDelay(attempt, opts, () => lo)).toBeLessThanOrEqual(
            backoffDelay(attempt, opts, () => hi),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });
});

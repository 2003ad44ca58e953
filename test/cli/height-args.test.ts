import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatRange,
  type HeightRange,
  mergeRanges,
  parseHeight,
  parseHeightArg,
  parseHeightArgs,
} from '../../cli/height-args.js';
import { ConfigError } from '../../shared/errors.js';

const MAX = Number.MAX_SAFE_INTEGER;

const rangeArb: fc.Arbitrary<HeightRange> = fc
  .tuple(fc.integer({ min: 0, max: MAX }), fc.integer({ min: 0, max: MAX }))
  .map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));

/** Small heights, so the covered set can be compared one height at a time. */
const smallRangeArb: fc.Arbitrary<HeightRange> = fc
  .tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 20 }))
  .map(([from, length]) => ({ from, to: from + length }));

function covered(ranges: readonly HeightRange[]): number[] {
  const heights = new Set<number>();
  for (const { from, to } of ranges) for (let h = from; h <= to; h++) heights.add(h);
  return [...heights].sort((a, b) => a - b);
}

function problemOf(arg: string): string {
  const parsed = parseHeightArg(arg);
  if (parsed.ok) throw new Error(`expected "${arg}" to be refused`);
  return parsed.problem;
}

describe('parseHeightArg', () => {
  it('reads a height and an inclusive range', () => {
    expect(parseHeightArg('7')).toEqual({ ok: true, value: { from: 7, to: 7 } });
    expect(parseHeightArg('100..200')).toEqual({ ok: true, value: { from: 100, to: 200 } });
    expect(parseHeightArg('0..0')).toEqual({ ok: true, value: { from: 0, to: 0 } });
    expect(parseHeightArg(`0..${MAX}`)).toEqual({ ok: true, value: { from: 0, to: MAX } });
  });

  it('refuses negatives, fractions, reversed ranges, heights beyond 2^53-1 and garbage', () => {
    expect(problemOf('-5')).toMatch(/negative/);
    expect(problemOf('-5..3')).toMatch(/start: .*negative/);
    expect(problemOf('3..-5')).toMatch(/end: .*negative/);
    expect(problemOf('1.5')).toMatch(/whole numbers/);
    expect(problemOf('2.')).toMatch(/whole numbers/);
    expect(problemOf('5..1')).toMatch(/starts above its end.*1\.\.5/);
    expect(problemOf(String(MAX + 1))).toMatch(/go up to 9007199254740991/);
    expect(problemOf('99999999999999999999999')).toMatch(/go up to/);
    for (const garbage of [
      'abc',
      '',
      '1e6',
      '0x10',
      ' 5',
      '5..',
      '..5',
      '1..2..3',
      '1...5',
      '+3',
    ]) {
      expect(parseHeightArg(garbage).ok, garbage).toBe(false);
    }
  });

  it('gives back any range it formatted', () => {
    fc.assert(
      fc.property(rangeArb, (range) => {
        expect(parseHeightArg(formatRange(range))).toEqual({ ok: true, value: range });
      }),
    );
  });

  it('reads exactly the plain digit strings up to 2^53-1 as heights', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const parsed = parseHeight(text);
        const valid = /^\d+$/.test(text) && BigInt(text) <= BigInt(MAX);
        expect(parsed.ok).toBe(valid);
        if (parsed.ok) expect(parsed.value).toBe(Number(text));
      }),
    );
  });
});

describe('parseHeightArgs', () => {
  it('merges heights and overlapping or adjacent ranges, sorted', () => {
    expect(parseHeightArgs(['100..200', '7', '9', '8', '150..250', '251'])).toEqual([
      { from: 7, to: 9 },
      { from: 100, to: 251 },
    ]);
  });

  it('names the bad argument in a ConfigError', () => {
    expect(() => parseHeightArgs(['1', '5..1'])).toThrow(ConfigError);
    expect(() => parseHeightArgs(['1', '5..1'])).toThrow(/"5\.\.1"/);
    expect(() => parseHeightArgs([])).toThrow(/no heights given/);
  });

  it('covers the same heights as its arguments, with the fewest disjoint ranges', () => {
    fc.assert(
      fc.property(fc.array(smallRangeArb, { minLength: 1, maxLength: 20 }), (ranges) => {
        const merged = parseHeightArgs(ranges.map(formatRange));
        expect(covered(merged)).toEqual(covered(ranges));
        for (let i = 1; i < merged.length; i++) {
          // Sorted, and a gap of at least one height between neighbours.
          expect(merged[i]?.from).toBeGreaterThan((merged[i - 1]?.to ?? 0) + 1);
        }
      }),
    );
  });

  it('merges ranges at the top of the height space without overflow', () => {
    expect(
      mergeRanges([
        { from: MAX, to: MAX },
        { from: 0, to: MAX - 1 },
      ]),
    ).toEqual([{ from: 0, to: MAX }]);
  });
});

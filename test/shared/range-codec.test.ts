import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deltasOfFlat,
  deltasOfSet,
  deltasProblem,
  heightsInDeltas,
  pairsOfDeltas,
  setOfDeltas,
} from '../../shared/range-codec.js';
import { RangeSet } from '../../shared/range-set.js';

const MAX = Number.MAX_SAFE_INTEGER;

/** Heights from a small window or near 2^53, so sets both dense and at the edge come up. */
const heightArb = fc.oneof(
  fc.integer({ min: 0, max: 2_000 }),
  fc.integer({ min: MAX - 2_000, max: MAX }),
);
const setArb = fc
  .array(fc.tuple(heightArb, fc.integer({ min: 0, max: 40 })), { maxLength: 60 })
  .map((ranges) =>
    RangeSet.from(ranges.map(([from, n]): [number, number] => [from, Math.min(MAX, from + n)])),
  );

describe('range deltas', () => {
  it('encode every other height as a gap of 2 and a length of 0', () => {
    const set = RangeSet.ofHeights([1_234_567, 1_234_569, 1_234_571]);
    expect(deltasOfSet(set, 100)).toEqual([[1_234_567, 0, 2, 0, 2, 0]]);
    expect(setOfDeltas([1_234_567, 0, 2, 0, 2, 0]).toJSON()).toEqual([
      [1_234_567, 1_234_567],
      [1_234_569, 1_234_569],
      [1_234_571, 1_234_571],
    ]);
  });

  it('encode a contiguous range as its start and length', () => {
    expect(deltasOfFlat([1000, 4095])).toEqual([1000, 3095]);
    expect(pairsOfDeltas([1000, 3095])).toEqual([[1000, 4095]]);
    expect(heightsInDeltas([1000, 3095])).toBe(3096);
  });

  it('an empty list is an empty set, and one empty list of deltas', () => {
    expect(setOfDeltas([]).isEmpty).toBe(true);
    expect(pairsOfDeltas([])).toEqual([]);
    expect(deltasOfSet(new RangeSet(), 10)).toEqual([[]]);
    expect(deltasOfFlat([])).toEqual([]);
  });

  it('touching ranges (gap 1) join in the set and stay apart as pairs', () => {
    const deltas = [5, 0, 1, 3];
    expect(pairsOfDeltas(deltas)).toEqual([
      [5, 5],
      [6, 9],
    ]);
    expect(setOfDeltas(deltas).toJSON()).toEqual([[5, 9]]);
    expect(setOfDeltas(deltas).rangeCount).toBe(1);
  });

  it('ranges that do not ascend, or overlap, have no deltas', () => {
    expect(deltasOfFlat([7, 7, 1, 2])).toBeUndefined();
    expect(deltasOfFlat([1, 5, 5, 6])).toBeUndefined();
    expect(deltasOfFlat([1, 5, 6, 6])).toEqual([1, 4, 1, 0]);
  });

  it('a set of more ranges than a list holds is cut into lists that each start absolute', () => {
    const set = RangeSet.ofHeights([10, 12, 14, 16, 18]);
    const lists = deltasOfSet(set, 2);
    expect(lists).toEqual([
      [10, 0, 2, 0],
      [14, 0, 2, 0],
      [18, 0],
    ]);
    const joined = new RangeSet();
    for (const list of lists) joined.addSet(setOfDeltas(list));
    expect(joined.equals(set)).toBe(true);
  });

  it('round trips any set, through the set and through pairs', () => {
    fc.assert(
      fc.property(setArb, fc.integer({ min: 1, max: 8 }), (set, max) => {
        const lists = deltasOfSet(set, max);
        const back = new RangeSet();
        for (const list of lists) {
          expect(deltasProblem(list, 0, max)).toBeUndefined();
          expect(list.length / 2).toBeLessThanOrEqual(max);
          back.addSet(setOfDeltas(list));
        }
        expect(back.equals(set)).toBe(true);
        const [whole = []] = deltasOfSet(set, 1_000);
        expect(pairsOfDeltas(whole)).toEqual(set.toJSON());
        expect(deltasOfFlat(set.toJSON().flat())).toEqual(whole);
        expect(heightsInDeltas(whole)).toBe(set.count);
      }),
    );
  });

  it('round trips the far end of the heights', () => {
    const set = RangeSet.from([
      [0, 0],
      [MAX - 1, MAX],
    ]);
    const [deltas = []] = deltasOfSet(set, 10);
    expect(deltas).toEqual([0, 0, MAX - 1, 1]);
    expect(deltasProblem(deltas, 0, 10)).toBeUndefined();
    expect(setOfDeltas(deltas).equals(set)).toBe(true);
  });
});

describe('deltasProblem', () => {
  it.each([
    ['not a list', { a: 1 }, 'expected a list of range deltas', []],
    ['an odd length', [1, 0, 2], 'range deltas come in pairs (start or gap, length)', []],
    ['too many ranges', [1, 0, 2, 0, 2, 0], 'at most 2 ranges per frame', []],
    ['too few ranges', [], 'at least 1 range expected', []],
    ['a negative start', [-1, 0], 'expected a whole number from 0 to 2^53-1', [0]],
    ['a fraction', [1, 0.5], 'expected a whole number from 0 to 2^53-1', [1]],
    ['a string', [1, 0, '2', 0], 'expected a whole number from 0 to 2^53-1', [2]],
    ['a nested pair', [[1, 1]], 'range deltas come in pairs (start or gap, length)', []],
    ['a null', [1, null], 'expected a whole number from 0 to 2^53-1', [1]],
    ['an unsafe number', [2 ** 53, 0], 'expected a whole number from 0 to 2^53-1', [0]],
    ['a gap of 0 (overlap)', [5, 2, 0, 1], 'a gap is at least 1 (ranges ascending, disjoint)', [2]],
    ['a start past the last height', [MAX, 0, 1, 0], 'the ranges reach past height 2^53-1', [3]],
    ['a length past the last height', [MAX - 1, 2], 'the ranges reach past height 2^53-1', [1]],
  ])('%s', (_name, value, message, path) => {
    const min = _name === 'too few ranges' ? 1 : 0;
    const max = _name === 'too many ranges' ? 2 : 100;
    expect(deltasProblem(value, min, max)).toEqual({ message, path });
  });

  it('accepts a gap of 1 (touching ranges) and the last height itself', () => {
    expect(deltasProblem([0, 0, 1, 0], 0, 10)).toBeUndefined();
    expect(deltasProblem([MAX, 0], 1, 10)).toBeUndefined();
  });
});

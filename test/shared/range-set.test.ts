import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pairsOfFlat } from '../../shared/range-flat.js';
import { RangeSet } from '../../shared/range-set.js';

/** RangeSet.takeInto read back as `[from, to]` pairs. */
function takePairs(set: RangeSet, n: number): [number, number][] {
  const flat: number[] = [];
  set.takeInto(n, flat);
  return pairsOfFlat(flat);
}

const MAX = Number.MAX_SAFE_INTEGER;

/**
 * What breaks the invariant (sorted, disjoint, non-adjacent ranges of safe integers) or the
 * agreement of count/rangeCount/isEmpty/min/max with the ranges. Plain checks, not one expect()
 * each: the property tests run this after every step.
 */
function invariantProblems(set: RangeSet): string[] {
  const problems: string[] = [];
  const ranges = set.toJSON();
  let total = 0;
  for (let i = 0; i < ranges.length; i++) {
    const [from, to] = ranges[i] as [number, number];
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to) {
      problems.push(`bad range ${from}..${to}`);
    }
    const prev = ranges[i - 1];
    if (prev && prev[1] + 1 >= from) problems.push(`${prev[0]}..${prev[1]} touches ${from}..${to}`);
    total += to - from + 1;
  }
  if (set.count !== total) problems.push(`count ${set.count}, ranges hold ${total}`);
  if (set.rangeCount !== ranges.length) problems.push(`rangeCount ${set.rangeCount}`);
  if (set.isEmpty !== (ranges.length === 0)) problems.push(`isEmpty ${set.isEmpty}`);
  if (set.min() !== ranges[0]?.[0]) problems.push(`min ${set.min()}`);
  if (set.max() !== ranges.at(-1)?.[1]) problems.push(`max ${set.max()}`);
  return problems;
}

function expectNormalized(set: RangeSet): void {
  expect(invariantProblems(set), set.toString()).toEqual([]);
}

describe('RangeSet basics', () => {
  it('starts empty', () => {
    const set = new RangeSet();
    expect(set.count).toBe(0);
    expect(set.rangeCount).toBe(0);
    expect(set.isEmpty).toBe(true);
    expect(set.min()).toBeUndefined();
    expect(set.max()).toBeUndefined();
    expect(set.has(0)).toBe(false);
    expect(set.rangeContaining(0)).toBeUndefined();
    expect([...set.ranges()]).toEqual([]);
    expect([...set.heights()]).toEqual([]);
    expect(takePairs(set, 5)).toEqual([]);
    expect(set.first(5)).toEqual([]);
    expect(set.countWithin(0, MAX)).toBe(0);
    expect(set.toString()).toBe('{}');
  });

  it('merges adjacent heights and ranges on add', () => {
    const set = new RangeSet();
    expect(set.add(1, 4)).toBe(4);
    expect(set.add(5)).toBe(1);
    expect(set.toJSON()).toEqual([[1, 5]]);
    expect(set.add(7)).toBe(1);
    expect(set.toJSON()).toEqual([
      [1, 5],
      [7, 7],
    ]);
    expect(set.add(6)).toBe(1);
    expect(set.toJSON()).toEqual([[1, 7]]);
    expect(set.add(0)).toBe(1);
    expect(set.toJSON()).toEqual([[0, 7]]);
    expect(set.count).toBe(8);
  });

  it('add returns only the heights that are new', () => {
    const set = RangeSet.from([[0, 9]]);
    expect(set.add(5, 14)).toBe(5);
    expect(set.add(3)).toBe(0);
    expect(set.add(0, 14)).toBe(0);
    expect(set.count).toBe(15);
    set.add(20, 24);
    set.add(30, 34);
    // Spans three ranges and fills the two gaps (15..19, 25..29) plus 35..40.
    expect(set.add(2, 40)).toBe(5 + 5 + 6);
    expect(set.toJSON()).toEqual([[0, 40]]);
    expect(set.count).toBe(41);
  });

  it('adds below, between and above existing ranges', () => {
    const set = RangeSet.from([
      [10, 19],
      [40, 49],
    ]);
    set.add(0, 2);
    set.add(25, 30);
    set.add(60);
    expect(set.toString()).toBe('{0..2, 10..19, 25..30, 40..49, 60}');
    expect(set.count).toBe(3 + 10 + 6 + 10 + 1);
    expectNormalized(set);
  });

  it('remove splits a range, trims ends and spans ranges', () => {
    const set = RangeSet.from([[0, 9]]);
    expect(set.remove(3, 5)).toBe(3);
    expect(set.toString()).toBe('{0..2, 6..9}');
    expect(set.remove(4)).toBe(0);
    expect(set.remove(0)).toBe(1);
    expect(set.remove(9)).toBe(1);
    expect(set.toString()).toBe('{1..2, 6..8}');
    expect(set.remove(2, 6)).toBe(2);
    expect(set.toString()).toBe('{1, 7..8}');
    expect(set.remove(0, 100)).toBe(3);
    expect(set.isEmpty).toBe(true);
    expect(set.count).toBe(0);
  });

  it('take removes the lowest heights across ranges and returns them as ranges', () => {
    const set = RangeSet.from([
      [0, 2],
      [5, 6],
      [9, 9],
    ]);
    expect(takePairs(set, 4)).toEqual([
      [0, 2],
      [5, 5],
    ]);
    expect(set.toString()).toBe('{6, 9}');
    expect(set.count).toBe(2);
    expect(takePairs(set, 0)).toEqual([]);
    expect(takePairs(set, 10)).toEqual([
      [6, 6],
      [9, 9],
    ]);
    set.clear();
    expect(set.count).toBe(0);
    expect(set.isEmpty).toBe(true);
    set.add(3);
    expect(set.toString()).toBe('{3}');
  });

  it('takeInto appends what it takes to a flat list, one entry pair per range, and counts it', () => {
    const set = RangeSet.ofHeights([1, 3, 4, 5, 9, 11]);
    const out = [100, 100];
    expect(set.takeInto(4, out)).toBe(4);
    expect(out).toEqual([100, 100, 1, 1, 3, 5]);
    expect(set.toString()).toBe('{9, 11}');
    expect(set.takeInto(1, out)).toBe(1);
    expect(out.slice(6)).toEqual([9, 9]);
    expect(set.takeInto(5, out)).toBe(1);
    expect(set.takeInto(5, out)).toBe(0);
    expect(out.slice(8)).toEqual([11, 11]);
    expect(set.isEmpty).toBe(true);
    // Across blocks: 400 isolated heights are four blocks.
    const many = RangeSet.ofHeights(Array.from({ length: 400 }, (_, i) => 2 * i));
    const flat: number[] = [];
    expect(many.takeInto(250, flat)).toBe(250);
    expect(flat.length).toBe(500);
    expect(flat.slice(-2)).toEqual([498, 498]);
    expect(many.count).toBe(150);
    expect(many.min()).toBe(500);
  });

  it('lowestFrom finds the lowest height at or above a height', () => {
    const set = RangeSet.from([
      [3, 5],
      [9, 9],
    ]);
    expect(set.lowestFrom(0)).toBe(3);
    expect(set.lowestFrom(4)).toBe(4);
    expect(set.lowestFrom(6)).toBe(9);
    expect(set.lowestFrom(10)).toBeUndefined();
    expect(new RangeSet().lowestFrom(0)).toBeUndefined();
    const many = RangeSet.ofHeights(Array.from({ length: 1_000 }, (_, i) => 3 * i));
    expect(many.lowestFrom(1_000)).toBe(1_002);
    expect(many.lowestFrom(2_997)).toBe(2_997);
    expect(many.lowestFrom(2_998)).toBeUndefined();
  });

  it('fromFlat keeps a normalized flat list as it lies and sorts any other', () => {
    const flat = [1, 2, 5, 5, 9, 12];
    const set = RangeSet.fromFlat(flat);
    expect(set.toJSON()).toEqual([
      [1, 2],
      [5, 5],
      [9, 12],
    ]);
    expect(set.count).toBe(7);
    // Out of order, touching and overlapping: merged as from() merges pairs.
    expect(RangeSet.fromFlat([9, 9, 1, 2, 3, 4, 4, 6]).toString()).toBe('{1..6, 9}');
    expect(RangeSet.fromFlat([]).isEmpty).toBe(true);
    expect(() => RangeSet.fromFlat([5, 4])).toThrow(RangeError);
    expect(() => RangeSet.fromFlat([-1, 4])).toThrow(RangeError);
  });

  it('first returns the lowest heights without removing them', () => {
    const set = RangeSet.from([
      [0, 2],
      [5, 6],
    ]);
    expect(set.first(4)).toEqual([0, 1, 2, 5]);
    expect(set.first(100)).toEqual([0, 1, 2, 5, 6]);
    expect(set.first(0)).toEqual([]);
    expect(set.count).toBe(5);
    expect(set.toString()).toBe('{0..2, 5..6}');
  });

  it('builds from overlapping unsorted ranges and from unsorted heights with duplicates', () => {
    const set = RangeSet.from([
      [20, 30],
      [0, 5],
      [3, 9],
      [12, 12],
      [10, 10],
      [25, 26],
    ]);
    expect(set.toString()).toBe('{0..10, 12, 20..30}');
    expect(set.count).toBe(11 + 1 + 11);
    const list = [9, 3, 4, 4, 1, 2, 9, 11, 0];
    const heights = RangeSet.ofHeights(list);
    expect(heights.toString()).toBe('{0..4, 9, 11}');
    expect(heights.count).toBe(7);
    // An unsorted list is sorted in a copy, never in place; any iterable will do.
    expect(list).toEqual([9, 3, 4, 4, 1, 2, 9, 11, 0]);
    expect(RangeSet.ofHeights(new Set([5, 7, 6])).toString()).toBe('{5..7}');
    expect(RangeSet.ofHeights([]).isEmpty).toBe(true);
    expect(RangeSet.from([]).isEmpty).toBe(true);
  });

  it('keeps a huge range as one range', () => {
    const set = new RangeSet();
    expect(set.add(0, 99_999_999)).toBe(100_000_000);
    expect(set.rangeCount).toBe(1);
    expect(set.count).toBe(100_000_000);
    expect(takePairs(set, 3)).toEqual([[0, 2]]);
    expect(set.remove(50_000_000)).toBe(1);
    expect(set.toString()).toBe('{3..49999999, 50000001..99999999}');
    expect(set.count).toBe(99_999_996);
  });

  it('handles the largest safe integer', () => {
    const set = new RangeSet();
    expect(set.add(MAX - 1, MAX)).toBe(2);
    expect(set.has(MAX)).toBe(true);
    expect(set.rangeContaining(MAX)).toEqual([MAX - 1, MAX]);
    expect(set.max()).toBe(MAX);
    expect(set.add(0, MAX)).toBe(MAX - 1);
    expect(set.count).toBe(2 ** 53);
    expect(set.rangeCount).toBe(1);
    expect(set.remove(MAX)).toBe(1);
    expect(set.max()).toBe(MAX - 1);
    expect(set.countWithin(MAX - 10, MAX)).toBe(10);
    expect(takePairs(set, 2)).toEqual([[0, 1]]);
    expect(set.count).toBe(2 ** 53 - 3);
  });

  it('rejects bad input with a RangeError', () => {
    const set = RangeSet.from([[0, 9]]);
    const bad: [number, number][] = [
      [5, 4],
      [-1, 3],
      [1.5, 3],
      [0, 2 ** 53],
      [Number.NaN, 1],
      [0, Number.POSITIVE_INFINITY],
    ];
    for (const [from, to] of bad) {
      expect(() => set.add(from, to), `add(${from}, ${to})`).toThrow(RangeError);
      expect(() => set.remove(from, to), `remove(${from}, ${to})`).toThrow(RangeError);
      expect(() => RangeSet.from([[from, to]])).toThrow(RangeError);
      // Also after the ranges stopped coming in order (the sorting path checks the rest).
      expect(() =>
        RangeSet.from([
          [5, 6],
          [1, 2],
          [from, to],
        ]),
      ).toThrow(RangeError);
    }
    expect(() => set.add(-1)).toThrow(RangeError);
    expect(() => RangeSet.ofHeights([1, -2])).toThrow(RangeError);
    expect(() => RangeSet.ofHeights([0.5])).toThrow(RangeError);
    expect(() => takePairs(set, -1)).toThrow(RangeError);
    expect(() => set.first(1.5)).toThrow(RangeError);
    expect(() => set.countWithin(-1, 5)).toThrow(RangeError);
    expect(() => [...set.rangesWithin(0, 0.5)]).toThrow(RangeError);
    // Nothing changed.
    expect(set.toString()).toBe('{0..9}');
    expect(set.count).toBe(10);
  });

  it('has and rangeContaining answer false for what is not a height', () => {
    const set = RangeSet.from([[0, 9]]);
    expect(set.has(1.5)).toBe(false);
    expect(set.has(-1)).toBe(false);
    expect(set.has(Number.NaN)).toBe(false);
    expect(set.has(10)).toBe(false);
    expect(set.has(9)).toBe(true);
    expect(set.rangeContaining(1.5)).toBeUndefined();
    expect(set.rangeContaining(4)).toEqual([0, 9]);
  });

  it('counts and lists ranges within a window', () => {
    const set = RangeSet.from([
      [0, 9],
      [12, 12],
      [20, 30],
    ]);
    expect(set.countWithin(5, 25)).toBe(5 + 1 + 6);
    expect(set.countWithin(10, 11)).toBe(0);
    expect(set.countWithin(12, 12)).toBe(1);
    expect(set.countWithin(25, 5)).toBe(0);
    expect([...set.rangesWithin(5, 25)]).toEqual([
      [5, 9],
      [12, 12],
      [20, 25],
    ]);
    expect([...set.rangesWithin(13, 19)]).toEqual([]);
    expect([...set.rangesWithin(31, 5)]).toEqual([]);
  });

  it('union, difference and intersection leave their inputs unchanged', () => {
    const a = RangeSet.from([
      [0, 9],
      [20, 29],
    ]);
    const b = RangeSet.from([
      [5, 24],
      [40, 40],
    ]);
    expect(a.union(b).toString()).toBe('{0..29, 40}');
    expect(a.difference(b).toString()).toBe('{0..4, 25..29}');
    expect(b.difference(a).toString()).toBe('{10..19, 40}');
    expect(a.intersection(b).toString()).toBe('{5..9, 20..24}');
    expect(a.union(b).count).toBe(31);
    expect(a.intersection(b).count).toBe(10);
    expect(a.toString()).toBe('{0..9, 20..29}');
    expect(b.toString()).toBe('{5..24, 40}');
    expect(a.difference(a).isEmpty).toBe(true);
    expect(a.union(new RangeSet()).equals(a)).toBe(true);
  });

  it('addSet and removeSet change the set in place, for small and large operands', () => {
    const evens = RangeSet.ofHeights(Array.from({ length: 100 }, (_, i) => 2 * i));
    const odds = RangeSet.ofHeights(Array.from({ length: 100 }, (_, i) => 2 * i + 1));
    const set = evens.clone();
    set.addSet(odds); // 100 ranges into 100: one walk over both
    expect(set.toString()).toBe('{0..199}');
    expect(set.count).toBe(200);
    set.removeSet(odds);
    expect(set.equals(evens)).toBe(true);
    expect(set.count).toBe(100);
    set.addSet(RangeSet.from([[1, 5]])); // one range: only its block is rebuilt
    expect(set.first(8)).toEqual([0, 1, 2, 3, 4, 5, 6, 8]);
    set.removeSet(RangeSet.from([[0, 150]]));
    expect(set.min()).toBe(152);
    expect(set.count).toBe(24);
    set.removeSet(set);
    expect(set.isEmpty).toBe(true);
    expect(odds.count).toBe(100);
  });

  it('extract removes and returns the heights both sets hold; intersects tells if any is held', () => {
    const set = RangeSet.from([
      [0, 9],
      [20, 29],
      [40, 49],
    ]);
    const asked = RangeSet.from([
      [5, 22],
      [30, 35],
      [48, 60],
    ]);
    const taken = set.extract(asked);
    expect(taken.toJSON()).toEqual([
      [5, 9],
      [20, 22],
      [48, 49],
    ]);
    expect(set.toJSON()).toEqual([
      [0, 4],
      [23, 29],
      [40, 47],
    ]);
    expect(set.count).toBe(5 + 7 + 8);
    expect(asked.rangeCount).toBe(3);
    expect(set.extract(RangeSet.from([[100, 200]])).isEmpty).toBe(true);
    expect(set.extract(set).toJSON()).toEqual([
      [0, 4],
      [23, 29],
      [40, 47],
    ]);
    expect(set.isEmpty).toBe(true);

    const sparse = RangeSet.ofHeights(Array.from({ length: 1000 }, (_, i) => 2 * i));
    expect(sparse.intersects(1, 1)).toBe(false);
    expect(sparse.intersects(1, 2)).toBe(true);
    expect(sparse.intersects(1999, 5000)).toBe(false);
    expect(sparse.intersects(0, 0)).toBe(true);
    expect(sparse.intersects(5, 4)).toBe(false);
  });

  it('addSet and removeSet of a sparse set into a sparse set of many blocks', () => {
    const evens = RangeSet.ofHeights(Array.from({ length: 20_000 }, (_, i) => 2 * i));
    const odds = RangeSet.ofHeights(Array.from({ length: 20_000 }, (_, i) => 2 * i + 1));
    const set = evens.clone();
    set.addSet(odds);
    expect(set.toJSON()).toEqual([[0, 39_999]]);
    set.removeSet(odds);
    expect(set.equals(evens)).toBe(true);
    expectNormalized(set);
    // A few heights far apart: only their blocks are rebuilt.
    const few = RangeSet.ofHeights([1, 20_001, 39_999, 50_000]);
    set.addSet(few);
    expect(set.count).toBe(20_004);
    expect(set.rangeCount).toBe(20_000 - 2 + 1);
    expect(set.rangeContaining(20_001)).toEqual([20_000, 20_002]);
    expect(set.max()).toBe(50_000);
    expect(set.extract(few).equals(few)).toBe(true);
    expect(set.equals(evens)).toBe(true);
  });

  it("extract and removeSet cut out a run of the set's own ranges, across the blocks it spans", () => {
    const evens = (from: number, count: number) =>
      RangeSet.ofHeights(Array.from({ length: count }, (_, i) => from + 2 * i));
    // Runs within one block, across many, from the start, to the end, and the whole set.
    for (const [from, count] of [
      [100, 20],
      [1_000, 3_000],
      [0, 500],
      [38_000, 1_000],
      [0, 20_000],
    ] as const) {
      const set = evens(0, 20_000);
      const run = evens(from, count);
      const taken = set.extract(run);
      expect(taken.equals(run)).toBe(true);
      expect(set.equals(evens(0, 20_000).difference(run))).toBe(true);
      expectNormalized(set);
      const again = evens(0, 20_000);
      again.removeSet(run);
      expect(again.equals(set)).toBe(true);
      expectNormalized(again);
    }
    // Not a run: a range of the other set differs from the set's own; the walk answers.
    const set = evens(0, 20_000);
    const notRun = evens(1_000, 100);
    notRun.add(1_050, 1_051);
    const taken = set.extract(notRun);
    expect(taken.count).toBe(100);
    expect(set.count).toBe(19_900);
    expectNormalized(set);
  });

  it('addFlat adds the ranges of a flat list from an index, past the top or among the ranges', () => {
    const flatEvens = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => [from + 2 * i, from + 2 * i]).flat();
    const set = RangeSet.ofHeights([0, 2, 4]);
    // Past the top: cut into blocks of its own; the entries before `start` are not read.
    set.addFlat([1, 1, ...flatEvens(100, 1_000)], 2);
    expect(set.count).toBe(1_003);
    expect(set.rangeCount).toBe(1_003);
    expect(set.max()).toBe(100 + 2 * 999);
    expectNormalized(set);
    // Touching the top and among the ranges: merged as addSet merges.
    set.addFlat([2_099, 2_105]);
    set.addFlat([1, 1, 3, 3]);
    expect(set.rangeContaining(0)).toEqual([0, 4]);
    expect(set.rangeContaining(2_098)).toEqual([2_098, 2_105]);
    expect(set.count).toBe(1_003 + 7 + 2);
    expectNormalized(set);
    set.addFlat([5, 5], 2);
    expect(set.count).toBe(1_012);
  });

  it('clone is independent, equals compares heights, toJSON and toString format them', () => {
    const set = RangeSet.from([
      [0, 9],
      [12, 12],
      [20, 30],
    ]);
    const copy = set.clone();
    copy.add(10, 11);
    expect(set.toString()).toBe('{0..9, 12, 20..30}');
    expect(copy.toString()).toBe('{0..12, 20..30}');
    expect(set.equals(copy)).toBe(false);
    expect(set.equals(RangeSet.ofHeights(set.heights()))).toBe(true);
    expect(JSON.stringify(set)).toBe('[[0,9],[12,12],[20,30]]');
    expect([...RangeSet.from([[3, 5]]).heights()]).toEqual([3, 4, 5]);
  });

  it('equals holds after front removals that shifted the internal start', () => {
    const a = RangeSet.ofHeights([0, 2, 4, 6, 8]);
    takePairs(a, 2);
    const b = RangeSet.ofHeights([4, 6, 8]);
    expect(a.equals(b)).toBe(true);
    expect(b.equals(a)).toBe(true);
    b.add(9);
    expect(a.equals(b)).toBe(false);
  });

  it('stays correct while taking one height at a time from many ranges', () => {
    const heights = Array.from({ length: 1000 }, (_, i) => 3 * i);
    const set = RangeSet.ofHeights(heights);
    for (let i = 0; i < 1000; i++) {
      expect(takePairs(set, 1)).toEqual([[3 * i, 3 * i]]);
      if (i % 97 === 0) {
        expect(set.min()).toBe(3 * (i + 1));
        expect(set.rangeCount).toBe(999 - i);
        expect(set.has(3 * i)).toBe(false);
        expect(set.has(3 * (i + 1))).toBe(true);
        // Inserting below the lowest range reuses the space freed at the front.
        set.add(3 * i + 1);
        expect(set.min()).toBe(3 * i + 1);
        expect(set.remove(3 * i + 1)).toBe(1);
        expectNormalized(set);
      }
    }
    expect(set.isEmpty).toBe(true);
  });

  it('appends ascending single heights in one range per gap', () => {
    const set = new RangeSet();
    for (let h = 0; h < 100_000; h++) if (h % 1000 !== 999) set.add(h);
    expect(set.rangeCount).toBe(100);
    expect(set.count).toBe(99_900);
    expect(set.add(99_998)).toBe(0);
    expect(set.add(999)).toBe(1);
    expect(set.rangeCount).toBe(99);
  });
});

// Property tests against a Set<number> model over heights 0..200.

const DOMAIN = 200;
const heightArb = fc.integer({ min: 0, max: DOMAIN });
const rangeArb = fc
  .tuple(heightArb, fc.integer({ min: 0, max: 25 }))
  .map(([from, length]): [number, number] => [from, Math.min(DOMAIN, from + length)]);
/** Sets with few ranges and with many, some far apart: the walks of addSet, removeSet and extract. */
const setArb = fc.oneof(
  fc.array(rangeArb, { maxLength: 6 }).map((ranges) => RangeSet.from(ranges)),
  fc.array(heightArb, { maxLength: 120 }).map((heights) => RangeSet.ofHeights(heights)),
);

type Op =
  | { op: 'add' | 'remove'; range: [number, number] }
  | { op: 'take'; n: number }
  | { op: 'addSet' | 'removeSet' | 'extract'; set: RangeSet };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: rangeArb.map((range) => ({ op: 'add' as const, range })) },
  {
    weight: 3,
    arbitrary: heightArb.map((h) => ({ op: 'add' as const, range: [h, h] as [number, number] })),
  },
  { weight: 2, arbitrary: rangeArb.map((range) => ({ op: 'remove' as const, range })) },
  {
    weight: 3,
    arbitrary: heightArb.map((h) => ({ op: 'remove' as const, range: [h, h] as [number, number] })),
  },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 0, max: 40 }).map((n) => ({ op: 'take' as const, n })),
  },
  { weight: 1, arbitrary: setArb.map((set) => ({ op: 'addSet' as const, set })) },
  { weight: 1, arbitrary: setArb.map((set) => ({ op: 'removeSet' as const, set })) },
  { weight: 1, arbitrary: setArb.map((set) => ({ op: 'extract' as const, set })) },
);

function sorted(model: Set<number>): number[] {
  return [...model].sort((a, b) => a - b);
}

function modelOf(set: RangeSet): Set<number> {
  return new Set(set.heights());
}

function sameArray(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function expectMatchesModel(set: RangeSet, model: Set<number>, probe: [number, number]): void {
  const problems = invariantProblems(set);
  const heights = sorted(model);
  if (!sameArray([...set.heights()], heights)) problems.push(`heights, model ${heights}`);
  if (set.count !== model.size) problems.push(`count ${set.count}, model ${model.size}`);
  if (set.min() !== heights[0]) problems.push(`min ${set.min()}, model ${heights[0]}`);
  if (set.max() !== heights.at(-1)) problems.push(`max ${set.max()}, model ${heights.at(-1)}`);
  for (let h = 0; h <= DOMAIN + 1; h++) {
    if (set.has(h) !== model.has(h)) problems.push(`has(${h}) ${set.has(h)}`);
  }
  const [from, to] = probe;
  const within = heights.filter((h) => h >= from && h <= to).length;
  if (set.countWithin(from, to) !== within) problems.push(`countWithin(${from}, ${to})`);
  if (!sameArray(set.first(7), heights.slice(0, 7))) problems.push(`first(7) ${set.first(7)}`);
  expect(problems, set.toString()).toEqual([]);
}

describe('RangeSet against a Set model', () => {
  it('random add/remove/take/addSet/removeSet sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(opArb, rangeArb), { maxLength: 30 }), (steps) => {
        const set = new RangeSet();
        const model = new Set<number>();
        for (const [step, probe] of steps) {
          if ('range' in step) {
            const [from, to] = step.range;
            let changed = 0;
            for (let h = from; h <= to; h++) {
              if (step.op === 'add' ? !model.has(h) : model.has(h)) changed++;
              if (step.op === 'add') model.add(h);
              else model.delete(h);
            }
            expect(step.op === 'add' ? set.add(from, to) : set.remove(from, to)).toBe(changed);
          } else if ('n' in step) {
            const expected = sorted(model).slice(0, step.n);
            for (const h of expected) model.delete(h);
            expect(takePairs(set, step.n)).toEqual(RangeSet.ofHeights(expected).toJSON());
          } else {
            const before = step.set.toJSON();
            const held = [...step.set.heights()].filter((h) => model.has(h));
            for (const h of step.set.heights()) {
              if (step.op === 'addSet') model.add(h);
              else model.delete(h);
            }
            if (step.op === 'addSet') set.addSet(step.set);
            else if (step.op === 'removeSet') set.removeSet(step.set);
            else {
              const taken = set.extract(step.set);
              expectNormalized(taken);
              expect([...taken.heights()]).toEqual(held);
            }
            expect(step.set.toJSON()).toEqual(before);
          }
          expectMatchesModel(set, model, probe);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('union, difference and intersection', () => {
    fc.assert(
      fc.property(setArb, setArb, (a, b) => {
        const [ma, mb] = [modelOf(a), modelOf(b)];
        const [ja, jb] = [a.toJSON(), b.toJSON()];
        const union = a.union(b);
        const difference = a.difference(b);
        const intersection = a.intersection(b);
        expectNormalized(union);
        expectNormalized(difference);
        expectNormalized(intersection);
        expect([...union.heights()]).toEqual(sorted(new Set([...ma, ...mb])));
        expect([...difference.heights()]).toEqual(sorted(ma).filter((h) => !mb.has(h)));
        expect([...intersection.heights()]).toEqual(sorted(ma).filter((h) => mb.has(h)));
        expect(a.toJSON()).toEqual(ja);
        expect(b.toJSON()).toEqual(jb);
        const added = a.clone();
        added.addSet(b);
        expect(added.equals(union)).toBe(true);
        const removed = a.clone();
        removed.removeSet(b);
        expect(removed.equals(difference)).toBe(true);
        expect(union.equals(b.union(a))).toBe(true);
        expect(intersection.equals(b.intersection(a))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('cover fills the gaps where the other set holds nothing', () => {
    fc.assert(
      fc.property(setArb, setArb, (set, by) => {
        expect(by.cover(set).toJSON()).toEqual(naiveCover(set, by));
        expectNormalized(by.cover(set));
      }),
      { numRuns: 1000 },
    );
  });

  it('from, ofHeights, rangesWithin, rangeContaining and toString', () => {
    fc.assert(
      fc.property(
        fc.array(rangeArb, { maxLength: 10 }),
        fc.array(heightArb, { maxLength: 60 }),
        rangeArb,
        (ranges, heights, [from, to]) => {
          const fromRanges = RangeSet.from(ranges);
          const model = new Set<number>();
          for (const [a, b] of ranges) for (let h = a; h <= b; h++) model.add(h);
          expectNormalized(fromRanges);
          expect([...fromRanges.heights()]).toEqual(sorted(model));

          const ofHeights = RangeSet.ofHeights(heights);
          expectNormalized(ofHeights);
          expect([...ofHeights.heights()]).toEqual(sorted(new Set(heights)));

          const within = RangeSet.from(fromRanges.rangesWithin(from, to));
          expect([...within.heights()]).toEqual(sorted(model).filter((h) => h >= from && h <= to));
          expect(within.rangeCount).toBe([...fromRanges.rangesWithin(from, to)].length);
          expect(fromRanges.within(from, to).equals(within)).toBe(true);
          expectNormalized(fromRanges.within(from, to));
          expect(fromRanges.rangeCountWithin(from, to)).toBe(within.rangeCount);
          expect(fromRanges.intersects(from, to)).toBe(!within.isEmpty);

          const range = fromRanges.rangeContaining(from);
          if (model.has(from)) {
            const [a, b] = range as [number, number];
            expect(a <= from && from <= b).toBe(true);
            expect(model.has(a - 1) || model.has(b + 1)).toBe(false);
            for (let h = a; h <= b; h++) expect(model.has(h)).toBe(true);
          } else {
            expect(range).toBeUndefined();
          }
          expect(RangeSet.from(fromRanges.toJSON()).toString()).toBe(fromRanges.toString());
        },
      ),
      { numRuns: 1000 },
    );
  });
});

/** The cover of `set` over `by` as the plain definition: a lookup per gap. */
function naiveCover(set: RangeSet, by: RangeSet): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of set.ranges()) {
    const last = out.at(-1);
    if (last && by.countWithin(last[1] + 1, a - 1) === 0) last[1] = b;
    else out.push([a, b]);
  }
  return out;
}

describe('RangeSet across many blocks', () => {
  const DOMAIN = 30_000;
  /** Ranges from a bitmap of the domain: the model the set must agree with. */
  function modelRanges(bits: Uint8Array): [number, number][] {
    const out: [number, number][] = [];
    for (let h = 0; h < bits.length; h++) {
      if (!bits[h]) continue;
      const last = out.at(-1);
      if (last && last[1] === h - 1) last[1] = h;
      else out.push([h, h]);
    }
    return out;
  }
  const step = fc.oneof(
    fc.record({
      kind: fc.constantFrom(
        'add',
        'remove',
        'addSet',
        'addFlat',
        'removeSet',
        'extract',
        'extractOwn',
      ),
      from: fc.integer({ min: 0, max: DOMAIN - 1 }),
      length: fc.integer({ min: 0, max: 3_000 }),
      stride: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({ kind: fc.constant('take'), n: fc.integer({ min: 0, max: 2_000 }) }),
  );

  it('agrees with a bitmap over thousands of ranges', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const s0 = steps.length;
        const set = new RangeSet();
        const bits = new Uint8Array(DOMAIN);
        // Start with every other height: thousands of ranges, many blocks.
        for (let h = 0; h < DOMAIN; h += 2) {
          set.add(h);
          bits[h] = 1;
        }
        for (const s of steps) {
          if (s.kind === 'take') {
            const taken = takePairs(set, s.n);
            let left = s.n;
            for (let h = 0; h < DOMAIN && left > 0; h++)
              if (bits[h]) {
                bits[h] = 0;
                left--;
              }
            expect(taken.reduce((n, [a, b]) => n + b - a + 1, 0)).toBe(s.n - left);
            continue;
          }
          const to = Math.min(DOMAIN - 1, s.from + s.length);
          if (s.kind === 'extractOwn') {
            // A run of the set's own ranges (clipped at the ends), as a lease's results are.
            const own = set.within(s.from, to);
            const ownRanges = own.toJSON();
            const taken = set.extract(own);
            expect(taken.toJSON()).toEqual(ownRanges);
            for (let h = s.from; h <= to; h++) bits[h] = 0;
            expectNormalized(set);
            continue;
          }
          const value = s.kind === 'add' || s.kind === 'addSet' || s.kind === 'addFlat' ? 1 : 0;
          if (s.kind === 'add' || s.kind === 'remove') {
            const before = set.countWithin(s.from, to);
            const changed = s.kind === 'add' ? set.add(s.from, to) : set.remove(s.from, to);
            expect(changed).toBe(s.kind === 'add' ? to - s.from + 1 - before : before);
            for (let h = s.from; h <= to; h++) bits[h] = value;
          } else {
            const other = new RangeSet();
            let held = 0;
            for (let h = s.from; h <= to; h += s.stride) {
              other.add(h);
              held += bits[h] as number;
              bits[h] = value;
            }
            if (s.kind === 'addSet') set.addSet(other);
            // After a range that is not to be added: addFlat reads from its `start`.
            else if (s.kind === 'addFlat') set.addFlat([7, 7, ...other.toJSON().flat()], 2);
            else if (s.kind === 'removeSet') set.removeSet(other);
            else {
              const taken = set.extract(other);
              expectNormalized(taken);
              expect(taken.count).toBe(held);
              expect(taken.difference(other).isEmpty).toBe(true);
            }
            // Sparse operands over many blocks: one range per 500 heights, the blocks between kept.
            const spread = RangeSet.ofHeights(
              Array.from({ length: 20 }, (_, i) => (s.from + 500 * i) % DOMAIN),
            );
            const copy = set.clone();
            copy.addSet(spread);
            copy.removeSet(spread);
            expect(copy.equals(set.difference(spread))).toBe(true);
            expectNormalized(copy);
          }
        }
        expectNormalized(set);
        const model = modelRanges(bits);
        expect(set.toJSON()).toEqual(model);
        // One range against thousands: the lookup-per-range paths.
        const [lo, hi] = [DOMAIN / 3, DOMAIN / 2];
        const probe = RangeSet.from([[lo, hi]]);
        const inProbe = (keep: (bit: number) => boolean) =>
          modelRanges(bits.map((bit, h) => (h >= lo && h <= hi && keep(bit) ? 1 : 0)));
        expect(probe.difference(set).toJSON()).toEqual(inProbe((bit) => bit === 0));
        expect(probe.intersection(set).toJSON()).toEqual(inProbe((bit) => bit === 1));
        expect(set.clone().equals(set)).toBe(true);
        // cover: each gap of a spread set filled where `set` holds nothing, as the plain loop.
        const spreadCover = RangeSet.ofHeights(
          Array.from({ length: 300 }, (_, i) => (s0 * 7 + 97 * i) % DOMAIN),
        );
        expect(set.cover(spreadCover).toJSON()).toEqual(naiveCover(spreadCover, set));
        const inWindow = model.filter(([a, b]) => b >= lo && a <= hi);
        expect(set.rangeCountWithin(lo, hi)).toBe(inWindow.length);
        expect(set.within(lo, hi).toJSON()).toEqual(inProbe((bit) => bit === 1));
      }),
      { numRuns: 60 },
    );
  });
});

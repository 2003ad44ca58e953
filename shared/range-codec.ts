/**
 * The compact form of a range list on the worker link (docs/protocol.md, "Range deltas"): one
 * flat array of whole numbers `[from0, len0, gap1, len1, gap2, len2, ...]`, range i being
 * `[from_i, from_i + len_i]` with `from_i = to_(i-1) + gap_i`, gap >= 1 (ascending, disjoint).
 * Every other height costs `2,0,` instead of `[1234567,1234567],`, and a flat array of numbers
 * is cheaper to parse, check and build than a list of pairs. Decoding goes straight into the
 * flat layout RangeSet keeps (range-flat.ts); encoding reads a set's ranges or a take's flat
 * ranges.
 */
import { RangeSet } from './range-set.js';

export interface DeltasProblem {
  message: string;
  path: number[];
}

const WHOLE_EXPECTED = 'expected a whole number from 0 to 2^53-1';

/** A whole number from 0 to 2^53-1: a height, a gap or a length (protocol.ts's isHeight too). */
export function isWhole(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The first thing wrong with `value` as range deltas of at most `maxRanges` ranges (at least
 * `minRanges`), or undefined: an even-length array of whole numbers, every gap after the first
 * range at least 1, and every height it reaches within 0..2^53-1.
 */
export function deltasProblem(
  value: unknown,
  minRanges: number,
  maxRanges: number,
): DeltasProblem | undefined {
  if (!Array.isArray(value)) return { message: 'expected a list of range deltas', path: [] };
  if (value.length % 2 !== 0)
    return { message: 'range deltas come in pairs (start or gap, length)', path: [] };
  const ranges = value.length / 2;
  if (ranges > maxRanges) return { message: `at most ${maxRanges} ranges per frame`, path: [] };
  if (ranges < minRanges) return { message: `at least ${minRanges} range expected`, path: [] };
  let to = -1;
  for (let i = 0; i < value.length; i += 2) {
    const step: unknown = value[i];
    const length: unknown = value[i + 1];
    if (!isWhole(step)) return { message: WHOLE_EXPECTED, path: [i] };
    if (!isWhole(length)) return { message: WHOLE_EXPECTED, path: [i + 1] };
    if (i > 0 && step < 1)
      return { message: 'a gap is at least 1 (ranges ascending, disjoint)', path: [i] };
    // Each sum is of two safe integers, so it is exact or rounds to 2^53 or above.
    const from = i === 0 ? step : to + step;
    to = from + length;
    if (to > Number.MAX_SAFE_INTEGER)
      return { message: 'the ranges reach past height 2^53-1', path: [i + 1] };
  }
  return undefined;
}

/** How many heights checked deltas cover. */
export function heightsInDeltas(deltas: readonly number[]): number {
  let count = 0;
  for (let i = 1; i < deltas.length; i += 2) count += (deltas[i] as number) + 1;
  return count;
}

/** Checked deltas as a set: ranges that touch (gap 1) are joined, as RangeSet keeps them. */
export function setOfDeltas(deltas: readonly number[]): RangeSet {
  const flat = new Array<number>(deltas.length);
  let n = 0;
  let to = -1;
  for (let i = 0; i < deltas.length; i += 2) {
    const from = i === 0 ? (deltas[0] as number) : to + (deltas[i] as number);
    to = from + (deltas[i + 1] as number);
    if (n > 0 && from === (flat[n - 1] as number) + 1) {
      flat[n - 1] = to;
    } else {
      flat[n++] = from;
      flat[n++] = to;
    }
  }
  flat.length = n;
  return RangeSet.fromNormalized(flat);
}

/** Checked deltas as [from, to] pairs, one per encoded range (a dispatch's attempts index them). */
export function pairsOfDeltas(deltas: readonly number[]): [number, number][] {
  const pairs = new Array<[number, number]>(deltas.length / 2);
  let to = -1;
  for (let i = 0; i < deltas.length; i += 2) {
    const from = i === 0 ? (deltas[0] as number) : to + (deltas[i] as number);
    to = from + (deltas[i + 1] as number);
    pairs[i / 2] = [from, to];
  }
  return pairs;
}

/**
 * Ranges given flat, `[from0, to0, from1, to1, ...]` (a take's), as deltas, one entry pair per
 * range in the same order; undefined when they are not ascending and disjoint (a take with due
 * retries first): those travel as pairs.
 */
export function deltasOfFlat(flat: readonly number[]): number[] | undefined {
  const out = new Array<number>(flat.length);
  let to = -1;
  for (let i = 0; i < flat.length; i += 2) {
    const from = flat[i] as number;
    if (from <= to) return undefined;
    out[i] = i === 0 ? from : from - to;
    to = flat[i + 1] as number;
    out[i + 1] = to - from;
  }
  return out;
}

/**
 * A set's ranges as deltas, in lists of at most `maxRanges` ranges each (each list starts from
 * its first height): one list for any set of at most that many ranges.
 */
export function deltasOfSet(set: RangeSet, maxRanges: number): number[][] {
  const lists: number[][] = [];
  let list: number[] = [];
  let to = -1;
  set.forEachRange((from, end) => {
    if (list.length === 2 * maxRanges) {
      lists.push(list);
      list = [];
    }
    list.push(list.length === 0 ? from : from - to, end - from);
    to = end;
  });
  if (list.length > 0 || lists.length === 0) lists.push(list);
  return lists;
}

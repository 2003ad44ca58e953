/**
 * The flat arrays RangeSet (range-set.ts) keeps its ranges in, `[from0, to0, from1, to1, ...]`
 * sorted, disjoint and non-adjacent, and the checks and steps its operations share: kept apart
 * so that the class reads as its operations.
 */

/** Most numbers (two per range) a block holds before it is cut in two: 128 ranges. */
export const BLOCK_MAX = 256;
/** A block with fewer numbers is joined to a neighbour when both fit in one. */
export const BLOCK_MIN = 32;
/**
 * Set operations with at most this many ranges on the other side go range by range: a walk
 * copies the list of blocks, which costs more than a few lookups in a set of a million gaps.
 */
export const PER_RANGE_MAX = 16;

export function checkHeight(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a height (an integer from 0 to 2^53-1), got ${value}`);
  }
}

export function checkRange(from: number, to: number): void {
  checkHeight(from, 'from');
  checkHeight(to, 'to');
  if (from > to) throw new RangeError(`from must not exceed to, got ${from}..${to}`);
}

export function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`n must be a non-negative integer, got ${n}`);
  }
}

/**
 * Appends one range's two numbers to a flat array. Two one-argument pushes, not `push(from,
 * to)`: Node 24's optimizing compiler inlines only the first, and a call with two arguments
 * took about three times as long in a take of 2,048 ranges (docs/performance.md, "Sparse
 * queues").
 */
export function pushRange(out: number[], from: number, to: number): void {
  out.push(from);
  out.push(to);
}

/** Appends [from, to] to a normalized flat array, merging with its last range when they touch. */
export function append(out: number[], from: number, to: number): void {
  const last = out.length - 1;
  if (last > 0 && from <= (out[last] as number) + 1) {
    if (to > (out[last] as number)) out[last] = to;
  } else {
    pushRange(out, from, to);
  }
}

/** The first index from `start` whose value in `ends` (ascending) is >= x; ends.length if none. */
export function firstEndingAtOrAfter(ends: number[], x: number, start: number): number {
  let lo = start;
  let hi = ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ends[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The heights the blocks hold. */
export function heightsOfBlocks(blocks: number[][]): number {
  let n = 0;
  for (const block of blocks) n += heightsOf(block);
  return n;
}

/** Calls `visit` with each range of a flat array `[from0, to0, ...]`, in its order. */
export function forEachFlat(
  flat: readonly number[],
  visit: (from: number, to: number) => void,
): void {
  for (let i = 0; i < flat.length; i += 2) visit(flat[i] as number, flat[i + 1] as number);
}

/** A flat array's ranges as `[from, to]` pairs, in its order. */
export function pairsOfFlat(flat: readonly number[]): [number, number][] {
  const pairs = new Array<[number, number]>(flat.length / 2);
  for (let i = 0; i < flat.length; i += 2)
    pairs[i / 2] = [flat[i] as number, flat[i + 1] as number];
  return pairs;
}

/** The heights a normalized flat array holds. */
export function heightsOf(flat: number[]): number {
  let n = 0;
  for (let i = 0; i < flat.length; i += 2) n += (flat[i + 1] as number) - (flat[i] as number) + 1;
  return n;
}

/**
 * Pushes [a0, a1] minus the ranges of `src` from index k onto `out`, the taken heights onto
 * `removed`; returns the index of the first range of `src` that may still reach past a1.
 */
export function subtractInto(
  out: number[],
  a0: number,
  a1: number,
  src: number[],
  k: number,
  removed: number[] | undefined,
): number {
  while (k < src.length && (src[k + 1] as number) < a0) k += 2;
  let from = a0;
  while (k < src.length && (src[k] as number) <= a1) {
    const b0 = src[k] as number;
    const b1 = src[k + 1] as number;
    if (b0 > from) pushRange(out, from, b0 - 1);
    const cut0 = Math.max(from, b0);
    const cut1 = Math.min(a1, b1);
    if (removed && cut0 <= cut1) pushRange(removed, cut0, cut1);
    from = Math.max(from, b1 + 1);
    if (b1 > a1) return k; // reaches into the next range of the set
    k += 2;
  }
  if (from <= a1) pushRange(out, from, a1);
  return k;
}

/** Pushes a normalized flat array onto `blocks` as blocks of at most BLOCK_MAX numbers. */
export function pushCut(blocks: number[][], flat: number[]): void {
  if (flat.length === 0) return;
  if (flat.length <= BLOCK_MAX) {
    blocks.push(flat);
    return;
  }
  const pieces = Math.ceil(flat.length / BLOCK_MAX);
  const size = Math.ceil(flat.length / 2 / pieces) * 2;
  for (let i = 0; i < flat.length; i += size) blocks.push(flat.slice(i, i + size));
}

/**
 * A set of block heights (integers 0..2^53-1) kept as sorted, disjoint, non-adjacent inclusive
 * ranges (docs/architecture.md, "Queue state": memory grows with the gaps, not the heights;
 * 0..99,999,999 is one range).
 *
 * Layout: the ranges in blocks, each a flat array `[from0, to0, from1, to1, ...]` of at most
 * BLOCK_MAX numbers, in order, with `ends[i]` the last height of block i. A lookup is a binary
 * search over `ends` then within one block; a change rewrites the ranges it touches inside at
 * most a few blocks and moves no other range, so add, remove and the queries cost
 * O(log n + B + k) for n ranges held, k touched and blocks of B: a million gaps cost what a
 * thousand do. The set operations (addSet, removeSet, extract, cover) walk the blocks once in
 * order and rebuild only those the other set reaches. The flat-array steps they share are in
 * range-flat.ts. Iterators read the blocks: do not change a set while iterating over it.
 */

import {
  append,
  BLOCK_MAX,
  BLOCK_MIN,
  checkCount,
  checkHeight,
  checkRange,
  firstEndingAtOrAfter,
  heightsOf,
  heightsOfBlocks,
  PER_RANGE_MAX,
  pairsOfFlat,
  pushCut,
  pushRange,
  subtractInto,
} from './range-flat.js';

/** A position among the ranges: block index and range index (even number index) in it. */
interface Pos {
  b: number;
  i: number;
}

export class RangeSet {
  private blocks: number[][] = [];
  /** ends[b]: the last height of blocks[b]. */
  private ends: number[] = [];
  private total = 0;
  private ranges_ = 0;

  /** A set holding every height of the given inclusive ranges, which may overlap or be unsorted. */
  static from(ranges: Iterable<readonly [number, number]>): RangeSet {
    if (Array.isArray(ranges)) return RangeSet.fromList(ranges);
    // One pass while the ranges come in order (the usual case: frames, rows, clipped sets);
    // sorted afterwards only if one does not.
    const flat: number[] = [];
    let pairs: [number, number][] | undefined;
    for (const [from, to] of ranges) {
      checkRange(from, to);
      if (pairs) pairs.push([from, to]);
      else if (flat.length > 0 && from < (flat[flat.length - 2] as number)) {
        pairs = [];
        for (let i = 0; i < flat.length; i += 2)
          pairs.push([flat[i] as number, flat[i + 1] as number]);
        pairs.push([from, to]);
      } else append(flat, from, to);
    }
    if (!pairs) return RangeSet.fromNormalized(flat);
    pairs.sort((a, b) => a[0] - b[0]);
    const sorted: number[] = [];
    for (const [from, to] of pairs) append(sorted, from, to);
    return RangeSet.fromNormalized(sorted);
  }

  /**
   * from() for a list (a frame's ranges, a lease): an indexed loop, no iterator or destructuring
   * per range, and one flat array cut into blocks when the ranges come in order.
   */
  private static fromList(ranges: readonly (readonly [number, number])[]): RangeSet {
    const flat = new Array<number>(2 * ranges.length);
    let n = 0;
    for (let i = 0; i < ranges.length; i++) {
      const range = ranges[i] as readonly [number, number];
      const from = range[0];
      const to = range[1];
      checkRange(from, to);
      if (n > 0 && from <= (flat[n - 1] as number) + 1) {
        if (from < (flat[n - 2] as number)) return RangeSet.sorted(ranges);
        if (to > (flat[n - 1] as number)) flat[n - 1] = to;
      } else {
        flat[n++] = from;
        flat[n++] = to;
      }
    }
    flat.length = n;
    return RangeSet.fromNormalized(flat);
  }

  /** A set of ranges in any order, overlapping or not: sorted by start, then merged. */
  private static sorted(ranges: readonly (readonly [number, number])[]): RangeSet {
    const pairs = ranges.map(([from, to]): [number, number] => {
      checkRange(from, to);
      return [from, to];
    });
    pairs.sort((a, b) => a[0] - b[0]);
    const flat: number[] = [];
    for (const [from, to] of pairs) append(flat, from, to);
    return RangeSet.fromNormalized(flat);
  }

  /** A set holding the given heights, in any order, duplicates allowed. */
  static ofHeights(heights: Iterable<number>): RangeSet {
    // A list in ascending order (a request's, usually) is read where it is; a copy is made
    // only to sort one that is not.
    let list: ArrayLike<number> = Array.isArray(heights) ? heights : Float64Array.from(heights);
    let sorted = true;
    for (let i = 0; i < list.length; i++) {
      checkHeight(list[i] as number, 'height');
      if (i > 0 && (list[i - 1] as number) > (list[i] as number)) sorted = false;
    }
    if (!sorted) list = Float64Array.from(list).sort();
    // Blocks filled in place, half full as fromNormalized cuts them: no flat copy to slice.
    const set = new RangeSet();
    let block: number[] = [];
    for (let i = 0; i < list.length; i++) {
      const height = list[i] as number;
      if (block.length > 0 && height <= (block[block.length - 1] as number) + 1) {
        block[block.length - 1] = Math.max(height, block[block.length - 1] as number);
        continue;
      }
      if (block.length === BLOCK_MAX / 2) {
        set.blocks.push(block);
        block = [];
      }
      pushRange(block, height, height);
      set.ranges_++;
    }
    if (block.length > 0) set.blocks.push(block);
    set.ends = set.blocks.map((b) => b[b.length - 1] as number);
    set.total = list.length === 0 ? 0 : heightsOfBlocks(set.blocks);
    return set;
  }

  /**
   * Wraps a flat array already sorted, disjoint and non-adjacent: kept as the one block when it
   * fits one (the caller must not change it afterwards), else copied into half-full blocks.
   */
  static fromNormalized(flat: number[]): RangeSet {
    const set = new RangeSet();
    if (flat.length > BLOCK_MAX) {
      set.appendHalfBlocks(flat, 0);
      return set;
    }
    if (flat.length > 0) {
      set.blocks.push(flat);
      set.ends.push(flat[flat.length - 1] as number);
    }
    set.total = heightsOf(flat);
    set.ranges_ = flat.length / 2;
    return set;
  }

  /**
   * The set of the ranges of a flat array `[from0, to0, ...]` in any order. One already sorted,
   * disjoint and non-adjacent (a take's) becomes the set's storage without a copy, so the
   * caller must not change it afterwards; any other is sorted and merged as from() does.
   */
  static fromFlat(flat: number[]): RangeSet {
    // One pass checks each range and whether each starts clear of the one before.
    let normalized = true;
    for (let i = 0; i < flat.length; i += 2) {
      checkRange(flat[i] as number, flat[i + 1] as number);
      if (i > 0 && (flat[i] as number) <= (flat[i - 1] as number) + 1) normalized = false;
    }
    return normalized ? RangeSet.fromNormalized(flat) : RangeSet.from(pairsOfFlat(flat));
  }

  /** How many heights the set holds, in O(1). */
  get count(): number {
    return this.total;
  }

  /** How many disjoint ranges the set is made of. */
  get rangeCount(): number {
    return this.ranges_;
  }

  /** True when the set holds no height. */
  get isEmpty(): boolean {
    return this.ranges_ === 0;
  }

  /** The lowest height, or undefined when empty. */
  min(): number | undefined {
    return this.blocks[0]?.[0];
  }

  /** The highest height, or undefined when empty. */
  max(): number | undefined {
    return this.ends[this.ends.length - 1];
  }

  /** The lowest height of the set at or above `x`, or undefined; O(log n). */
  lowestFrom(x: number): number | undefined {
    const p = this.seekTo(x);
    const from = this.blocks[p.b]?.[p.i];
    return from === undefined ? undefined : Math.max(from, x);
  }

  /** Whether the set holds `height`; false for anything that is not a height. */
  has(height: number): boolean {
    return this.rangeContaining(height) !== undefined;
  }

  /** The range of the set that holds `height`, or undefined when the set does not hold it. */
  rangeContaining(height: number): [number, number] | undefined {
    if (!Number.isSafeInteger(height)) return undefined;
    const p = this.seekTo(height);
    const block = this.blocks[p.b];
    if (!block) return undefined;
    const from = block[p.i] as number;
    if (from > height) return undefined;
    return [from, block[p.i + 1] as number];
  }

  /** Adds every height of [from, to]; returns how many were not in the set before. */
  add(from: number, to: number = from): number {
    checkRange(from, to);
    const last = this.blocks[this.blocks.length - 1];
    // Fast path: heights arriving in ascending order land at or after the last range.
    if (!last || from > (last[last.length - 1] as number) + 1) {
      this.insertLast(from, to);
      this.total += to - from + 1;
      return to - from + 1;
    }
    const p = this.seekTo(from - 1); // first range that ends at or after from - 1
    const q = this.seekFrom(to + 1); // first range that starts after to + 1
    let covered = 0;
    let newFrom = from;
    let newTo = to;
    let first = true;
    for (const [a, b] of this.between(p, q)) {
      if (first) newFrom = Math.min(from, a);
      first = false;
      newTo = Math.max(to, b);
      covered += b - a + 1;
    }
    const added = newTo - newFrom + 1 - covered;
    if (added === 0) return 0;
    this.replace(p, q, [newFrom, newTo]);
    this.total += added;
    return added;
  }

  /** Removes every height of [from, to]; returns how many the set held. */
  remove(from: number, to: number = from): number {
    checkRange(from, to);
    if (this.isEmpty) return 0;
    const p = this.seekTo(from); // first range that ends at or after from
    const q = this.seekFrom(to); // first range that starts after to
    let removed = 0;
    let firstFrom: number | undefined;
    let lastTo = 0;
    for (const [a, b] of this.between(p, q)) {
      firstFrom ??= a;
      lastTo = b;
      removed += Math.min(to, b) - Math.max(from, a) + 1;
    }
    if (firstFrom === undefined) return 0;
    const items: number[] = [];
    if (firstFrom < from) pushRange(items, firstFrom, from - 1);
    if (lastTo > to) pushRange(items, to + 1, lastTo);
    this.replace(p, q, items);
    this.total -= removed;
    return removed;
  }

  /** How many of the set's heights lie in [from, to]; 0 when from > to. */
  countWithin(from: number, to: number): number {
    checkHeight(from, 'from');
    checkHeight(to, 'to');
    if (from > to) return 0;
    // A loop of its own, not forEachRangeWithin: a commit's plan counts a row's heights in
    // three sets, and a sparse row holds thousands of ranges (a callback per range doubled it).
    const { blocks } = this;
    const p = this.seekTo(from);
    let n = 0;
    for (let b = p.b, i = p.i; b < blocks.length; b++, i = 0) {
      const block = blocks[b] as number[];
      for (; i < block.length; i += 2) {
        const a = block[i] as number;
        if (a > to) return n;
        const z = block[i + 1] as number;
        n += (z < to ? z : to) - (a > from ? a : from) + 1;
      }
    }
    return n;
  }

  /**
   * Adds every height of `other`, in place: range by range when `other` has a few ranges
   * (O(log n + B) each), else one walk over the blocks `other`'s ranges meet, in
   * O(m + log n + B per block touched) for m ranges of `other`, plus a copy of the list of
   * blocks, never a pass over every range held.
   */
  addSet(other: RangeSet): void {
    if (other === this || other.isEmpty) return;
    const top = this.max();
    if (top === undefined || (other.min() as number) > top + 1) {
      this.appendAll(other);
      return;
    }
    if (other.rangeCount <= PER_RANGE_MAX) {
      other.forEachRange((from, to) => this.add(from, to));
      return;
    }
    this.walk(other.flat(), true, undefined);
  }

  /**
   * Adds the ranges of `flat` from index `start` on, which must be normalized (sorted, disjoint,
   * apart: a take's). Past the set's highest height plus one, as a sparse queue's leases are,
   * they are cut straight into blocks of their own: one copy, where wrapping them in a set and
   * adding that copied them twice more. `flat` is not kept.
   */
  addFlat(flat: readonly number[], start = 0): void {
    if (start >= flat.length) return;
    const top = this.max();
    if (top !== undefined && (flat[start] as number) <= top + 1) {
      this.addSet(RangeSet.fromNormalized(flat.slice(start)));
      return;
    }
    this.appendHalfBlocks(flat, start);
  }

  /**
   * Appends the ranges of `flat` from `start` on (normalized, past the set's highest height
   * plus one) as copies cut into half-full blocks: room for later adds without a split.
   */
  private appendHalfBlocks(flat: readonly number[], start: number): void {
    const half = BLOCK_MAX / 2;
    for (let i = start; i < flat.length; i += half) {
      const block = flat.slice(i, i + half);
      this.blocks.push(block);
      this.ends.push(block[block.length - 1] as number);
      this.total += heightsOf(block);
    }
    this.ranges_ += (flat.length - start) / 2;
  }

  /** Removes every height of `other`, in place, in one walk as addSet. */
  removeSet(other: RangeSet): void {
    if (other === this) {
      this.clear();
      return;
    }
    if (other.isEmpty || this.isEmpty) return;
    if (other.rangeCount <= PER_RANGE_MAX) {
      other.forEachRange((from, to) => this.remove(from, to));
      return;
    }
    if (this.cutRun(other)) return;
    this.walk(other.flat(), false, undefined);
  }

  /**
   * Removes the heights of `other` that this set holds and returns them (this ∩ other), in one
   * walk as removeSet: a lease giving up the heights a results frame reports. When `other` is
   * a run of this set's own ranges, the answer is `other` itself: the caller must not change
   * `other` afterwards.
   */
  extract(other: RangeSet): RangeSet {
    if (other === this) {
      const all = this.clone();
      this.clear();
      return all;
    }
    const removed: number[] = [];
    if (other.isEmpty || this.isEmpty) return new RangeSet();
    if (other.rangeCount <= PER_RANGE_MAX) {
      other.forEachRange((from, to) => {
        this.forEachRangeWithin(from, to, (a, b) => pushRange(removed, a, b));
        this.remove(from, to);
      });
    } else if (this.cutRun(other)) {
      return other;
    } else {
      this.walk(other.flat(), false, removed);
    }
    return RangeSet.fromNormalized(removed);
  }

  /** Whether the set holds any height of [from, to]; O(log n), nothing allocated. */
  intersects(from: number, to: number): boolean {
    if (from > to) return false;
    const p = this.seekTo(from);
    const block = this.blocks[p.b];
    return block !== undefined && (block[p.i] as number) <= to;
  }

  /** A new set with the heights of both sets. */
  union(other: RangeSet): RangeSet {
    return RangeSet.fromNormalized(RangeSet.merge(this, other));
  }

  /**
   * A new set with this set's heights that `other` does not hold: one linear pass, or, when
   * `other` is much larger, a lookup in it per range of this set (an enqueue of a few ranges
   * into a queue of a million gaps).
   */
  difference(other: RangeSet): RangeSet {
    const top = other.max();
    if (this.isEmpty || top === undefined || (this.min() as number) > top) return this.clone();
    if (other.rangeCount > 16 * this.rangeCount) {
      const out: number[] = [];
      this.forEachRange((from, to) => other.punch(out, from, to));
      return RangeSet.fromNormalized(out);
    }
    return RangeSet.fromNormalized(RangeSet.subtract(this, other));
  }

  /** A new set with the heights both sets hold. */
  intersection(other: RangeSet): RangeSet {
    const [small, large] = this.rangeCount <= other.rangeCount ? [this, other] : [other, this];
    const out: number[] = [];
    if (large.rangeCount > 16 * small.rangeCount) {
      for (const [from, to] of small.ranges())
        for (const [a, b] of large.rangesWithin(from, to)) append(out, a, b);
      return RangeSet.fromNormalized(out);
    }
    const a = this.ranges();
    const b = other.ranges();
    let x = a.next();
    let y = b.next();
    while (!x.done && !y.done) {
      const lo = Math.max(x.value[0], y.value[0]);
      const hi = Math.min(x.value[1], y.value[1]);
      if (lo <= hi) pushRange(out, lo, hi);
      if (x.value[1] < y.value[1]) x = a.next();
      else y = b.next();
    }
    return RangeSet.fromNormalized(out);
  }

  /** The n lowest heights in ascending order (fewer when the set is smaller), left in the set. */
  first(n: number): number[] {
    checkCount(n);
    const out = new Array<number>(Math.min(n, this.total));
    let k = 0;
    for (const [from, to] of this.ranges()) {
      if (k >= out.length) break;
      for (let h = from; h <= to && k < out.length; h++) out[k++] = h;
    }
    return out;
  }

  /**
   * Removes the n lowest heights (fewer when the set is smaller), O(ranges taken) whatever the
   * number of heights, and appends them in ascending order to `out` in the flat layout the set
   * keeps, `[from0, to0, from1, to1, ...]` (one entry pair per range, none merged with what
   * `out` held); returns how many heights they hold. The dispatcher's form: a sparse lease is
   * thousands of one-height ranges, and a pair each would be thousands of allocations.
   */
  takeInto(n: number, out: number[]): number {
    checkCount(n);
    const taken = Math.min(n, this.total);
    let left = taken;
    this.total -= taken;
    let b = 0; // blocks emptied, dropped at the end in one splice
    while (left > 0) {
      const block = this.blocks[b] as number[];
      let i = 0;
      while (left > 0 && i < block.length) {
        const from = block[i] as number;
        const to = block[i + 1] as number;
        if (to - from + 1 <= left) {
          pushRange(out, from, to);
          left -= to - from + 1;
          i += 2;
        } else {
          pushRange(out, from, from + left - 1);
          block[i] = from + left;
          left = 0;
        }
      }
      this.ranges_ -= i / 2;
      if (i === block.length) b++;
      else if (i > 0) block.splice(0, i);
    }
    // One splice, not a shift per block: shifting a long list of blocks moves all of it each
    // time, and a sparse lease empties a block per 128 heights.
    if (b > 0) {
      this.blocks.splice(0, b);
      this.ends.splice(0, b);
    }
    return taken;
  }

  /** Removes every height. */
  clear(): void {
    this.blocks = [];
    this.ends = [];
    this.total = 0;
    this.ranges_ = 0;
  }

  /** The ranges in ascending order, as fresh [from, to] pairs. */
  *ranges(): IterableIterator<[number, number]> {
    for (const block of this.blocks)
      for (let i = 0; i < block.length; i += 2) yield [block[i] as number, block[i + 1] as number];
  }

  /** The ranges that meet [from, to], clipped to it, in ascending order. */
  *rangesWithin(from: number, to: number): IterableIterator<[number, number]> {
    checkHeight(from, 'from');
    checkHeight(to, 'to');
    const p = this.seekTo(from);
    for (let b = p.b, i = p.i; b < this.blocks.length; b++, i = 0) {
      const block = this.blocks[b] as number[];
      for (; i < block.length; i += 2) {
        const a = block[i] as number;
        if (a > to) return;
        yield [Math.max(from, a), Math.min(to, block[i + 1] as number)];
      }
    }
  }

  /**
   * `set` with each gap between two of its ranges filled where this set holds no height (the
   * chunk commit's cover of a sparse queue's successes, manager/store/chunk-layout.ts): one walk
   * forward over this set's blocks, a binary search instead when the next gap is far ahead.
   */
  cover(set: RangeSet): RangeSet {
    if (set.rangeCount < 2) return set;
    const { blocks } = this;
    const out: number[] = [];
    let from = -1;
    let to = -1;
    // Cursor on the first range of this set that ends after `to`.
    let b = 0;
    let i = 0;
    set.forEachRange((a, z) => {
      if (from >= 0) {
        for (let steps = 0; ; steps++) {
          const block = blocks[b];
          if (!block || (block[i + 1] as number) > to) break;
          if (steps === 8) {
            ({ b, i } = this.seekTo(to + 1));
            break;
          }
          i += 2;
          if (i >= block.length) {
            b++;
            i = 0;
          }
        }
        const start = blocks[b]?.[i];
        if (start === undefined || start >= a) {
          to = z; // nothing of this set between the two ranges: one range of the cover
          return;
        }
        pushRange(out, from, to);
      }
      from = a;
      to = z;
    });
    pushRange(out, from, to);
    return RangeSet.fromNormalized(out);
  }

  /** A new set of the heights within [from, to], built from the blocks directly. */
  within(from: number, to: number): RangeSet {
    checkHeight(from, 'from');
    checkHeight(to, 'to');
    const out: number[] = [];
    const p = this.seekTo(from);
    for (let b = p.b, i = p.i; b < this.blocks.length; b++, i = 0) {
      const block = this.blocks[b] as number[];
      for (; i < block.length; i += 2) {
        const a = block[i] as number;
        if (a > to) return RangeSet.fromNormalized(out);
        out.push(Math.max(from, a), Math.min(to, block[i + 1] as number));
      }
    }
    return RangeSet.fromNormalized(out);
  }

  /** How many ranges meet [from, to]: O(log n) plus the blocks between, nothing allocated. */
  rangeCountWithin(from: number, to: number): number {
    checkHeight(from, 'from');
    checkHeight(to, 'to');
    if (from > to) return 0;
    const p = this.seekTo(from);
    const q = this.seekFrom(to);
    let n = (q.i - p.i) / 2;
    for (let b = p.b; b < q.b; b++) n += (this.blocks[b] as number[]).length / 2;
    return Math.max(0, n);
  }

  /** Every height in ascending order. */
  *heights(): IterableIterator<number> {
    for (const [from, to] of this.ranges()) for (let h = from; h <= to; h++) yield h;
  }

  /** An independent copy. */
  clone(): RangeSet {
    const copy = new RangeSet();
    copy.blocks = this.blocks.map((block) => block.slice());
    copy.ends = this.ends.slice();
    copy.total = this.total;
    copy.ranges_ = this.ranges_;
    return copy;
  }

  /** Whether both sets hold the same heights. */
  equals(other: RangeSet): boolean {
    if (this.total !== other.total || this.rangeCount !== other.rangeCount) return false;
    const theirs = other.ranges();
    for (const [from, to] of this.ranges()) {
      const next = theirs.next();
      if (next.done || next.value[0] !== from || next.value[1] !== to) return false;
    }
    return true;
  }

  /** The ranges as [[from, to], ...], for JSON and tests. */
  toJSON(): [number, number][] {
    return [...this.ranges()];
  }

  /** Like {0..9, 12, 20..30}; {} when empty. */
  toString(): string {
    const parts: string[] = [];
    for (const [from, to] of this.ranges()) parts.push(from === to ? `${from}` : `${from}..${to}`);
    return `{${parts.join(', ')}}`;
  }

  /** Pushes [from, to] minus this set's heights onto `out`, reading the blocks in place. */
  private punch(out: number[], from: number, to: number): void {
    const { blocks } = this;
    const p = this.seekTo(from);
    let at = from;
    for (let b = p.b, i = p.i; b < blocks.length; b++, i = 0) {
      const block = blocks[b] as number[];
      for (; i < block.length; i += 2) {
        const a = block[i] as number;
        if (a > to) {
          if (at <= to) pushRange(out, at, to);
          return;
        }
        if (a > at) pushRange(out, at, a - 1);
        at = (block[i + 1] as number) + 1;
        if (at > to) return;
      }
    }
    if (at <= to) pushRange(out, at, to);
  }

  /** The first range whose end is >= x; {b: blocks.length, i: 0} if none. */
  private seekTo(x: number): Pos {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ends[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    const block = this.blocks[lo];
    if (!block) return { b: lo, i: 0 };
    let a = 0;
    let z = block.length >> 1;
    while (a < z) {
      const mid = (a + z) >>> 1;
      if ((block[2 * mid + 1] as number) < x) a = mid + 1;
      else z = mid;
    }
    return { b: lo, i: 2 * a };
  }

  /** The first range whose start is > x; {b: blocks.length, i: 0} if none. */
  private seekFrom(x: number): Pos {
    const p = this.seekTo(x + 1);
    const block = this.blocks[p.b];
    if (block && (block[p.i] as number) <= x) return this.next(p);
    return p;
  }

  private next(p: Pos): Pos {
    const block = this.blocks[p.b] as number[];
    return p.i + 2 < block.length ? { b: p.b, i: p.i + 2 } : { b: p.b + 1, i: 0 };
  }

  /** The ranges from position p up to, not including, q. */
  private *between(p: Pos, q: Pos): IterableIterator<[number, number]> {
    for (let b = p.b, i = p.i; b < q.b || (b === q.b && i < q.i); ) {
      const block = this.blocks[b] as number[];
      yield [block[i] as number, block[i + 1] as number];
      i += 2;
      if (i >= block.length) {
        b++;
        i = 0;
      }
    }
  }

  private insertLast(from: number, to: number): void {
    const last = this.blocks[this.blocks.length - 1];
    if (!last || last.length >= BLOCK_MAX) {
      this.blocks.push([from, to]);
      this.ends.push(to);
    } else {
      pushRange(last, from, to);
      this.ends[this.ends.length - 1] = to;
    }
    this.ranges_++;
  }

  /**
   * Replaces the ranges from p up to q with `items` (at most two ranges): the blocks strictly
   * between are dropped, the first and last are cut, and a block that grew too big is split or
   * one that shrank too small is joined to a neighbour.
   */
  private replace(p: Pos, q: Pos, items: number[]): void {
    const { blocks } = this;
    let removed = 0;
    for (const _ of this.between(p, q)) removed++;
    this.ranges_ += items.length / 2 - removed;
    if (p.b >= blocks.length) {
      // Past the last range: only an insertion.
      for (let k = 0; k < items.length; k += 2)
        this.insertLast(items[k] as number, items[k + 1] as number);
      this.ranges_ -= items.length / 2;
      return;
    }
    const head = blocks[p.b] as number[];
    if (q.b === p.b) {
      head.splice(p.i, q.i - p.i, ...items);
    } else {
      // Keep head[0, p.i) + items + tail of block q.b from q.i.
      head.length = p.i;
      head.push(...items);
      const tail = blocks[q.b];
      if (tail) {
        head.push(...tail.slice(q.i));
        blocks.splice(p.b + 1, q.b - p.b);
        this.ends.splice(p.b + 1, q.b - p.b);
      } else {
        blocks.splice(p.b + 1);
        this.ends.splice(p.b + 1);
      }
    }
    this.settle(p.b);
  }

  /**
   * Removes `other`'s ranges when they are, exactly and in order, a run of this set's own
   * ranges, as results usually are: a worker reports a lease's heights in the order it got them.
   * The run is cut out of the blocks it lies in, with no merge and no block rebuilt (a sparse
   * lease's results are thousands of ranges). False, with nothing changed, when it is not one:
   * the comparison stops at the first range that differs.
   */
  private cutRun(other: RangeSet): boolean {
    const { blocks, ends } = this;
    const p = this.seekTo(other.min() as number);
    let b = p.b;
    let i = p.i;
    for (const run of other.blocks) {
      for (let k = 0; k < run.length; k += 2) {
        const block = blocks[b];
        if (block === undefined || block[i] !== run[k] || block[i + 1] !== run[k + 1]) return false;
        i += 2;
        if (i === block.length) {
          b++;
          i = 0;
        }
      }
    }
    this.total -= other.total;
    this.ranges_ -= other.ranges_;
    if (b === p.b) {
      (blocks[b] as number[]).splice(p.i, i - p.i);
      this.settle(b);
      return true;
    }
    // Keep the head of block p.b and the tail of block b; drop the blocks between.
    (blocks[p.b] as number[]).length = p.i;
    const tail = blocks[b];
    if (tail) tail.splice(0, i);
    blocks.splice(p.b + 1, b - p.b - 1);
    ends.splice(p.b + 1, b - p.b - 1);
    if (tail) this.settle(p.b + 1);
    this.settle(p.b);
    return true;
  }

  /** Restores the block rules at block b after it changed, and its entry in `ends`. */
  private settle(b: number): void {
    const { blocks, ends } = this;
    const block = blocks[b] as number[];
    if (block.length === 0) {
      blocks.splice(b, 1);
      ends.splice(b, 1);
      return;
    }
    if (block.length > BLOCK_MAX) {
      const half = (block.length >> 2) << 1;
      const upper = block.splice(half);
      blocks.splice(b + 1, 0, upper);
      ends.splice(b + 1, 0, upper[upper.length - 1] as number);
    } else if (block.length < BLOCK_MIN) {
      const nextBlock = blocks[b + 1];
      if (nextBlock && block.length + nextBlock.length <= BLOCK_MAX) {
        block.push(...nextBlock);
        blocks.splice(b + 1, 1);
        ends.splice(b + 1, 1);
      }
    }
    ends[b] = block[block.length - 1] as number;
  }

  /**
   * Adds (`add`) or removes the ranges of `src`, a normalized flat array, walking the blocks in
   * order: the blocks no range of `src` reaches are kept as they are (found by a binary search
   * over `ends`, not visited), each run of blocks that one does is merged with `src` into fresh
   * blocks. `removed`, when given, receives the heights a removal took, as a flat array.
   */
  private walk(src: number[], add: boolean, removed: number[] | undefined): void {
    const { blocks, ends } = this;
    const outBlocks: number[][] = [];
    const reach = add ? 1 : 0; // an addition merges with a range it touches, a removal does not
    let b = 0;
    let k = 0;
    let changed = false;
    while (k < src.length) {
      const t = firstEndingAtOrAfter(ends, (src[k] as number) - reach, b);
      for (; b < t; b++) outBlocks.push(blocks[b] as number[]);
      if (t === blocks.length) {
        if (add) {
          // Past every block: appended as they are (src[k] is beyond the last height + 1).
          const rest = src.slice(k);
          this.total += heightsOf(rest);
          this.ranges_ += rest.length / 2;
          pushCut(outBlocks, rest);
          changed = true;
        }
        break;
      }
      // Merge blocks t, t+1, ... with src from k while src or the merged ranges reach into them.
      const buf: number[] = [];
      let before = 0;
      let beforeRanges = 0;
      let j = t;
      for (;;) {
        const block = blocks[j] as number[];
        for (let i = 0; i < block.length; i += 2) {
          const a0 = block[i] as number;
          const a1 = block[i + 1] as number;
          before += a1 - a0 + 1;
          if (add) {
            while (k < src.length && (src[k] as number) < a0) {
              append(buf, src[k] as number, src[k + 1] as number);
              k += 2;
            }
            append(buf, a0, a1);
          } else {
            k = subtractInto(buf, a0, a1, src, k, removed);
          }
        }
        beforeRanges += block.length / 2;
        j++;
        const next = blocks[j];
        if (!next) {
          if (add)
            for (; k < src.length; k += 2) append(buf, src[k] as number, src[k + 1] as number);
          break;
        }
        const nextEnd = ends[j] as number;
        const srcReaches = k < src.length && (src[k] as number) - reach <= nextEnd;
        const bufTouches = add && (buf[buf.length - 1] as number) + 1 >= (next[0] as number);
        if (!srcReaches && !bufTouches) break;
      }
      this.total += heightsOf(buf) - before;
      this.ranges_ += buf.length / 2 - beforeRanges;
      pushCut(outBlocks, buf);
      b = j;
      changed = true;
    }
    if (!changed) return;
    for (; b < blocks.length; b++) outBlocks.push(blocks[b] as number[]);
    this.blocks = outBlocks;
    this.ends = outBlocks.map((block) => block[block.length - 1] as number);
  }

  /** The union of both sets as a normalized flat array, in one linear pass. */
  private static merge(x: RangeSet, y: RangeSet): number[] {
    const a = x.flat();
    const b = y.flat();
    const out: number[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      if (j >= b.length || (i < a.length && (a[i] as number) <= (b[j] as number))) {
        append(out, a[i] as number, a[i + 1] as number);
        i += 2;
      } else {
        append(out, b[j] as number, b[j + 1] as number);
        j += 2;
      }
    }
    return out;
  }

  /** x minus y as a normalized flat array, in one linear pass. */
  private static subtract(x: RangeSet, y: RangeSet): number[] {
    const a = x.flat();
    const b = y.flat();
    const out: number[] = [];
    let j = 0;
    for (let i = 0; i < a.length; i += 2) {
      let from = a[i] as number;
      const to = a[i + 1] as number;
      while (j < b.length && (b[j + 1] as number) < from) j += 2;
      // b's ranges from j on that start within [from, to] punch holes; the last one may reach
      // past `to` into the next range of x, so j stays on it.
      let k = j;
      while (k < b.length && (b[k] as number) <= to) {
        if ((b[k] as number) > from) out.push(from, (b[k] as number) - 1);
        from = Math.max(from, (b[k + 1] as number) + 1);
        if (from > to) break;
        k += 2;
      }
      if (from <= to) pushRange(out, from, to);
      j = k;
    }
    return out;
  }

  /** The ranges as one flat array [from0, to0, ...] (a copy). */
  private flat(): number[] {
    const { blocks } = this;
    if (blocks.length === 1) return (blocks[0] as number[]).slice();
    const out = new Array<number>(this.ranges_ * 2);
    let k = 0;
    for (const block of blocks)
      for (let i = 0; i < block.length; i++) out[k++] = block[i] as number;
    return out;
  }

  /** Calls `visit` with each range in ascending order; faster than iterating `ranges()`. */
  forEachRange(visit: (from: number, to: number) => void): void {
    for (const block of this.blocks)
      for (let i = 0; i < block.length; i += 2) visit(block[i] as number, block[i + 1] as number);
  }

  /** forEachRange() for the ranges that meet [from, to], clipped to it; nothing allocated. */
  forEachRangeWithin(from: number, to: number, visit: (from: number, to: number) => void): void {
    checkHeight(from, 'from');
    checkHeight(to, 'to');
    const p = this.seekTo(from);
    for (let b = p.b, i = p.i; b < this.blocks.length; b++, i = 0) {
      const block = this.blocks[b] as number[];
      for (; i < block.length; i += 2) {
        const a = block[i] as number;
        if (a > to) return;
        visit(Math.max(from, a), Math.min(to, block[i + 1] as number));
      }
    }
  }

  /**
   * Appends every range of `other`, all above this set's highest height plus one: a copy of
   * each of its blocks, at its final size (pushing range by range would regrow each block's
   * array several times and leave it a third empty).
   */
  private appendAll(other: RangeSet): void {
    for (const block of other.blocks) {
      this.blocks.push(block.slice());
      this.ends.push(block[block.length - 1] as number);
    }
    this.total += other.total;
    this.ranges_ += other.ranges_;
  }
}

/**
 * Builds a set from ranges given in ascending order of their start (touching or overlapping
 * the previous one is fine): linear, one pass, as when loading a queue's rows in span order.
 */
export class RangeSetBuilder {
  private readonly flat: number[] = [];

  add(from: number, to: number): void {
    checkRange(from, to);
    const lastFrom = this.flat[this.flat.length - 2];
    if (lastFrom !== undefined && from < lastFrom) {
      throw new RangeError(`ranges must come in ascending order, got ${from} after ${lastFrom}`);
    }
    append(this.flat, from, to);
  }

  /** The set; the builder must not be used afterwards. */
  build(): RangeSet {
    return RangeSet.fromNormalized(this.flat);
  }
}

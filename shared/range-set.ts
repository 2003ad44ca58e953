/**
 * A set of block heights (integers 0..2^53-1) kept as sorted, disjoint, non-adjacent inclusive
 * ranges (docs/architecture.md, "Queue state": memory grows with the gaps, not the heights;
 * 0..99,999,999 is one range). Every lookup is a binary search; appending at the end and taking from the front are
 * O(1) apart from the heights copied out.
 *
 * Layout: one flat array `[from0, to0, from1, to1, ...]` whose live part starts at `start`.
 * Taking from the front advances `start` instead of shifting the array, and the dead prefix is
 * dropped once it outgrows the live part, so front removals cost O(1) amortized.
 * Iterators read the live array: do not change a set while iterating over it.
 */

/** Below this many dead slots at the front, compacting is not worth a copy. */
const COMPACT_MIN_DEAD = 64;

function checkHeight(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a height (an integer from 0 to 2^53-1), got ${value}`);
  }
}

function checkRange(from: number, to: number): void {
  checkHeight(from, 'from');
  checkHeight(to, 'to');
  if (from > to) throw new RangeError(`from must not exceed to, got ${from}..${to}`);
}

function checkCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`n must be a non-negative integer, got ${n}`);
  }
}

/** Appends [from, to] to a normalized flat array, merging with its last range when they touch. */
function append(out: number[], from: number, to: number): void {
  const last = out.length - 1;
  if (last > 0 && from <= (out[last] as number) + 1) {
    if (to > (out[last] as number)) out[last] = to;
  } else {
    out.push(from, to);
  }
}

export class RangeSet {
  private r: number[] = [];
  private start = 0;
  private total = 0;

  /** A set holding every height of the given inclusive ranges, which may overlap or be unsorted. */
  static from(ranges: Iterable<readonly [number, number]>): RangeSet {
    const pairs: [number, number][] = [];
    let sorted = true;
    for (const [from, to] of ranges) {
      checkRange(from, to);
      const prev = pairs[pairs.length - 1];
      if (prev && prev[0] > from) sorted = false;
      pairs.push([from, to]);
    }
    if (!sorted) pairs.sort((a, b) => a[0] - b[0]);
    const flat: number[] = [];
    for (const [from, to] of pairs) append(flat, from, to);
    return RangeSet.fromNormalized(flat);
  }

  /** A set holding the given heights, in any order, duplicates allowed. */
  static ofHeights(heights: Iterable<number>): RangeSet {
    const list = Float64Array.from(heights);
    let sorted = true;
    for (let i = 0; i < list.length; i++) {
      checkHeight(list[i] as number, 'height');
      if (i > 0 && (list[i - 1] as number) > (list[i] as number)) sorted = false;
    }
    if (!sorted) list.sort();
    const flat: number[] = [];
    for (const height of list) append(flat, height, height);
    return RangeSet.fromNormalized(flat);
  }

  /** Wraps a flat array already sorted, disjoint and non-adjacent; takes ownership of it. */
  static fromNormalized(flat: number[]): RangeSet {
    const set = new RangeSet();
    set.r = flat;
    let total = 0;
    for (let i = 0; i < flat.length; i += 2)
      total += (flat[i + 1] as number) - (flat[i] as number) + 1;
    set.total = total;
    return set;
  }

  /** How many heights the set holds, in O(1). */
  get count(): number {
    return this.total;
  }

  /** How many disjoint ranges the set is made of. */
  get rangeCount(): number {
    return (this.r.length - this.start) / 2;
  }

  /** True when the set holds no height. */
  get isEmpty(): boolean {
    return this.r.length === this.start;
  }

  /** The lowest height, or undefined when empty. */
  min(): number | undefined {
    return this.isEmpty ? undefined : this.r[this.start];
  }

  /** The highest height, or undefined when empty. */
  max(): number | undefined {
    return this.isEmpty ? undefined : this.r[this.r.length - 1];
  }

  /** Whether the set holds `height`; false for anything that is not a height. */
  has(height: number): boolean {
    if (!Number.isSafeInteger(height)) return false;
    const p = this.seekTo(height);
    return p < this.r.length && (this.r[p] as number) <= height;
  }

  /** The range of the set that holds `height`, or undefined when the set does not hold it. */
  rangeContaining(height: number): [number, number] | undefined {
    if (!Number.isSafeInteger(height)) return undefined;
    const p = this.seekTo(height);
    const from = this.r[p];
    if (from === undefined || from > height) return undefined;
    return [from, this.r[p + 1] as number];
  }

  /** Adds every height of [from, to]; returns how many were not in the set before. */
  add(from: number, to: number = from): number {
    checkRange(from, to);
    const r = this.r;
    const len = r.length;
    // Fast path: heights arriving in ascending order land at or after the last range.
    if (len === this.start || from > (r[len - 1] as number) + 1) {
      r.push(from, to);
      this.total += to - from + 1;
      return to - from + 1;
    }
    if (from >= (r[len - 2] as number)) {
      const last = r[len - 1] as number;
      if (to <= last) return 0;
      r[len - 1] = to;
      this.total += to - last;
      return to - last;
    }
    const p = this.seekTo(from - 1); // first range that ends at or after from - 1
    const q = this.seekFrom(to + 1); // first range that starts after to + 1
    if (p === q) {
      this.replace(p, p, [from, to]);
      this.total += to - from + 1;
      return to - from + 1;
    }
    let covered = 0;
    for (let i = p; i < q; i += 2) covered += (r[i + 1] as number) - (r[i] as number) + 1;
    const newFrom = Math.min(from, r[p] as number);
    const newTo = Math.max(to, r[q - 1] as number);
    const added = newTo - newFrom + 1 - covered;
    if (added === 0) return 0;
    this.replace(p, q, [newFrom, newTo]);
    this.total += added;
    return added;
  }

  /** Removes every height of [from, to]; returns how many the set held. */
  remove(from: number, to: number = from): number {
    checkRange(from, to);
    const r = this.r;
    const p = this.seekTo(from); // first range that ends at or after from
    const q = this.seekFrom(to); // first range that starts after to
    if (p >= q) return 0;
    let removed = 0;
    for (let i = p; i < q; i += 2) {
      removed += Math.min(to, r[i + 1] as number) - Math.max(from, r[i] as number) + 1;
    }
    const items: number[] = [];
    if ((r[p] as number) < from) items.push(r[p] as number, from - 1);
    if ((r[q - 1] as number) > to) items.push(to + 1, r[q - 1] as number);
    this.replace(p, q, items);
    this.total -= removed;
    return removed;
  }

  /** How many of the set's heights lie in [from, to]; 0 when from > to. */
  countWithin(from: number, to: number): number {
    checkHeight(from, 'from');
    checkHeight(to, 'to');
    const r = this.r;
    let n = 0;
    for (let p = this.seekTo(from); p < r.length && (r[p] as number) <= to; p += 2) {
      n += Math.min(to, r[p + 1] as number) - Math.max(from, r[p] as number) + 1;
    }
    return n;
  }

  /** Adds every height of `other`, in place. */
  addSet(other: RangeSet): void {
    if (other === this || other.isEmpty) return;
    if (this.perRange(other)) {
      for (let i = other.start; i < other.r.length; i += 2) {
        this.add(other.r[i] as number, other.r[i + 1] as number);
      }
      return;
    }
    this.adopt(RangeSet.merge(this, other));
  }

  /** Removes every height of `other`, in place. */
  removeSet(other: RangeSet): void {
    if (other === this) {
      this.adopt([]);
      return;
    }
    if (other.isEmpty || this.isEmpty) return;
    if (this.perRange(other)) {
      for (let i = other.start; i < other.r.length; i += 2) {
        this.remove(other.r[i] as number, other.r[i + 1] as number);
      }
      return;
    }
    this.adopt(RangeSet.subtract(this, other));
  }

  /** A new set with the heights of both sets. */
  union(other: RangeSet): RangeSet {
    return RangeSet.fromNormalized(RangeSet.merge(this, other));
  }

  /** A new set with this set's heights that `other` does not hold. */
  difference(other: RangeSet): RangeSet {
    return RangeSet.fromNormalized(RangeSet.subtract(this, other));
  }

  /** A new set with the heights both sets hold. */
  intersection(other: RangeSet): RangeSet {
    const a = this.r;
    const b = other.r;
    const out: number[] = [];
    let i = this.start;
    let j = other.start;
    while (i < a.length && j < b.length) {
      const aTo = a[i + 1] as number;
      const bTo = b[j + 1] as number;
      const lo = Math.max(a[i] as number, b[j] as number);
      const hi = Math.min(aTo, bTo);
      if (lo <= hi) out.push(lo, hi);
      if (aTo < bTo) i += 2;
      else j += 2;
    }
    return RangeSet.fromNormalized(out);
  }

  /** The n lowest heights in ascending order (fewer when the set is smaller), left in the set. */
  first(n: number): number[] {
    checkCount(n);
    const r = this.r;
    const out = new Array<number>(Math.min(n, this.total));
    let k = 0;
    for (let p = this.start; k < out.length; p += 2) {
      const to = r[p + 1] as number;
      for (let h = r[p] as number; h <= to && k < out.length; h++) out[k++] = h;
    }
    return out;
  }

  /**
   * Removes the n lowest heights (fewer when the set is smaller) and returns them as ranges in
   * ascending order: O(ranges taken), whatever the number of heights.
   */
  take(n: number): [number, number][] {
    checkCount(n);
    const r = this.r;
    const out: [number, number][] = [];
    let left = Math.min(n, this.total);
    this.total -= left;
    let p = this.start;
    while (left > 0) {
      const from = r[p] as number;
      const to = r[p + 1] as number;
      if (to - from + 1 <= left) {
        out.push([from, to]);
        left -= to - from + 1;
        p += 2;
      } else {
        out.push([from, from + left - 1]);
        r[p] = from + left;
        left = 0;
      }
    }
    this.start = p;
    this.compact();
    return out;
  }

  /** Removes every height. */
  clear(): void {
    this.r = [];
    this.start = 0;
    this.total = 0;
  }

  /** The ranges in ascending order, as fresh [from, to] pairs. */
  *ranges(): IterableIterator<[number, number]> {
    for (let p = this.start; p < this.r.length; p += 2) {
      yield [this.r[p] as number, this.r[p + 1] as number];
    }
  }

  /** The ranges that meet [from, to], clipped to it, in ascending order. */
  *rangesWithin(from: number, to: number): IterableIterator<[number, number]> {
    checkHeight(from, 'from');
    checkHeight(to, 'to');
    for (let p = this.seekTo(from); p < this.r.length && (this.r[p] as number) <= to; p += 2) {
      yield [Math.max(from, this.r[p] as number), Math.min(to, this.r[p + 1] as number)];
    }
  }

  /** Every height in ascending order. */
  *heights(): IterableIterator<number> {
    for (let p = this.start; p < this.r.length; p += 2) {
      const to = this.r[p + 1] as number;
      for (let h = this.r[p] as number; h <= to; h++) yield h;
    }
  }

  /** An independent copy. */
  clone(): RangeSet {
    const copy = new RangeSet();
    copy.r = this.r.slice(this.start);
    copy.total = this.total;
    return copy;
  }

  /** Whether both sets hold the same heights. */
  equals(other: RangeSet): boolean {
    if (this.total !== other.total || this.rangeCount !== other.rangeCount) return false;
    const offset = other.start - this.start;
    for (let i = this.start; i < this.r.length; i++) {
      if (this.r[i] !== other.r[i + offset]) return false;
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

  /** Position (even index into r) of the first live range whose end is >= x; r.length if none. */
  private seekTo(x: number): number {
    let lo = this.start >> 1;
    let hi = this.r.length >> 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.r[2 * mid + 1] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return 2 * lo;
  }

  /** Position of the first live range whose start is > x; r.length if none. */
  private seekFrom(x: number): number {
    let lo = this.start >> 1;
    let hi = this.r.length >> 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.r[2 * mid] as number) <= x) lo = mid + 1;
      else hi = mid;
    }
    return 2 * lo;
  }

  /** Replaces r[p..q) with `items`, without shifting the array when the change is at the front. */
  private replace(p: number, q: number, items: number[]): void {
    const r = this.r;
    const k = items.length;
    if (q - p === k) {
      for (let i = 0; i < k; i++) r[p + i] = items[i] as number;
    } else if (p === this.start && q >= k) {
      // At the front: write the items just before q and move start, using the dead prefix.
      const at = q - k;
      for (let i = 0; i < k; i++) r[at + i] = items[i] as number;
      this.start = at;
      this.compact();
    } else {
      r.splice(p, q - p, ...items);
    }
  }

  /** Drops the dead prefix once it is larger than the live part. */
  private compact(): void {
    const dead = this.start;
    if (dead === 0) return;
    const live = this.r.length - dead;
    if (live === 0) {
      this.r.length = 0;
      this.start = 0;
    } else if (dead >= COMPACT_MIN_DEAD && dead >= live) {
      this.r.copyWithin(0, dead);
      this.r.length = live;
      this.start = 0;
    }
  }

  /** Whether applying `other` range by range beats a linear merge of both sets. */
  private perRange(other: RangeSet): boolean {
    const m = other.rangeCount;
    return m <= 16 || m * 16 <= this.rangeCount;
  }

  private adopt(flat: number[]): void {
    const fresh = RangeSet.fromNormalized(flat);
    this.r = fresh.r;
    this.start = 0;
    this.total = fresh.total;
  }

  /** The union of both sets as a normalized flat array, in one linear pass. */
  private static merge(x: RangeSet, y: RangeSet): number[] {
    const a = x.r;
    const b = y.r;
    const out: number[] = [];
    let i = x.start;
    let j = y.start;
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
    const a = x.r;
    const b = y.r;
    const out: number[] = [];
    let j = y.start;
    for (let i = x.start; i < a.length; i += 2) {
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
      if (from <= to) out.push(from, to);
      j = k;
    }
    return out;
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

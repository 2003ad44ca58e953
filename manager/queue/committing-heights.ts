/**
 * A queue's successes that await their commit (QueueState's `committing`), kept as the sets
 * results brought, oldest first, instead of merged into one. Each results frame's successes are
 * recorded into the open write batch in the same turn (manager/dispatch/dispatcher.ts), and
 * batches commit in order, so a commit holds exactly the oldest parts: it drops them whole, where
 * one merged set would take a walk to add each frame and another to remove each commit (a
 * sparse queue's frames carry a range per height). docs/architecture.md, "Queue state".
 */
import { RangeSet } from '../../shared/range-set.js';

export class CommittingHeights {
  private parts: RangeSet[] = [];
  private total = 0;

  get count(): number {
    return this.total;
  }

  /** Adds successes, which must not hold a height already here; the set is kept, not copied. */
  add(heights: RangeSet): void {
    if (heights.isEmpty) return;
    this.parts.push(heights);
    this.total += heights.count;
  }

  has(height: number): boolean {
    return this.parts.some((part) => part.has(height));
  }

  max(): number | undefined {
    let top: number | undefined;
    for (const part of this.parts) {
      const max = part.max() as number;
      if (top === undefined || max > top) top = max;
    }
    return top;
  }

  /**
   * `heights` committed. They are the oldest parts when the commit is a write batch's successes;
   * anything else (a part of a part, as tests make) is removed from the merged parts.
   */
  committed(heights: RangeSet): void {
    let oldest = 0;
    let count = 0;
    while (oldest < this.parts.length && count < heights.count)
      count += (this.parts[oldest++] as RangeSet).count;
    if (count === heights.count && this.startsWith(heights, oldest)) {
      this.parts.splice(0, oldest);
      this.total -= count;
      return;
    }
    const merged = this.toSet();
    merged.removeSet(heights);
    this.parts = merged.isEmpty ? [] : [merged];
    this.total = merged.count;
  }

  /** Every height here, as one new set. */
  toSet(): RangeSet {
    const set = new RangeSet();
    for (const part of this.parts) set.addSet(part);
    return set;
  }

  /** A cheap check that the `n` oldest parts are `heights`: same lowest and highest height. */
  private startsWith(heights: RangeSet, n: number): boolean {
    let min = Number.POSITIVE_INFINITY;
    let max = -1;
    for (let i = 0; i < n; i++) {
      const part = this.parts[i] as RangeSet;
      min = Math.min(min, part.min() as number);
      max = Math.max(max, part.max() as number);
    }
    return n === 0 || (heights.min() === min && heights.max() === max);
  }
}

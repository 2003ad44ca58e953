/**
 * One dispatch's heights not started yet: its ranges, each with its attempt number, and a
 * cursor on the next height. Starting a height is O(1) whatever the size of its range.
 */
import { type DispatchFrame, dispatchOf, type HeightRange } from '../shared/protocol.js';
import { RangeSet } from '../shared/range-set.js';

export interface Batch {
  lease: number;
  queue: string;
  ranges: HeightRange[];
  /** Attempt number of each range's heights; undefined when all are first attempts. */
  attempts: number[] | undefined;
  /** `tip` for a lease of the tip lane, which starts before buffered backfill batches. */
  lane: 'tip' | undefined;
  /** The range being started, and its next height. */
  index: number;
  next: number;
}

export interface Segment {
  from: number;
  to: number;
  attempt: number;
}

/** The batch of a dispatch in either form: deltas become pairs, one per range (attempts index them). */
export function batchOf(frame: DispatchFrame): Batch {
  const { lease, queue, ranges, attempts, lane } = dispatchOf(frame);
  return { lease, queue, ranges, attempts, lane, index: 0, next: ranges[0]?.[0] ?? 0 };
}

/**
 * Where a new batch goes in a buffer of batches (docs/protocol.md, "Lanes"): a tip batch behind
 * the tip batches already there and before every backfill batch, a backfill batch at the end.
 * Tip batches are always the first ones, so the scan stops at the first backfill batch.
 */
export function insertionIndex(buffer: readonly Batch[], batch: Batch): number {
  if (batch.lane !== 'tip') return buffer.length;
  let index = 0;
  while (index < buffer.length && buffer[index]?.lane === 'tip') index++;
  return index;
}

export function isExhausted(batch: Batch): boolean {
  return batch.index >= batch.ranges.length;
}

/** The next height to start and its attempt; moves the cursor past it. */
export function takeNext(batch: Batch): { height: number; attempt: number } {
  const height = batch.next;
  const attempt = batch.attempts?.[batch.index] ?? 1;
  const [, to] = batch.ranges[batch.index] as HeightRange;
  if (height < to) {
    batch.next++;
  } else {
    batch.index++;
    batch.next = batch.ranges[batch.index]?.[0] ?? 0;
  }
  return { height, attempt };
}

/** What is left to start, range by range. */
export function unstarted(batch: Batch): Segment[] {
  const segments: Segment[] = [];
  for (let i = batch.index; i < batch.ranges.length; i++) {
    const [from, to] = batch.ranges[i] as HeightRange;
    const attempt = batch.attempts?.[i] ?? 1;
    segments.push({ from: i === batch.index ? batch.next : from, to, attempt });
  }
  return segments;
}

/** How many heights are left to start. */
export function unstartedCount(batch: Batch): number {
  let count = 0;
  for (const { from, to } of unstarted(batch)) count += to - from + 1;
  return count;
}

/** Drops `heights` from what is left to start; the rest keeps its attempt numbers. */
export function dropHeights(batch: Batch, heights: RangeSet): void {
  const ranges: HeightRange[] = [];
  const attempts: number[] = [];
  for (const { from, to, attempt } of unstarted(batch)) {
    const kept = RangeSet.from([[from, to]]).difference(heights);
    for (const range of kept.ranges()) {
      ranges.push(range);
      attempts.push(attempt);
    }
  }
  Object.assign(batch, { ranges, attempts, index: 0, next: ranges[0]?.[0] ?? 0 });
}

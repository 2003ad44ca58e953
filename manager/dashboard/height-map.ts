/**
 * A queue's heights over a span, merged into at most N buckets with a count per state, for the
 * dashboard's height map (docs/dashboard.md). Everything is computed from range sets, so the
 * cost grows with the ranges and the buckets, never with the heights: a span of 100,000,000
 * heights costs what a span of 1,000 does.
 */
import { RangeSet } from '../../shared/range-set.js';
import { HEIGHT_STATES, type HeightState } from '../queue/queue-state.js';

/**
 * What a bucket counts: the height states (HEIGHT_STATES, manager/queue/queue-state.ts), done
 * first since most of a queue is done, then `missing` for heights never enqueued. The answer's
 * counts come in this order.
 */
export const MAP_STATES = [
  'done',
  ...HEIGHT_STATES.filter((state) => state !== 'done'),
  'missing',
] as const;
export type MapState = (typeof MAP_STATES)[number];
export type StateCounts = Partial<Record<MapState, number>>;

/**
 * One bucket, or a run of adjacent buckets that all hold one state (merged, so a fully done
 * span is one entry). `state` is that state, or `mixed`; `counts` leaves out zero counts.
 * At one height per bucket every entry is an exact range with its state.
 */
export interface MapEntry {
  from: number;
  to: number;
  state: MapState | 'mixed';
  counts: StateCounts;
}

export interface HeightMap {
  from: number;
  to: number;
  /** Heights per bucket; the last bucket may be shorter. */
  bucketSize: number;
  entries: MapEntry[];
}

/** What a queue holds, as QueueState keeps it (manager/queue/queue-state.ts). */
export interface QueueSets {
  readonly enqueued: RangeSet;
  readonly done: RangeSet;
  readonly pending: RangeSet;
  /** Successes awaiting their commit: shown as leased, as the summary does. */
  readonly committing: RangeSet;
  readonly leased: RangeSet;
  /** Heights with failed attempts: retrying, or failed (dead letter). */
  readonly history: ReadonlyMap<number, { readonly failed: boolean }>;
}

type StateSets = Record<HeightState, RangeSet> & { enqueued: RangeSet };

/**
 * The state sets limited to [from, to]. History heights are tracked one by one (bounded by dead
 * letters and retries), so only they are sorted here.
 */
function stateSets(queue: QueueSets, from: number, to: number): StateSets {
  const within = (height: number) => height >= from && height <= to;
  const retrying: number[] = [];
  const failed: number[] = [];
  for (const [height, record] of queue.history) {
    if (!within(height)) continue;
    if (record.failed) failed.push(height);
    else if (!queue.leased.has(height)) retrying.push(height);
  }
  const span = RangeSet.from([[from, to]]);
  const leasedSet = queue.leased.intersection(span);
  leasedSet.addSet(queue.committing.intersection(span));
  return {
    enqueued: queue.enqueued,
    done: queue.done,
    pending: queue.pending,
    leased: leasedSet,
    retrying: RangeSet.ofHeights(retrying),
    failed: RangeSet.ofHeights(failed),
  };
}

/**
 * The span a map shows by default: the queue's lowest to highest enqueued height, or height 0
 * alone for a queue with none. A bound given (`from` or `to`) is kept, the other moved if need be
 * so that from <= to.
 */
export function spanOf(
  queue: Pick<QueueSets, 'enqueued'>,
  from?: number,
  to?: number,
): { from: number; to: number } {
  const start = from ?? Math.min(queue.enqueued.min() ?? 0, to ?? Number.POSITIVE_INFINITY);
  return { from: start, to: to ?? Math.max(start, queue.enqueued.max() ?? 0) };
}

/** Heights per bucket so that [from, to] fits in at most `buckets` buckets. */
export function bucketSizeFor(from: number, to: number, buckets: number): number {
  const heights = to - from + 1;
  let size = Math.ceil(heights / buckets);
  // Float division can round a huge quotient down; the size must cover the span.
  if (size * buckets < heights) size += 1;
  return Math.max(1, size);
}

/** The map of [from, to] in at most `buckets` buckets (1 or more); from must not exceed to. */
export function heightMap(queue: QueueSets, from: number, to: number, buckets: number): HeightMap {
  if (!(from <= to)) throw new RangeError(`from must not exceed to, got ${from}..${to}`);
  if (!Number.isSafeInteger(buckets) || buckets < 1) {
    throw new RangeError(`buckets must be a positive integer, got ${buckets}`);
  }
  const sets = stateSets(queue, from, to);
  const bucketSize = bucketSizeFor(from, to, buckets);
  const entries: MapEntry[] = [];
  for (let a = from; ; a += bucketSize) {
    // Written so that no sum passes `to`, which may be 2^53-1.
    const b = to - a >= bucketSize - 1 ? a + bucketSize - 1 : to;
    const size = b - a + 1;
    const counts: StateCounts = {};
    let uniform: MapState | undefined;
    const put = (state: MapState, n: number) => {
      if (n === 0) return;
      counts[state] = n;
      if (n === size) uniform = state;
    };
    for (const state of MAP_STATES) {
      put(
        state,
        state === 'missing'
          ? size - sets.enqueued.countWithin(a, b)
          : sets[state].countWithin(a, b),
      );
    }
    const last = entries.at(-1);
    if (uniform !== undefined && last?.state === uniform) {
      last.to = b;
      last.counts[uniform] = (last.counts[uniform] ?? 0) + size;
    } else {
      entries.push({ from: a, to: b, state: uniform ?? 'mixed', counts });
    }
    if (b === to) break;
  }
  return { from, to, bucketSize, entries };
}

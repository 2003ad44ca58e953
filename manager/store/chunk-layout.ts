/**
 * Which rows of `queue_chunks` (migrations/003_queue_chunks.sql) a commit writes
 * (docs/architecture.md, "Store"). Each queue's heights are cut into spans [lo, next lo), a row
 * per span holding that span's part of `enqueued` and `done`; the spans of a queue cover every
 * height from 0 up. A commit sends, for each row its changes meet, only the changes clipped to the
 * row's span, and PostgreSQL applies them to that row alone, so the work and the WAL of a commit
 * follow the rows it touched, whatever the queue holds elsewhere.
 *
 * Where spans begin decides row sizes, never correctness: every row is clipped to its span, so any
 * cut holds the same sets. A row the commit would leave with more than CHUNK_MAX_RANGES ranges
 * (counted in memory, which is at least as far as the database) is cut, in the same statement,
 * into rows of about CHUNK_SPLIT_RANGES range starts: a dense queue stays one row, a sparse one
 * becomes a row per few hundred gaps.
 */
import { RangeSet } from '../../shared/range-set.js';
import type { QueueWrites, WriteBatch } from './pending-writes.js';

/** A row that would hold more ranges than this, in either set, is split. */
export const CHUNK_MAX_RANGES = 512;
/** The range starts of both sets that each row of a split starts with. */
export const CHUNK_SPLIT_RANGES = 256;

/** The sets a queue's rows must end up holding: the queue's memory (QueueState). */
export interface ChunkedSets {
  readonly enqueued: RangeSet;
  readonly done: RangeSet;
}

/** One row written by a commit. */
export interface ChunkWrite {
  queue: string;
  lo: number;
  /** The span's end, exclusive; null for the queue's last span (no end). */
  end: number | null;
  /** The row whose content this row starts from: itself, the row it was cut from, or null. */
  source: number | null;
  enqueued: RangeSet;
  /**
   * The heights that became done, widened over gaps that hold no enqueued height (coverOf):
   * the SQL keeps only its part within the row's enqueued, which is exactly those heights. A
   * sparse queue's successes then travel as a few ranges instead of one per height. Empty for a
   * `wholeDone` row, whose successes need not travel.
   */
  done: RangeSet;
  undone: RangeSet;
  /** Whether the column changes (an unchanged one is left as it is, TOAST pointer and all). */
  setEnqueued: boolean;
  setDone: boolean;
  /**
   * Every enqueued height of the row is done once this commit lands, and the commit neither
   * enqueues, undoes nor cuts in it: the row's `done` becomes its `enqueued` as it stands, with
   * no multirange step (a sparse drain finishes its rows one commit each).
   */
  wholeDone: boolean;
}

/** The spans of one queue, as its rows stand in the database after the last commit. */
class QueueLayout {
  constructor(
    /** The memory these rows belong to: another object under the same name is a new queue. */
    readonly sets: ChunkedSets,
    /** Ascending; empty while the queue has no row, else los[0] is 0. */
    readonly los: number[],
  ) {}

  /** Index of the row whose span holds `height` (los non-empty). */
  rowOf(height: number): number {
    let lo = 0;
    let hi = this.los.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.los[mid] as number) <= height) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

export class ChunkLayouts {
  private readonly layouts = new Map<string, QueueLayout>();

  /**
   * `sets` gives a queue's memory (the queues map of the leader); `loaded` the row starts read at
   * start (queue-loader.ts), for the memory it was loaded into.
   */
  constructor(
    private readonly sets: (queue: string) => ChunkedSets | undefined,
    loaded: Map<string, number[]> = new Map(),
  ) {
    for (const [queue, los] of loaded) {
      const memory = sets(queue);
      if (memory) this.layouts.set(queue, new QueueLayout(memory, [...los]));
    }
  }

  /** How many rows a queue has (tests and metrics look). */
  rowCount(queue: string): number {
    return this.current(queue)?.los.length ?? 0;
  }

  /** The rows `batch` writes; `applied` records them once the commit went through. */
  plan(batch: WriteBatch): ChunkWrite[] {
    const writes: ChunkWrite[] = [];
    for (const [queue, queueWrites] of batch) {
      const memory = this.sets(queue);
      if (!memory) continue;
      const layout = this.current(queue) ?? new QueueLayout(memory, []);
      planQueue(queue, layout, memory, queueWrites, writes);
    }
    return writes;
  }

  /** The commit of `writes` went through: the rows it made exist now. */
  applied(writes: ChunkWrite[]): void {
    const made = new Map<string, number[]>();
    for (const write of writes) {
      if (write.source === write.lo) continue;
      let los = made.get(write.queue);
      if (!los) {
        los = [];
        made.set(write.queue, los);
      }
      los.push(write.lo);
    }
    for (const [queue, los] of made) {
      const memory = this.sets(queue);
      if (!memory) continue;
      const layout = this.current(queue);
      const merged = [...(layout?.los ?? []), ...los].sort((a, b) => a - b);
      this.layouts.set(queue, new QueueLayout(memory, merged));
    }
  }

  /** The queue's layout, unless its memory was replaced (the queue was deleted and made again). */
  private current(queue: string): QueueLayout | undefined {
    const layout = this.layouts.get(queue);
    if (layout && layout.sets !== this.sets(queue)) {
      this.layouts.delete(queue);
      return undefined;
    }
    return layout;
  }
}

function planQueue(
  queue: string,
  layout: QueueLayout,
  memory: ChunkedSets,
  changes: QueueWrites,
  out: ChunkWrite[],
): void {
  const { los } = layout;
  // The rows the changes meet, by index; a queue without rows gets its first at 0.
  const touched = new Set<number>();
  for (const set of [changes.enqueued, changes.done, changes.undone]) {
    if (set.isEmpty) continue;
    if (los.length === 0) {
      touched.add(0);
      continue;
    }
    // Row by row, not range by range (a sparse commit carries thousands of ranges over a few
    // rows): each row touched leads to the set's lowest height past its span, and so to the
    // next row touched.
    let height = set.min();
    while (height !== undefined) {
      const row = layout.rowOf(height);
      touched.add(row);
      const next = los[row + 1];
      height = next === undefined ? undefined : set.lowestFrom(next);
    }
  }
  for (const index of [...touched].sort((a, b) => a - b)) {
    const exists = los.length > 0;
    const lo = exists ? (los[index] as number) : 0;
    const next = los[index + 1];
    const last = next === undefined ? Number.MAX_SAFE_INTEGER : next - 1;
    const source = exists ? lo : null;
    const inSpan = [memory.enqueued, memory.done, changes.done];
    const cuts = exceeds(memory, changes, lo, last) ? splitPoints(inSpan, lo, last) : [];
    const starts = [lo, ...cuts];
    for (let k = 0; k < starts.length; k++) {
      const from = starts[k] as number;
      const end = starts[k + 1] ?? next ?? null;
      const to = end === null ? Number.MAX_SAFE_INTEGER : end - 1;
      const split = cuts.length > 0;
      const enqueued = clip(changes.enqueued, from, to);
      const undone = clip(changes.undone, from, to);
      // Counted first: a whole row's successes are not copied out (the SQL reads none for it).
      const successCount = changes.done.isEmpty ? 0 : changes.done.countWithin(from, to);
      const wholeDone =
        !split &&
        source === from &&
        enqueued.isEmpty &&
        undone.isEmpty &&
        successCount > 0 &&
        allDoneAfter(memory, successCount, from, to);
      const write: ChunkWrite = {
        queue,
        lo: from,
        end,
        source,
        enqueued,
        done:
          wholeDone || successCount === 0
            ? new RangeSet()
            : coverOf(clip(changes.done, from, to), memory.enqueued),
        undone,
        setEnqueued: split || !enqueued.isEmpty,
        setDone: split || successCount > 0 || !undone.isEmpty,
        wholeDone,
      };
      out.push(write);
    }
  }
}

/**
 * Whether every height memory holds enqueued within [from, to] is done once this commit's
 * `successes` there (a count) are. Counting suffices: successes are never done already (a
 * height is leased again only after a forced enqueue took it out of `done`), and `done` lies
 * within `enqueued`. Memory's `enqueued` holds at least the row's, so the row's are all done.
 */
function allDoneAfter(memory: ChunkedSets, successes: number, from: number, to: number): boolean {
  const enqueued = memory.enqueued.countWithin(from, to);
  return enqueued === memory.done.countWithin(from, to) + successes;
}

/**
 * Whether the row [from, to] would hold more than CHUNK_MAX_RANGES ranges in either set after the
 * commit. Its `done` is then memory's committed `done` and this commit's successes together:
 * their range counts added are at least the ranges of their union (successes beside done
 * heights merge into fewer), so a row is cut when it might pass the bound, never after it has.
 */
function exceeds(memory: ChunkedSets, changes: QueueWrites, from: number, to: number): boolean {
  if (memory.enqueued.rangeCountWithin(from, to) > CHUNK_MAX_RANGES) return true;
  const done = memory.done.rangeCountWithin(from, to) + changes.done.rangeCountWithin(from, to);
  return done > CHUNK_MAX_RANGES;
}

/** Every CHUNK_SPLIT_RANGES-th range start of the sets together within (from, to], ascending. */
function splitPoints(sets: RangeSet[], from: number, to: number): number[] {
  const starts: number[] = [];
  for (const set of sets) set.forEachRangeWithin(from, to, (a) => starts.push(a));
  starts.sort((a, b) => a - b);
  const cuts: number[] = [];
  for (let i = CHUNK_SPLIT_RANGES; i < starts.length; i += CHUNK_SPLIT_RANGES) {
    const cut = starts[i] as number;
    if (cut > (cuts.at(-1) ?? from)) cuts.push(cut);
  }
  return cuts;
}

/**
 * `done` with the gaps between its ranges filled where `enqueued` holds no height. Memory's
 * `enqueued` holds at least what the database will hold after the commit (memory first, the
 * enqueues of this and later batches included), so a gap it finds empty is empty there too and
 * the cover, cut to the row's enqueued, gives back `done` exactly.
 */
export function coverOf(done: RangeSet, enqueued: RangeSet): RangeSet {
  return enqueued.cover(done);
}

function clip(set: RangeSet, from: number, to: number): RangeSet {
  if (set.isEmpty) return set;
  return set.within(from, to);
}

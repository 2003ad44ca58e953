/**
 * What one commit writes for a queue: net changes accumulated since the last commit.
 * The sets never overlap in a way that makes order matter (a height is added to `done` only
 * from `committing`, and `undone` only takes heights already done), so one statement applies them.
 */
import { RangeSet } from '../../shared/range-set.js';
import type { AttemptRecord } from '../queue/queue-state.js';

export class QueueWrites {
  readonly enqueued = new RangeSet();
  readonly done = new RangeSet();
  readonly undone = new RangeSet();
  /** Attempt history to upsert, or null to delete the row. */
  readonly history = new Map<number, AttemptRecord | null>();
  /** True for a queue that must exist after the commit even with nothing else to write. */
  touched = false;
}

export type WriteBatch = Map<string, QueueWrites>;

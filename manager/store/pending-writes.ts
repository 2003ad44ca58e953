/**
 * What one commit writes for a queue: net changes accumulated since the last commit.
 * The sets never overlap in a way that makes order matter (a height is added to `done` only
 * from `committing`, and `undone` only takes heights already done), so one statement applies them.
 */
import { RangeSet } from '../../shared/range-set.js';
import type { BlockLink, ChainHead, ReorgRecord, SourceConfig } from '../chain/chain-types.js';
import type { AttemptRecord, EnqueueOutcome } from '../queue/queue-state.js';

export class QueueWrites {
  readonly enqueued = new RangeSet();
  readonly done = new RangeSet();
  readonly undone = new RangeSet();
  /** Attempt history to upsert, or null to delete the row. */
  readonly history = new Map<number, AttemptRecord | null>();
  /** True for a queue that must exist after the commit even with nothing else to write. */
  touched = false;
  /** Block hashes to keep, or null to forget the height's (docs/chains.md, "Hashes"). */
  readonly hashes = new Map<number, BlockLink | null>();
  /** Reorganisations to insert or update, by id. */
  readonly reorgs = new Map<number, ReorgRecord>();
  /** The queue's new source, null to delete it; undefined: unchanged. */
  source: SourceConfig | null | undefined;
  /** The pause reason to store, null when resumed; undefined: unchanged. */
  paused: string | null | undefined;
  /** The newest head, null when the queue no longer follows a chain; undefined: unchanged. */
  head: ChainHead | null | undefined;

  /** Records what an enqueue changed (QueueState.enqueue's outcome). */
  recordEnqueue(outcome: EnqueueOutcome): void {
    this.touched = true;
    this.enqueued.addSet(outcome.fresh);
    this.undone.addSet(outcome.undone);
    for (const height of outcome.cleared) this.history.set(height, null);
  }

  /** Whether the queues row itself changes (beyond its range sets). */
  get rowChanged(): boolean {
    return this.paused !== undefined || this.head !== undefined;
  }
}

export type WriteBatch = Map<string, QueueWrites>;

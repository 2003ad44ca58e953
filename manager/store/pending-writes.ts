/**
 * What one commit writes for a queue: net changes accumulated since the last commit.
 * The sets never overlap in a way that makes order matter (a height is added to `done` only
 * from `committing`, and `undone` only takes heights already done), so one statement applies them.
 */
import { RangeSet } from '../../shared/range-set.js';
import type { BlockLink, ChainHead, ReorgRecord, SourceConfig } from '../chain/chain-types.js';
import type { AttemptRecord, EnqueueOutcome } from '../queue/queue-state.js';

export class QueueWrites {
  /** Heights never enqueued before; see recordEnqueue for when it is shared. */
  private enqueued_ = new RangeSet();
  /** Whether `enqueued_` is an enqueue's own set, shared with its caller: never changed here. */
  private enqueuedShared = false;
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

  /** The heights to add to `enqueued`: read only. */
  get enqueued(): RangeSet {
    return this.enqueued_;
  }

  /**
   * Records what an enqueue changed (QueueState.enqueue's outcome). The batch's first fresh set
   * is kept as it is, not copied (a sparse request's is a million-range set's worth of blocks
   * held until the commit); nobody changes it afterwards (QueueState.enqueue), and a second
   * enqueue into the same batch merges into a copy, never into that set.
   */
  recordEnqueue(outcome: EnqueueOutcome): void {
    this.touched = true;
    if (!outcome.fresh.isEmpty) {
      if (this.enqueued_.isEmpty) {
        this.enqueued_ = outcome.fresh;
        this.enqueuedShared = true;
      } else {
        if (this.enqueuedShared) {
          this.enqueued_ = this.enqueued_.clone();
          this.enqueuedShared = false;
        }
        this.enqueued_.addSet(outcome.fresh);
      }
    }
    this.undone.addSet(outcome.undone);
    for (const height of outcome.cleared) this.history.set(height, null);
  }

  /** Whether the queues row itself changes (beyond its range sets). */
  get rowChanged(): boolean {
    return this.paused !== undefined || this.head !== undefined;
  }
}

export type WriteBatch = Map<string, QueueWrites>;

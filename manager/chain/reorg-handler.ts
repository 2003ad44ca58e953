/**
 * Handles one reorganisation of one queue (docs/chains.md, "Reorganisations"), start to end:
 * 1. hold the queue's dispatch; 2. find the fork point (asking the node, or without one by
 *    re-running heights downward until the parent links agree);
 * 3. cancel the leases above the fork (their late results are fenced off) and wait until every
 *    result taken so far is committed;
 * 4. in one commit: re-enqueue the orphaned heights by force into the tip lane, forget their
 *    hashes, record the reorg with its revert due;
 * 5. have one worker run the handler's `revert` for the orphaned range, record it, release.
 * A fork deeper than finality pauses the queue instead. A manager killed anywhere in between
 * finds the reorg again at restart: before step 4 the kept hashes still disagree with the
 * chain, after it the record's revert is still due.
 */
import type { Logger } from '../../shared/logger.js';
import { RangeSet } from '../../shared/range-set.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { QueueState } from '../queue/queue-state.js';
import type { WriteBehind } from '../store/write-behind.js';
import type { Conflict } from './block-hashes.js';
import type { BlockLink, ReorgRecord } from './chain-types.js';
import { findForkPoint } from './fork-point.js';
import type { QueueChain } from './queue-chain.js';
import type { RevertRunner } from './revert-runner.js';

/** How the reason of every pause the chain stage makes begins; resume() looks for it. */
export const REORG_PAUSE = 'paused for a reorganisation';

/** What the handler reports, once per reorganisation. */
export interface ReorgMetrics {
  reorg(queue: string, depth: number): void;
}

export interface ReorgHandlerOptions {
  dispatcher: Dispatcher;
  writer: WriteBehind;
  reverts: RevertRunner;
  metrics?: ReorgMetrics | undefined;
  log: Logger;
  /** Ids for new records: the leader's next one (loaded at start). */
  nextReorgId: () => number;
  /** Aborted when the manager stops: a reorg in progress ends and is found again at restart. */
  signal: AbortSignal;
}

/** The node's hash at a height, or undefined when it has no block there; absent: no node. */
export type CanonicalHash = ((height: number) => Promise<string | undefined>) | undefined;

export class ReorgHandler {
  constructor(private readonly options: ReorgHandlerOptions) {}

  /** Starts handling `conflict` unless a reorg of this queue is already being handled. */
  begin(chain: QueueChain, queue: QueueState, conflict: Conflict, canonical: CanonicalHash): void {
    if (chain.reorg) return;
    const { log } = this.options;
    log.warn(
      {
        queue: queue.name,
        height: conflict.below,
        oldHash: conflict.oldHash,
        newHash: conflict.newHash,
      },
      'block hashes disagree: finding the fork point',
    );
    if (!canonical) {
      this.probe(chain, queue, conflict.below);
      return;
    }
    chain.reorg = { phase: 'finding fork' };
    queue.hold('reorg');
    void this.resolveWithNode(chain, queue, conflict, canonical).catch((error) =>
      this.abandon(chain, queue, error),
    );
  }

  /** A probed height reported its link (no node to ask): agree, or probe one lower. */
  probed(chain: QueueChain, queue: QueueState, height: number, link: BlockLink): void {
    const below = chain.hashes.get(height - 1);
    const line = chain.finalLine() ?? Number.NEGATIVE_INFINITY;
    // The kept hash at `height` was dropped when the probe began; the probe kept it.
    const oldHash = chain.reorg?.probedOldHash ?? null;
    const rollBack = () =>
      void this.rollBack(chain, queue, height - 1, oldHash, link.hash).catch((error) =>
        this.abandon(chain, queue, error),
      );
    if (below?.hash === link.parentHash) rollBack();
    else if (height - 1 <= line) this.pauseBeyondFinality(chain, queue, height - 1);
    else if (below) this.probe(chain, queue, height - 1);
    // Nothing kept below: if that height never ran, nothing of it can be orphaned.
    else if (!queue.done.has(height - 1)) rollBack();
    else this.pauseBeyondFinality(chain, queue, height - 1);
  }

  /** Resumes the revert of a reorg committed before a restart. */
  resumeRevert(chain: QueueChain, queue: QueueState, record: ReorgRecord): void {
    chain.reorg = { phase: 'reverting', record };
    queue.hold('reorg');
    void this.revert(chain, queue, record).catch((error) => this.abandon(chain, queue, error));
  }

  private probe(chain: QueueChain, queue: QueueState, height: number): void {
    chain.reorg = {
      phase: 'probing',
      probe: height,
      probedOldHash: chain.hashes.get(height)?.hash,
    };
    queue.hold('reorg', RangeSet.from([[height, height]]));
    this.options.dispatcher.revoke(queue.name, height, height);
    void this.rerun(queue, chain, height).catch((error) => this.abandon(chain, queue, error));
  }

  /** Re-runs the suspect height on the new chain: its parent link tells whether the fork is lower. */
  private async rerun(queue: QueueState, chain: QueueChain, height: number): Promise<void> {
    const { writer, dispatcher } = this.options;
    // A success just reported is still on its way to being committed; a forced enqueue only
    // takes done heights back, so wait for it.
    await writer.committed();
    this.options.signal.throwIfAborted();
    const writes = writer.forQueue(queue.name);
    for (const kept of chain.hashes.dropAbove(height - 1)) writes.hashes.set(kept, null);
    writes.recordEnqueue(queue.enqueue(RangeSet.from([[height, height]]), true, 'tip'));
    dispatcher.wake();
  }

  private async resolveWithNode(
    chain: QueueChain,
    queue: QueueState,
    conflict: Conflict,
    canonical: (height: number) => Promise<string | undefined>,
  ): Promise<void> {
    const line = chain.finalLine() ?? Number.NEGATIVE_INFINITY;
    const search = await findForkPoint(chain.hashes, conflict.below, line, canonical);
    if (!search.found) {
      this.pauseBeyondFinality(chain, queue, search.lowestChecked ?? conflict.below);
      return;
    }
    const oldHash = chain.hashes.get(search.forkHeight + 1)?.hash ?? null;
    const newHash = (await canonical(search.forkHeight + 1)) ?? null;
    await this.rollBack(chain, queue, search.forkHeight, oldHash, newHash);
  }

  /**
   * Steps 3 to 5: everything above `forkHeight` is orphaned. `oldHash` and `newHash` are the
   * hashes at forkHeight + 1 before and after, for the record.
   */
  private async rollBack(
    chain: QueueChain,
    queue: QueueState,
    forkHeight: number,
    oldHash: string | null,
    newHash: string | null,
  ): Promise<void> {
    const { dispatcher, writer, log, metrics } = this.options;
    chain.reorg = { phase: 'finding fork' };
    queue.hold('reorg');
    dispatcher.revoke(queue.name, forkHeight + 1, Number.MAX_SAFE_INTEGER);
    await writer.committed();
    this.options.signal.throwIfAborted();

    const top = Math.max(
      chain.hashes.highest() ?? forkHeight,
      queue.highestTouchedAbove(forkHeight) ?? forkHeight,
    );
    const record: ReorgRecord = {
      id: this.options.nextReorgId(),
      detectedAt: new Date(),
      forkHeight,
      depth: Math.max(1, top - forkHeight),
      oldHash,
      newHash,
      revertFrom: forkHeight + 1,
      revertTo: Math.max(forkHeight + 1, top),
      revertedAt: null,
    };
    const writes = writer.forQueue(queue.name);
    for (const kept of chain.hashes.dropAbove(forkHeight)) writes.hashes.set(kept, null);
    const orphaned = RangeSet.from([[record.revertFrom, record.revertTo]]);
    writes.recordEnqueue(queue.enqueue(orphaned, true, 'tip'));
    writes.reorgs.set(record.id, record);
    chain.addReorg(record);
    chain.reorg = { phase: 'reverting', record };
    metrics?.reorg(queue.name, record.depth);
    log.warn(
      {
        queue: queue.name,
        forkHeight,
        depth: record.depth,
        oldHash,
        newHash,
        orphaned: [record.revertFrom, record.revertTo],
      },
      'chain reorganised: reverting and re-indexing the orphaned heights',
    );
    await writer.committed();
    await this.revert(chain, queue, record);
  }

  private async revert(chain: QueueChain, queue: QueueState, record: ReorgRecord): Promise<void> {
    const { reverts, writer, dispatcher, signal } = this.options;
    await reverts.run(queue.name, record.revertFrom, record.revertTo, signal);
    record.revertedAt = new Date();
    writer.forQueue(queue.name).reorgs.set(record.id, record);
    await writer.committed();
    chain.reorg = undefined;
    queue.release('reorg');
    dispatcher.wake();
  }

  private pauseBeyondFinality(chain: QueueChain, queue: QueueState, height: number): void {
    this.options.log.error(
      { queue: queue.name, height },
      'reorganisation deeper than finality: queue paused',
    );
    this.pause(
      chain,
      queue,
      `it reaches height ${height}, at or below the final line (finality ${chain.finality}); re-enqueue the affected heights with force, then resume`,
    );
  }

  /** The manager stops, or something failed: the queue is left as the chain will find it again. */
  private abandon(chain: QueueChain, queue: QueueState, error: unknown): void {
    if (this.options.signal.aborted) return;
    const message = error instanceof Error ? error.message : String(error);
    this.options.log.error({ queue: queue.name, err: error }, 'reorganisation handling failed');
    this.pause(chain, queue, `handling it failed: ${message}`);
  }

  /** Ends the reorganisation's hold with a pause an operator resumes (docs/chains.md). */
  private pause(chain: QueueChain, queue: QueueState, why: string): void {
    const reason = `${REORG_PAUSE}: ${why}`;
    chain.reorg = undefined;
    queue.release('reorg');
    queue.pause(reason);
    this.options.writer.forQueue(queue.name).paused = reason;
  }
}

/**
 * What one queue knows of its chain (docs/chains.md): its source, the head, the hashes kept for
 * recent heights, the state of its source and the reorganisation being handled, if any.
 */
import { BlockHashes } from './block-hashes.js';
import type { ChainHead, ReorgRecord, SourceConfig } from './chain-types.js';
import type { SourceStatus } from './source-follower.js';

/** Defaults of a source's fields, and of a queue that gets heads pushed without a source. */
export const SOURCE_DEFAULTS = { from: 0, confirmations: 0, finality: 64, pollMs: 1_000 } as const;

/** How many reorganisations per queue stay in memory for GET /reorgs (all stay in PostgreSQL). */
export const RECENT_REORGS = 1_000;

export type ReorgPhase = 'finding fork' | 'probing' | 'reverting';

export interface ActiveReorg {
  phase: ReorgPhase;
  /** While probing without a node to ask: the height re-run to test its parent link. */
  probe?: number;
  /** While probing: the hash kept at `probe` before it was re-run, for the record's oldHash. */
  probedOldHash?: string | undefined;
  /** The record, once the fork is known. */
  record?: ReorgRecord;
}

export class QueueChain {
  source: SourceConfig | undefined;
  head: ChainHead | undefined;
  readonly hashes = new BlockHashes();
  sourceStatus: SourceStatus | undefined;
  /** The node's head went below ours without a changed hash: it lags, nothing is undone. */
  lagging = false;
  reorg: ActiveReorg | undefined;
  /** Newest first. */
  readonly reorgs: ReorgRecord[] = [];

  constructor(readonly queue: string) {}

  get finality(): number {
    return this.source?.finality ?? SOURCE_DEFAULTS.finality;
  }

  get confirmations(): number {
    return this.source?.confirmations ?? SOURCE_DEFAULTS.confirmations;
  }

  get from(): number {
    return this.source?.from ?? SOURCE_DEFAULTS.from;
  }

  /** head - finality: heights at or below it are final; undefined while no head is known. */
  finalLine(): number | undefined {
    return this.head === undefined ? undefined : this.head.height - this.finality;
  }

  /** Hashes are kept for heights above the final line, and only once a head is known. */
  keeps(height: number): boolean {
    const line = this.finalLine();
    return line !== undefined && height > line;
  }

  addReorg(record: ReorgRecord): void {
    this.reorgs.unshift(record);
    if (this.reorgs.length > RECENT_REORGS) this.reorgs.length = RECENT_REORGS;
  }
}

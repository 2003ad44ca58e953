/**
 * The data a queue keeps about its chain (docs/chains.md): its source, its head, its kept block
 * hashes and its reorganisations. Plain shapes with no behaviour, shared by the chain stage,
 * the write-behind log and the SQL, so none of them imports another for its types.
 */

/** Where a queue's heads come from. `push`: heads arrive by POST /v1/queues/:queue/head. */
export interface SourceConfig {
  kind: 'evm' | 'push';
  /** JSON-RPC endpoint (http(s):// or ws(s)://) of an evm source; absent for push. */
  url?: string | undefined;
  /** Lowest height the source enqueues. */
  from: number;
  /** Heights below the head held back: the source enqueues up to head - confirmations. */
  confirmations: number;
  /** Heights above head - finality keep their hashes and may be rolled back by a reorg. */
  finality: number;
  /** Pause between two head polls (evm over HTTP, or while a subscription is down). */
  pollMs: number;
}

export interface BlockLink {
  hash: string;
  parentHash: string;
}

export interface ChainHead {
  height: number;
  hash: string | undefined;
}

export interface ReorgRecord {
  id: number;
  detectedAt: Date;
  /** Highest height still on the canonical chain: everything above it was orphaned. */
  forkHeight: number;
  depth: number;
  /** Hashes at forkHeight + 1, before and after, when known. */
  oldHash: string | null;
  newHash: string | null;
  /** The orphaned range the handlers' `revert` runs for. */
  revertFrom: number;
  revertTo: number;
  /** When the workers' revert for the orphaned range succeeded; null while it is due. */
  revertedAt: Date | null;
}

/** What a leader loads of one queue's chain at start (manager/store/chain-sql.ts). */
export interface LoadedChain {
  source: SourceConfig | undefined;
  head: ChainHead | undefined;
  hashes: Map<number, BlockLink>;
  /** Newest first. */
  reorgs: ReorgRecord[];
}

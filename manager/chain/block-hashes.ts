/**
 * The block hashes a queue keeps for its recent heights (docs/chains.md, "Hashes"): what the
 * handlers reported for heights above `head - finality`, so that a parent link that no longer
 * agrees shows a reorganisation. Heights at or below the final line are forgotten.
 */

export interface BlockLink {
  hash: string;
  parentHash: string;
}

export interface Conflict {
  /** The lower height of the two whose link disagrees: the fork is at or below it. */
  below: number;
  /** What disagreed, for the log line and the reorg record. */
  oldHash: string;
  newHash: string;
}

export class BlockHashes {
  private readonly links = new Map<number, BlockLink>();

  get size(): number {
    return this.links.size;
  }

  get(height: number): BlockLink | undefined {
    return this.links.get(height);
  }

  /**
   * Where `link`, reported for `height`, disagrees with a kept neighbour or with what is kept at
   * the same height; undefined when it agrees with everything kept.
   */
  conflictOf(height: number, link: BlockLink): Conflict | undefined {
    const same = this.links.get(height);
    if (same && same.hash !== link.hash) {
      return { below: height, oldHash: same.hash, newHash: link.hash };
    }
    const below = this.links.get(height - 1);
    if (below && below.hash !== link.parentHash) {
      return { below: height - 1, oldHash: below.hash, newHash: link.parentHash };
    }
    const above = this.links.get(height + 1);
    if (above && above.parentHash !== link.hash) {
      return { below: height, oldHash: above.parentHash, newHash: link.hash };
    }
    return undefined;
  }

  set(height: number, link: BlockLink): void {
    this.links.set(height, link);
  }

  delete(height: number): void {
    this.links.delete(height);
  }

  /** Forgets every height above `height`; returns them. */
  dropAbove(height: number): number[] {
    const dropped: number[] = [];
    for (const kept of this.links.keys()) if (kept > height) dropped.push(kept);
    for (const kept of dropped) this.links.delete(kept);
    return dropped;
  }

  /** Forgets heights at or below `final` (they can no longer change); returns them. */
  pruneUpTo(final: number): number[] {
    const pruned: number[] = [];
    for (const kept of this.links.keys()) if (kept <= final) pruned.push(kept);
    for (const kept of pruned) this.links.delete(kept);
    return pruned;
  }

  highest(): number | undefined {
    let top: number | undefined;
    for (const kept of this.links.keys()) if (top === undefined || kept > top) top = kept;
    return top;
  }

  lowest(): number | undefined {
    let low: number | undefined;
    for (const kept of this.links.keys()) if (low === undefined || kept < low) low = kept;
    return low;
  }

  /** Kept heights from the highest down. */
  heightsDescending(): number[] {
    return [...this.links.keys()].sort((a, b) => b - a);
  }
}

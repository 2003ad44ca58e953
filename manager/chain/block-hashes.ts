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
   * Where `link`, reported for `height` (by a handler, or a node's head, which may lack either
   * hash), disagrees with a kept neighbour or with what is kept at the same height; undefined
   * when it agrees with everything kept.
   */
  conflictOf(height: number, link: Partial<BlockLink>): Conflict | undefined {
    const { hash, parentHash } = link;
    const same = this.links.get(height);
    if (hash !== undefined && same && same.hash !== hash) {
      return { below: height, oldHash: same.hash, newHash: hash };
    }
    const below = this.links.get(height - 1);
    if (parentHash !== undefined && below && below.hash !== parentHash) {
      return { below: height - 1, oldHash: below.hash, newHash: parentHash };
    }
    const above = this.links.get(height + 1);
    if (hash !== undefined && above && above.parentHash !== hash) {
      return { below: height, oldHash: above.parentHash, newHash: hash };
    }
    return undefined;
  }

  set(height: number, link: BlockLink): void {
    this.links.set(height, link);
  }

  delete(height: number): void {
    this.links.delete(height);
  }

  /** Forgets every height; returns them. */
  clear(): number[] {
    const all = [...this.links.keys()];
    this.links.clear();
    return all;
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

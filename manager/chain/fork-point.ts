/**
 * Finds where a reorganisation forked (docs/chains.md, "Reorganisations"): the highest kept
 * height whose hash the node still has at that height. Everything above it was orphaned.
 */
import type { BlockHashes } from './block-hashes.js';

export type ForkSearch =
  | { found: true; forkHeight: number }
  /** No kept height agrees down to the final line: the conflict is deeper than finality. */
  | { found: false; lowestChecked: number | undefined };

/**
 * Walks the kept heights down from `start`, asking `canonicalHash` (the node) for each. A height
 * the node has no block for (the chain got shorter) is orphaned like one whose hash changed.
 * A fork at or below `finalLine` (head - finality) is never rolled back automatically.
 */
export async function findForkPoint(
  hashes: BlockHashes,
  start: number,
  finalLine: number,
  canonicalHash: (height: number) => Promise<string | undefined>,
): Promise<ForkSearch> {
  let lowestChecked: number | undefined;
  for (const height of hashes.heightsDescending()) {
    if (height > start) continue;
    lowestChecked = height;
    const kept = hashes.get(height);
    if (kept && (await canonicalHash(height)) === kept.hash) {
      if (height <= finalLine) break;
      return { found: true, forkHeight: height };
    }
  }
  // Nothing kept agrees: the fork lies below every hash kept, where nothing can be checked, so
  // it is treated as deeper than finality (paused for an operator), never guessed at.
  return { found: false, lowestChecked };
}

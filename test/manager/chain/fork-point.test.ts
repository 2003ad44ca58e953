/**
 * Finding where a reorganisation forked (docs/chains.md, "Reorganisations"), with a fake node:
 * a map from height to the hash it has there now.
 */
import { describe, expect, it } from 'vitest';
import { BlockHashes } from '../../../manager/chain/block-hashes.js';
import { findForkPoint } from '../../../manager/chain/fork-point.js';

/** Kept heights from..to of chain `a`. */
function keptChain(from: number, to: number): BlockHashes {
  const hashes = new BlockHashes();
  for (let height = from; height <= to; height++)
    hashes.set(height, { hash: `a-${height}`, parentHash: `a-${height - 1}` });
  return hashes;
}

/**
 * A node whose chain is `a` up to `forkAt` and `b` above it, up to `head`; it has no block above
 * the head. Records the heights asked for.
 */
function node(forkAt: number, head: number) {
  const asked: number[] = [];
  const canonical = async (height: number): Promise<string | undefined> => {
    asked.push(height);
    if (height > head) return undefined;
    return height <= forkAt ? `a-${height}` : `b-${height}`;
  };
  return { canonical, asked };
}

const NO_FINAL_LINE = Number.NEGATIVE_INFINITY;

describe('findForkPoint', () => {
  it('finds the highest kept height the node still agrees with, walking down from start', async () => {
    const hashes = keptChain(100, 110);
    const { canonical, asked } = node(105, 200);
    expect(await findForkPoint(hashes, 110, NO_FINAL_LINE, canonical)).toEqual({
      found: true,
      forkHeight: 105,
    });
    expect(asked).toEqual([110, 109, 108, 107, 106, 105]);
  });

  it('starts at `start`: kept heights above it are not asked about', async () => {
    const hashes = keptChain(100, 110);
    const { canonical, asked } = node(102, 200);
    expect(await findForkPoint(hashes, 104, NO_FINAL_LINE, canonical)).toEqual({
      found: true,
      forkHeight: 102,
    });
    expect(asked).toEqual([104, 103, 102]);
  });

  it('counts a kept height the node has no block for (a shorter chain) as orphaned', async () => {
    const hashes = keptChain(100, 110);
    // The new chain forks after 103 and only reaches 106: 107..110 are gone entirely.
    const { canonical, asked } = node(103, 106);
    expect(await findForkPoint(hashes, 110, NO_FINAL_LINE, canonical)).toEqual({
      found: true,
      forkHeight: 103,
    });
    expect(asked).toEqual([110, 109, 108, 107, 106, 105, 104, 103]);
  });

  it('skips over heights that are not kept', async () => {
    const hashes = keptChain(100, 110);
    for (const height of [104, 105, 106]) hashes.delete(height);
    const { canonical, asked } = node(105, 200);
    // 105 agrees but is not kept: the fork is reported at the highest kept height that agrees.
    expect(await findForkPoint(hashes, 110, NO_FINAL_LINE, canonical)).toEqual({
      found: true,
      forkHeight: 103,
    });
    expect(asked).toEqual([110, 109, 108, 107, 103]);
  });

  it('finds nothing when no kept height agrees, naming the lowest it checked', async () => {
    const hashes = keptChain(100, 110);
    const { canonical } = node(50, 200);
    expect(await findForkPoint(hashes, 110, NO_FINAL_LINE, canonical)).toEqual({
      found: false,
      lowestChecked: 100,
    });
    expect(await findForkPoint(new BlockHashes(), 110, NO_FINAL_LINE, canonical)).toEqual({
      found: false,
      lowestChecked: undefined,
    });
  });

  it('finds nothing when the highest agreement is at or below the final line', async () => {
    const hashes = keptChain(100, 110);
    const at = node(104, 200);
    expect(await findForkPoint(hashes, 110, 104, at.canonical)).toEqual({
      found: false,
      lowestChecked: 104,
    });
    // It stops at the first agreement: nothing below the final line is asked about.
    expect(at.asked).toEqual([110, 109, 108, 107, 106, 105, 104]);

    const below = node(102, 200);
    expect(await findForkPoint(hashes, 110, 104, below.canonical)).toEqual({
      found: false,
      lowestChecked: 102,
    });
    // Just above the final line is still a fork it may roll back to.
    expect(await findForkPoint(hashes, 110, 104, node(105, 200).canonical)).toEqual({
      found: true,
      forkHeight: 105,
    });
  });
});

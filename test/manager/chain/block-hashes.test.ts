/**
 * The kept block hashes of a queue (docs/chains.md, "Hashes"): which reported link disagrees
 * with what is kept, and how heights are forgotten above a fork and at the final line.
 */
import { describe, expect, it } from 'vitest';
import { BlockHashes, type BlockLink } from '../../../manager/chain/block-hashes.js';

/** Block `height` of a chain named `chain`: hash `chain-height`, parent `chain-(height-1)`. */
function block(height: number, chain = 'a'): BlockLink {
  return { hash: `${chain}-${height}`, parentHash: `${chain}-${height - 1}` };
}

function keptChain(from: number, to: number, chain = 'a'): BlockHashes {
  const hashes = new BlockHashes();
  for (let height = from; height <= to; height++) hashes.set(height, block(height, chain));
  return hashes;
}

describe('BlockHashes.conflictOf', () => {
  it('finds no conflict for links that agree with every neighbour, or with nothing kept', () => {
    const hashes = keptChain(10, 12);
    expect(hashes.conflictOf(13, block(13))).toBeUndefined();
    expect(hashes.conflictOf(9, block(9))).toBeUndefined();
    // The same link again, as a re-run height reports it.
    expect(hashes.conflictOf(11, block(11))).toBeUndefined();
    // Nothing kept next to it: nothing to disagree with.
    expect(hashes.conflictOf(50, block(50, 'b'))).toBeUndefined();
    expect(new BlockHashes().conflictOf(0, block(0))).toBeUndefined();
  });

  it('reports another hash at the same height, the fork at or below it', () => {
    const hashes = keptChain(10, 12);
    expect(hashes.conflictOf(11, { hash: 'b-11', parentHash: 'a-10' })).toEqual({
      below: 11,
      oldHash: 'a-11',
      newHash: 'b-11',
    });
  });

  it('reports a parent link that does not lead to the kept height below', () => {
    const hashes = keptChain(10, 12);
    expect(hashes.conflictOf(13, { hash: 'b-13', parentHash: 'b-12' })).toEqual({
      below: 12,
      oldHash: 'a-12',
      newHash: 'b-12',
    });
  });

  it('reports a hash that the kept height above does not name as its parent', () => {
    const hashes = keptChain(10, 12);
    // 9 was never kept: the report for it is checked against 10's parent link.
    expect(hashes.conflictOf(9, { hash: 'b-9', parentHash: 'a-8' })).toEqual({
      below: 9,
      oldHash: 'a-9',
      newHash: 'b-9',
    });
  });

  it('checks the same height first, then below, then above', () => {
    const hashes = keptChain(10, 12);
    hashes.delete(11);
    // Disagrees with 10 (parent) and with 12 (child): the lower conflict is given.
    expect(hashes.conflictOf(11, { hash: 'b-11', parentHash: 'b-10' })).toMatchObject({
      below: 10,
    });
    hashes.set(11, block(11));
    expect(hashes.conflictOf(11, { hash: 'b-11', parentHash: 'b-10' })).toMatchObject({
      below: 11,
      oldHash: 'a-11',
    });
  });
});

describe('BlockHashes, forgetting', () => {
  it('dropAbove forgets every height above the given one and returns them', () => {
    const hashes = keptChain(10, 14);
    expect(hashes.dropAbove(12).sort((a, b) => a - b)).toEqual([13, 14]);
    expect(hashes.heightsDescending()).toEqual([12, 11, 10]);
    expect(hashes.get(13)).toBeUndefined();
    expect(hashes.dropAbove(20)).toEqual([]);
    expect(hashes.dropAbove(-1).sort((a, b) => a - b)).toEqual([10, 11, 12]);
    expect(hashes.size).toBe(0);
  });

  it('pruneUpTo forgets the final line and everything below it, and returns them', () => {
    const hashes = keptChain(10, 14);
    expect(hashes.pruneUpTo(11).sort((a, b) => a - b)).toEqual([10, 11]);
    expect(hashes.heightsDescending()).toEqual([14, 13, 12]);
    expect(hashes.pruneUpTo(5)).toEqual([]);
    expect(hashes.size).toBe(3);
    // A height forgotten at the final line no longer has a say in conflicts.
    expect(hashes.conflictOf(11, { hash: 'b-11', parentHash: 'b-10' })).toMatchObject({
      below: 11,
      oldHash: 'a-11',
    });
    hashes.pruneUpTo(12);
    expect(hashes.conflictOf(11, { hash: 'b-11', parentHash: 'b-10' })).toBeUndefined();
  });

  it('highest and lowest follow what is kept, undefined when empty', () => {
    const hashes = new BlockHashes();
    expect(hashes.highest()).toBeUndefined();
    expect(hashes.lowest()).toBeUndefined();
    hashes.set(7, block(7));
    hashes.set(3, block(3));
    hashes.set(12, block(12));
    expect(hashes.highest()).toBe(12);
    expect(hashes.lowest()).toBe(3);
    hashes.dropAbove(7);
    expect(hashes.highest()).toBe(7);
    hashes.pruneUpTo(3);
    expect(hashes.lowest()).toBe(7);
    hashes.delete(7);
    expect(hashes.highest()).toBeUndefined();
    expect(hashes.size).toBe(0);
  });
});

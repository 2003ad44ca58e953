/**
 * The lanes and holds of one queue (docs/chains.md, "Lanes"): tip heights before the backfill,
 * due retries before both, a hold while a reorganisation is handled (with a probed height let
 * through), and an operator's pause.
 */
import { describe, expect, it } from 'vitest';
import { QueueState } from '../../../manager/queue/queue-state.js';
import { RangeSet } from '../../../shared/range-set.js';
import { pairsView, rangesOf } from '../../helpers/taken.js';

const NOW = 1_700_000_000_000;
const backoff = () => 1_000;

/** A queue with a backfill of [from, to] pending. */
function backfilled(from: number, to: number): QueueState {
  const queue = new QueueState('q');
  queue.enqueue(RangeSet.from([[from, to]]), false);
  return queue;
}

describe('QueueState lanes', () => {
  it('takes heights enqueued in the tip lane before lower backfill heights', () => {
    const queue = backfilled(0, 99);
    const outcome = queue.enqueue(RangeSet.from([[200, 202]]), false, 'tip');
    expect(outcome).toMatchObject({ added: 3, skipped: 0 });
    expect(queue.tip.toJSON()).toEqual([[200, 202]]);
    expect(queue.tipPending.toJSON()).toEqual([[200, 202]]);
    expect(pairsView(queue.take(5, NOW))).toEqual({
      ranges: [
        [200, 202],
        [0, 1],
      ],
      attempts: null,
      count: 5,
    });
    expect(queue.tipPending.isEmpty).toBe(true);
    expect(queue.pending.toJSON()).toEqual([[2, 99]]);
    // Taking less than the tip lane holds takes only tip heights, lowest first.
    queue.enqueue(RangeSet.from([[300, 309]]), false, 'tip');
    expect(rangesOf(queue.take(4, NOW))).toEqual([[300, 303]]);
  });

  it('moves pending heights a tip request names into the tip lane, new or not', () => {
    const queue = backfilled(0, 99);
    expect(queue.enqueue(RangeSet.from([[50, 51]]), false, 'tip')).toMatchObject({
      added: 0,
      skipped: 2,
    });
    expect(rangesOf(queue.take(3, NOW))).toEqual([
      [50, 51],
      [0, 0],
    ]);
  });

  it('takes due retries before the tip lane and the backfill', () => {
    const queue = backfilled(0, 9);
    queue.take(1, NOW);
    queue.fail(0, 'boom', NOW, 5, backoff);
    queue.enqueue(RangeSet.from([[20, 21]]), false, 'tip');
    // Not due yet: tip first, then the backfill.
    expect(rangesOf(queue.take(3, NOW))).toEqual([
      [20, 21],
      [1, 1],
    ]);
    queue.enqueue(RangeSet.from([[22, 22]]), false, 'tip');
    expect(pairsView(queue.take(3, NOW + 1_000))).toEqual({
      ranges: [
        [0, 0],
        [22, 22],
        [2, 2],
      ],
      attempts: [2, 1, 1],
      count: 3,
    });
  });

  it('gives a tip height handed back its tip priority again', () => {
    const queue = backfilled(0, 99);
    queue.enqueue(RangeSet.from([[200, 203]]), false, 'tip');
    expect(rangesOf(queue.take(4, NOW))).toEqual([[200, 203]]);
    expect(queue.tipPending.isEmpty).toBe(true);
    queue.giveBack(201, 202, NOW);
    expect(queue.tipPending.toJSON()).toEqual([[201, 202]]);
    expect(rangesOf(queue.take(3, NOW))).toEqual([
      [201, 202],
      [0, 0],
    ]);
    // Handed-back backfill heights stay in the backfill lane.
    queue.giveBack(0, 0, NOW);
    expect(queue.tipPending.isEmpty).toBe(true);
  });

  it('leaves the tip lane once its heights are committed', () => {
    const queue = backfilled(0, 9);
    queue.enqueue(RangeSet.from([[20, 21]]), false, 'tip');
    queue.take(2, NOW);
    queue.succeed(20, 21);
    queue.committed(RangeSet.from([[20, 21]]));
    expect(queue.tip.isEmpty).toBe(true);
    // Forced again as backfill, they are not tip heights any more.
    queue.enqueue(RangeSet.from([[20, 21]]), true);
    expect(rangesOf(queue.take(1, NOW))).toEqual([[0, 0]]);
  });
});

describe('QueueState ceiling', () => {
  it('hands out no height above head - confirmations, in either lane, until the head moves', () => {
    const queue = backfilled(0, 9);
    queue.enqueue(RangeSet.from([[20, 22]]), false, 'tip');
    queue.noteHead(21, 20, NOW);
    expect(rangesOf(queue.take(10, NOW))).toEqual([
      [20, 20],
      [0, 8],
    ]);
    expect(rangesOf(queue.take(10, NOW))).toEqual([[9, 9]]);
    expect(queue.take(10, NOW).count).toBe(0);
    queue.noteHead(22, 22, NOW);
    expect(rangesOf(queue.take(10, NOW))).toEqual([[21, 22]]);
  });
});

describe('QueueState hold and pause', () => {
  it('hold() stops take() until release()', () => {
    const queue = backfilled(0, 9);
    queue.enqueue(RangeSet.from([[20, 20]]), false, 'tip');
    queue.hold('reorg');
    expect(queue.isHeld).toBe(true);
    expect(pairsView(queue.take(10, NOW))).toEqual({ ranges: [], attempts: null, count: 0 });
    expect(queue.pending.count).toBe(11);
    queue.release('reorg');
    expect(queue.isHeld).toBe(false);
    expect(rangesOf(queue.take(2, NOW))).toEqual([
      [20, 20],
      [0, 0],
    ]);
  });

  it('hold() with `only` lets just those pending heights out, as first attempts', () => {
    const queue = backfilled(0, 9);
    queue.take(1, NOW);
    queue.fail(0, 'boom', NOW, 5, backoff);
    queue.enqueue(RangeSet.from([[7, 7]]), false, 'tip');
    queue.hold('reorg', RangeSet.from([[7, 8]]));
    // The due retry and the other pending heights stay where they are.
    expect(pairsView(queue.take(10, NOW + 1_000))).toEqual({
      ranges: [[7, 8]],
      attempts: null,
      count: 2,
    });
    expect(queue.tipPending.has(7)).toBe(false);
    expect(queue.leased.toJSON()).toEqual([[7, 8]]);
    expect(queue.take(10, NOW + 1_000).count).toBe(0);
    expect(queue.stateOf(0)?.state).toBe('retrying');

    // At most `limit` heights of `only` at a time.
    const probed = backfilled(0, 9);
    probed.hold('reorg', RangeSet.from([[3, 6]]));
    expect(rangesOf(probed.take(2, NOW))).toEqual([[3, 4]]);
    expect(rangesOf(probed.take(5, NOW))).toEqual([[5, 6]]);
  });

  it('pause() stops take(), resume() restores it, and the summary shows it', () => {
    const queue = backfilled(0, 9);
    expect(queue.summary()).toMatchObject({ state: 'active' });
    expect(queue.summary()).not.toHaveProperty('pausedReason');
    queue.pause('a reorganisation reaches height 3');
    expect(pairsView(queue.take(5, NOW))).toEqual({ ranges: [], attempts: null, count: 0 });
    expect(queue.summary()).toMatchObject({
      state: 'paused',
      pausedReason: 'a reorganisation reaches height 3',
      pending: 10,
    });
    // A pause wins over a hold that would let a probe through.
    queue.hold('reorg', RangeSet.from([[0, 0]]));
    expect(queue.take(5, NOW).count).toBe(0);
    queue.release('reorg');
    queue.resume();
    expect(queue.summary()).toMatchObject({ state: 'active' });
    expect(queue.summary()).not.toHaveProperty('pausedReason');
    expect(rangesOf(queue.take(5, NOW))).toEqual([[0, 4]]);
  });
});

describe('QueueState.highestTouchedAbove', () => {
  it('gives the highest height above the line that is done, committing, leased or has a history', () => {
    const queue = backfilled(0, 99);
    expect(queue.highestTouchedAbove(10)).toBeUndefined();
    queue.take(5, NOW); // 0..4 leased
    expect(queue.highestTouchedAbove(2)).toBe(4);
    expect(queue.highestTouchedAbove(4)).toBeUndefined();

    queue.succeed(0, 4);
    expect(queue.highestTouchedAbove(0)).toBe(4);
    queue.committed(RangeSet.from([[0, 4]]));
    expect(queue.highestTouchedAbove(0)).toBe(4);

    // A failed attempt leaves a history at its height; pending heights do not count.
    queue.enqueue(RangeSet.from([[500, 500]]), false, 'tip');
    expect(rangesOf(queue.take(1, NOW))).toEqual([[500, 500]]);
    queue.fail(500, 'boom', NOW, 1, backoff);
    expect(queue.stateOf(500)?.state).toBe('failed');
    expect(queue.highestTouchedAbove(4)).toBe(500);
    expect(queue.highestTouchedAbove(500)).toBeUndefined();
    queue.enqueue(RangeSet.from([[900, 910]]), false);
    expect(queue.highestTouchedAbove(500)).toBeUndefined();
  });
});

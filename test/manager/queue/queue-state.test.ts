import { describe, expect, it } from 'vitest';
import { QueueState } from '../../../manager/queue/queue-state.js';
import { RangeSet } from '../../../shared/range-set.js';
import { pairsView, rangesOf } from '../../helpers/taken.js';

const noBackoff = () => 1_000;

function queueWith(from: number, to: number): QueueState {
  const queue = new QueueState('q');
  queue.enqueue(RangeSet.from([[from, to]]), false);
  return queue;
}

describe('QueueState', () => {
  it('enqueue counts added and skipped, idempotently', () => {
    const queue = new QueueState('q');
    expect(queue.enqueue(RangeSet.from([[0, 9]]), false)).toMatchObject({ added: 10, skipped: 0 });
    expect(queue.enqueue(RangeSet.from([[5, 14]]), false)).toMatchObject({ added: 5, skipped: 5 });
    expect(queue.summary()).toMatchObject({ pending: 15, done: 0, watermark: null });
  });

  it('takes the lowest pending heights and leases them', () => {
    const queue = queueWith(10, 19);
    expect(pairsView(queue.take(3, 0))).toEqual({ ranges: [[10, 12]], attempts: null, count: 3 });
    expect(queue.stateOf(10)?.state).toBe('leased');
    expect(queue.summary()).toMatchObject({ pending: 7, leased: 3 });
  });

  it('counts a success as leased until committed, then done, and moves the watermark', () => {
    const queue = queueWith(0, 4);
    queue.take(5, 0);
    expect(queue.succeed(0, 1)).toEqual([]);
    queue.succeed(3, 3);
    expect(queue.stateOf(0)?.state).toBe('leased');
    queue.committed(RangeSet.ofHeights([0, 1, 3]));
    expect(queue.stateOf(0)?.state).toBe('done');
    expect(queue.watermark()).toBe(1);
    expect(queue.gaps(10)).toEqual([
      { from: 2, to: 2, state: 'leased' },
      { from: 4, to: 4, state: 'leased' },
    ]);
  });

  it('retries a failed height after its backoff, first among due work, then dead-letters it', () => {
    const queue = queueWith(0, 9);
    queue.take(1, 0);
    queue.fail(0, 'boom', 0, 2, noBackoff);
    expect(queue.stateOf(0)).toEqual({ state: 'retrying', attempts: 1, lastError: 'boom' });
    expect(rangesOf(queue.take(1, 999))).toEqual([[1, 1]]);
    expect(pairsView(queue.take(2, 1_000))).toEqual({
      ranges: [
        [0, 0],
        [2, 2],
      ],
      attempts: [2, 1],
      count: 2,
    });
    queue.fail(0, 'boom again', 1_000, 2, noBackoff);
    expect(queue.stateOf(0)).toEqual({ state: 'failed', attempts: 2, lastError: 'boom again' });
    expect(queue.summary()).toMatchObject({ failed: 1, retrying: 0 });
    expect(queue.failedWithin(0, 9)).toEqual([0]);
    queue.requeue([0]);
    expect(queue.stateOf(0)?.state).toBe('pending');
    expect(queue.summary()).toMatchObject({ failed: 0 });
  });

  it('gives back a leased height with no attempt counted', () => {
    const queue = queueWith(0, 2);
    queue.take(3, 0);
    queue.giveBack(1, 1, 0);
    expect(queue.stateOf(1)).toEqual({ state: 'pending', attempts: 0, lastError: null });
    expect(rangesOf(queue.take(5, 0))).toEqual([[1, 1]]);
  });

  it('gives back a range: heights with a history become retries due now, the rest pending', () => {
    const queue = queueWith(0, 9);
    queue.take(10, 0);
    queue.fail(4, 'x', 0, 5, noBackoff);
    expect(rangesOf(queue.take(1, 1_000))).toEqual([[4, 4]]);
    queue.giveBack(0, 9, 2_000);
    expect(queue.summary()).toMatchObject({ pending: 9, leased: 0, retrying: 1 });
    expect(queue.stateOf(4)).toEqual({ state: 'retrying', attempts: 1, lastError: 'x' });
    expect(pairsView(queue.take(3, 2_000))).toEqual({
      ranges: [
        [4, 4],
        [0, 1],
      ],
      attempts: [2, 1],
      count: 3,
    });
  });

  it('a success over a range drops the history of the heights that had one', () => {
    const queue = queueWith(0, 99);
    queue.take(100, 0);
    queue.fail(50, 'x', 0, 5, () => 0);
    queue.take(1, 0);
    expect(queue.succeed(0, 99)).toEqual([50]);
    expect(queue.stateOf(50)).toEqual({ state: 'leased', attempts: 0, lastError: null });
    expect(queue.summary()).toMatchObject({ leased: 100, retrying: 0 });
  });

  it('succeedAll moves a sparse lease from leased to committing in one step, history dropped', () => {
    const queue = new QueueState('q');
    const evens = RangeSet.ofHeights(Array.from({ length: 5_000 }, (_, i) => 2 * i));
    queue.enqueue(evens, false);
    expect(queue.take(5_000, 0).count).toBe(5_000);
    queue.fail(4, 'x', 0, 5, () => 0);
    queue.take(1, 0);
    const reported = RangeSet.ofHeights(Array.from({ length: 2_500 }, (_, i) => 4 * i));
    expect(queue.succeedAll(reported)).toEqual([4]);
    expect(queue.leased.count).toBe(2_500);
    expect(queue.leased.has(2)).toBe(true);
    expect(queue.leased.has(4)).toBe(false);
    expect(queue.committing.equals(reported)).toBe(true);
    expect(queue.stateOf(4)).toEqual({ state: 'leased', attempts: 0, lastError: null });
    queue.committed(reported);
    expect(queue.summary()).toMatchObject({ leased: 2_500, done: 2_500, retrying: 0 });
  });

  it('force puts done and failed heights back; without force they are skipped', () => {
    const queue = queueWith(0, 3);
    queue.take(4, 0);
    queue.succeed(0, 1);
    queue.committed(RangeSet.ofHeights([0, 1]));
    queue.fail(2, 'x', 0, 1, noBackoff);
    expect(queue.enqueue(RangeSet.from([[0, 3]]), false)).toMatchObject({ added: 0, skipped: 4 });
    const forced = queue.enqueue(RangeSet.from([[0, 3]]), true);
    expect(forced).toMatchObject({ added: 3, skipped: 1, cleared: [2] });
    expect(forced.undone.toJSON()).toEqual([[0, 1]]);
    expect(queue.summary()).toMatchObject({ pending: 3, leased: 1, done: 0, failed: 0 });
  });

  it('reports missing heights in gaps above the watermark', () => {
    const queue = new QueueState('q');
    queue.enqueue(
      RangeSet.from([
        [0, 4],
        [10, 12],
      ]),
      false,
    );
    queue.take(5, 0);
    queue.succeed(0, 4);
    queue.committed(RangeSet.from([[0, 4]]));
    expect(queue.gaps(10)).toEqual([
      { from: 5, to: 9, state: 'missing' },
      { from: 10, to: 12, state: 'pending' },
    ]);
    expect(queue.gaps(1)).toHaveLength(1);
  });

  it('rebuilds pending, retrying and failed from stored state', () => {
    const history = new Map([
      [3, { attempts: 1, lastError: 'e', nextAttemptAt: 5, failed: false }],
      [4, { attempts: 5, lastError: 'dead', nextAttemptAt: 5, failed: true }],
    ]);
    const queue = new QueueState('q', RangeSet.from([[0, 9]]), RangeSet.from([[0, 2]]), history);
    expect(queue.summary()).toMatchObject({
      pending: 5,
      retrying: 1,
      failed: 1,
      done: 3,
      watermark: 2,
    });
    expect(pairsView(queue.take(10, 5))).toEqual({
      ranges: [
        [3, 3],
        [5, 9],
      ],
      attempts: [2, 1],
      count: 6,
    });
  });
});

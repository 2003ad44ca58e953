import { describe, expect, it } from 'vitest';
import { QueueState } from '../../manager/queue-state.js';
import { RangeSet } from '../../shared/range-set.js';

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
    expect(queue.take(3, 0)).toEqual({ heights: [10, 11, 12], attempts: null });
    expect(queue.stateOf(10)?.state).toBe('leased');
    expect(queue.summary()).toMatchObject({ pending: 7, leased: 3 });
  });

  it('counts a success as leased until committed, then done, and moves the watermark', () => {
    const queue = queueWith(0, 4);
    queue.take(5, 0);
    for (const height of [0, 1, 3]) queue.succeed(height);
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
    expect(queue.take(1, 999).heights).toEqual([1]);
    expect(queue.take(2, 1_000)).toEqual({ heights: [0, 2], attempts: [2, 1] });
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
    queue.giveBack(1, 0);
    expect(queue.stateOf(1)).toEqual({ state: 'pending', attempts: 0, lastError: null });
    expect(queue.take(5, 0).heights).toEqual([1]);
  });

  it('force puts done and failed heights back; without force they are skipped', () => {
    const queue = queueWith(0, 3);
    queue.take(4, 0);
    queue.succeed(0);
    queue.succeed(1);
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
    for (const height of [0, 1, 2, 3, 4]) queue.succeed(height);
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
    expect(queue.take(10, 5)).toEqual({
      heights: [3, 5, 6, 7, 8, 9],
      attempts: [2, 1, 1, 1, 1, 1],
    });
  });
});

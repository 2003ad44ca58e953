import { describe, expect, it } from 'vitest';
import { QueueState } from '../../../manager/queue/queue-state.js';
import { QueueWrites } from '../../../manager/store/pending-writes.js';
import { RangeSet } from '../../../shared/range-set.js';
import { rangesOf } from '../../helpers/taken.js';

/** Every other height of [from, to): a sparse request, many ranges, as S6 sends them. */
function sparse(from: number, to: number): RangeSet {
  const heights: number[] = [];
  for (let h = from; h < to; h += 2) heights.push(h);
  return RangeSet.ofHeights(heights);
}

describe('QueueWrites shares an enqueue fresh set', () => {
  it('keeps a request above the queue as it is: the outcome and the batch hold the same set', () => {
    const queue = new QueueState('q');
    const writes = new QueueWrites();
    queue.enqueue(sparse(0, 1_000), false);
    const request = sparse(1_000, 2_000);
    const outcome = queue.enqueue(request, false);
    expect(outcome.fresh).toBe(request);
    writes.recordEnqueue(outcome);
    expect(writes.enqueued).toBe(request);
  });

  it('never sees the shared set changed by the queue or by a later enqueue into the batch', () => {
    const queue = new QueueState('q');
    const writes = new QueueWrites();
    const first = sparse(0, 1_000);
    const copy = first.clone();
    writes.recordEnqueue(queue.enqueue(first, false));
    expect(writes.enqueued).toBe(first);

    // The queue's own sets change (dispatch takes from pending, successes leave leased)...
    const taken = queue.take(300, 0);
    queue.succeedAll(RangeSet.from(rangesOf(taken)));
    // ...and a second enqueue lands in the same batch, both below and above the first.
    writes.recordEnqueue(queue.enqueue(RangeSet.from([[1, 1]]), false));
    writes.recordEnqueue(queue.enqueue(sparse(1_000, 1_200), false));

    expect(first.equals(copy)).toBe(true);
    expect(writes.enqueued).not.toBe(first);
    const expected = copy.union(RangeSet.from([[1, 1]])).union(sparse(1_000, 1_200));
    expect(writes.enqueued.equals(expected)).toBe(true);
    expect(queue.enqueued.equals(expected)).toBe(true);
  });

  it('copies nothing it does not own when a request overlaps the queue', () => {
    const queue = new QueueState('q');
    const writes = new QueueWrites();
    queue.enqueue(RangeSet.from([[0, 9]]), false);
    const request = RangeSet.from([[5, 14]]);
    const outcome = queue.enqueue(request, false);
    expect(outcome.fresh).not.toBe(request);
    writes.recordEnqueue(outcome);
    expect(writes.enqueued.toJSON()).toEqual([[10, 14]]);
    expect(request.toJSON()).toEqual([[5, 14]]);
  });
});

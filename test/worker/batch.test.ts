import { describe, expect, it } from 'vitest';
import { RangeSet } from '../../shared/range-set.js';
import {
  batchOf,
  dropHeights,
  isExhausted,
  takeNext,
  unstarted,
  unstartedCount,
} from '../../worker/batch.js';

function dispatch(ranges: [number, number][], attempts?: number[]) {
  return batchOf({ type: 'dispatch', lease: 1, queue: 'q', ranges, attempts });
}

describe('batch', () => {
  it('hands out every height of every range in order, with its range attempt', () => {
    const batch = dispatch(
      [
        [7, 7],
        [0, 2],
      ],
      [3, 1],
    );
    expect(unstartedCount(batch)).toBe(4);
    const taken = [];
    while (!isExhausted(batch)) taken.push(takeNext(batch));
    expect(taken).toEqual([
      { height: 7, attempt: 3 },
      { height: 0, attempt: 1 },
      { height: 1, attempt: 1 },
      { height: 2, attempt: 1 },
    ]);
    expect(unstartedCount(batch)).toBe(0);
  });

  it('starts a height of a huge range in constant time and counts the rest without listing it', () => {
    const batch = dispatch([[0, 2 ** 40]]);
    expect(takeNext(batch)).toEqual({ height: 0, attempt: 1 });
    expect(unstarted(batch)).toEqual([{ from: 1, to: 2 ** 40, attempt: 1 }]);
    expect(unstartedCount(batch)).toBe(2 ** 40);
  });

  it('drops cancelled heights from what is left, keeping both sides and their attempts', () => {
    const batch = dispatch(
      [
        [100, 100],
        [10, 19],
      ],
      [2, 1],
    );
    takeNext(batch);
    takeNext(batch);
    dropHeights(
      batch,
      RangeSet.from([
        [12, 14],
        [100, 100],
      ]),
    );
    expect(unstarted(batch)).toEqual([
      { from: 11, to: 11, attempt: 1 },
      { from: 15, to: 19, attempt: 1 },
    ]);
    dropHeights(batch, RangeSet.from([[0, 50]]));
    expect(isExhausted(batch)).toBe(true);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommittingHeights } from '../../../manager/queue/committing-heights.js';
import { RangeSet } from '../../../shared/range-set.js';

describe('CommittingHeights', () => {
  it('drops the oldest parts whole when a write batch of them commits', () => {
    const committing = new CommittingHeights();
    committing.add(RangeSet.ofHeights([10, 12]));
    committing.add(RangeSet.ofHeights([2, 4]));
    committing.add(RangeSet.ofHeights([20]));
    expect(committing.count).toBe(5);
    expect(committing.max()).toBe(20);
    expect(committing.has(4)).toBe(true);
    expect(committing.has(5)).toBe(false);
    // The first batch held the first two frames' successes.
    committing.committed(RangeSet.ofHeights([2, 4, 10, 12]));
    expect(committing.count).toBe(1);
    expect(committing.toSet().toJSON()).toEqual([[20, 20]]);
    committing.committed(RangeSet.ofHeights([20]));
    expect(committing.count).toBe(0);
    expect(committing.max()).toBeUndefined();
  });

  it('removes any other set of its heights exactly', () => {
    const committing = new CommittingHeights();
    committing.add(RangeSet.from([[0, 19]]));
    committing.add(RangeSet.from([[30, 39]]));
    committing.committed(RangeSet.from([[0, 14]]));
    expect(committing.toSet().toString()).toBe('{15..19, 30..39}');
    expect(committing.count).toBe(15);
    // As many heights as the oldest part, but not the oldest part.
    committing.committed(RangeSet.from([[30, 34]]));
    expect(committing.toSet().toString()).toBe('{15..19, 35..39}');
    expect(committing.count).toBe(10);
  });

  it('matches one merged set over random frames and in-order batches', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { maxLength: 30 }),
            fc.boolean(),
          ),
          {
            maxLength: 40,
          },
        ),
        (frames) => {
          const committing = new CommittingHeights();
          const model = new RangeSet();
          const used = new RangeSet();
          let batch = new RangeSet();
          for (const [heights, cut] of frames) {
            // A height succeeds once while it awaits its commit: frames are disjoint.
            const frame = RangeSet.ofHeights(heights).difference(used);
            used.addSet(frame);
            committing.add(frame.clone());
            model.addSet(frame);
            batch.addSet(frame);
            if (cut) {
              committing.committed(batch);
              model.removeSet(batch);
              batch = new RangeSet();
            }
            expect(committing.toSet().equals(model)).toBe(true);
            expect(committing.count).toBe(model.count);
            expect(committing.max()).toBe(model.max());
          }
        },
      ),
    );
  });
});

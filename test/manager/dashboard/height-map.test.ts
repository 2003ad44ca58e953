import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bucketSizeFor,
  type HeightMap,
  heightMap,
  type MapEntry,
  type MapState,
} from '../../../manager/dashboard/height-map.js';
import { type AttemptRecord, QueueState } from '../../../manager/queue/queue-state.js';
import { RangeSet } from '../../../shared/range-set.js';
import { rangesOf } from '../../helpers/taken.js';

const backoff = () => 1_000;
const MAX_ATTEMPTS = 2;

/** The map computed height by height from QueueState.stateOf: slow, obviously right. */
function referenceMap(queue: QueueState, from: number, to: number, buckets: number): HeightMap {
  const bucketSize = bucketSizeFor(from, to, buckets);
  const entries: MapEntry[] = [];
  for (let a = from; a <= to; a += bucketSize) {
    const b = Math.min(to, a + bucketSize - 1);
    const counts: Partial<Record<MapState, number>> = {};
    for (let h = a; h <= b; h++) {
      const state = queue.stateOf(h)?.state ?? 'missing';
      counts[state] = (counts[state] ?? 0) + 1;
    }
    const states = Object.keys(counts) as MapState[];
    const state = states.length === 1 ? (states[0] as MapState) : 'mixed';
    const last = entries.at(-1);
    if (state !== 'mixed' && last?.state === state) {
      last.to = b;
      last.counts[state] = (last.counts[state] ?? 0) + (b - a + 1);
    } else {
      entries.push({ from: a, to: b, state, counts });
    }
  }
  return { from, to, bucketSize, entries };
}

/** A queue with every state: done, pending, leased, committing, retrying, failed, and holes. */
function mixedQueue(): QueueState {
  const queue = new QueueState('q');
  queue.enqueue(
    RangeSet.from([
      [0, 59],
      [70, 99],
    ]),
    false,
  );
  expect(rangesOf(queue.take(40, 0))).toEqual([[0, 39]]);
  queue.succeed(0, 19);
  queue.committed(RangeSet.from([[0, 14]])); // 0..14 done, 15..19 committing
  for (const h of [25, 26, 27]) queue.fail(h, 'boom', 0, MAX_ATTEMPTS, backoff); // retrying
  for (const h of [30, 31]) queue.fail(h, 'boom', 0, 1, backoff); // failed (one attempt allowed)
  return queue;
}

describe('heightMap', () => {
  it('lists exact ranges and states at one height per bucket', () => {
    const queue = mixedQueue();
    const map = heightMap(queue, 0, 99, 100);
    expect(map.bucketSize).toBe(1);
    expect(map.entries.map(({ from, to, state }) => ({ from, to, state }))).toEqual([
      { from: 0, to: 14, state: 'done' },
      { from: 15, to: 24, state: 'leased' },
      { from: 25, to: 27, state: 'retrying' },
      { from: 28, to: 29, state: 'leased' },
      { from: 30, to: 31, state: 'failed' },
      { from: 32, to: 39, state: 'leased' },
      { from: 40, to: 59, state: 'pending' },
      { from: 60, to: 69, state: 'missing' },
      { from: 70, to: 99, state: 'pending' },
    ]);
    expect(map).toEqual(referenceMap(queue, 0, 99, 100));
  });

  it('counts every state per bucket and merges uniform neighbours', () => {
    const queue = mixedQueue();
    const map = heightMap(queue, 0, 99, 10);
    expect(map.bucketSize).toBe(10);
    expect(map.entries[0]).toEqual({ from: 0, to: 9, state: 'done', counts: { done: 10 } });
    expect(map.entries[1]).toEqual({
      from: 10,
      to: 19,
      state: 'mixed',
      counts: { done: 5, leased: 5 },
    });
    expect(map.entries.find((e) => e.from === 30)?.counts).toEqual({ failed: 2, leased: 8 });
    expect(map.entries.find((e) => e.from === 70)).toEqual({
      from: 70,
      to: 99,
      state: 'pending',
      counts: { pending: 30 },
    });
    expect(map).toEqual(referenceMap(queue, 0, 99, 10));
  });

  it('never makes more buckets than asked, and covers spans beyond the enqueued heights', () => {
    const queue = mixedQueue();
    for (const [from, to, buckets] of [
      [0, 99, 7],
      [0, 99, 3],
      [50, 50, 10],
      [90, 150, 1],
      [0, 1_000, 999],
    ] as const) {
      const map = heightMap(queue, from, to, buckets);
      expect(map).toEqual(referenceMap(queue, from, to, buckets));
      expect(Math.ceil((to - from + 1) / map.bucketSize)).toBeLessThanOrEqual(buckets);
      expect(map.entries[0]?.from).toBe(from);
      expect(map.entries.at(-1)?.to).toBe(to);
    }
  });

  it('handles spans up to 2^53-1 without passing it', () => {
    const top = Number.MAX_SAFE_INTEGER;
    const queue = new QueueState('q');
    queue.enqueue(RangeSet.from([[top - 9, top]]), false);
    const whole = heightMap(queue, 0, top, 2_000);
    expect(whole.entries.at(-1)?.to).toBe(top);
    expect(whole.entries.reduce((n, e) => n + (e.counts.pending ?? 0), 0)).toBe(10);
    expect(heightMap(queue, top - 19, top, 20).entries).toEqual([
      { from: top - 19, to: top - 10, state: 'missing', counts: { missing: 10 } },
      { from: top - 9, to: top, state: 'pending', counts: { pending: 10 } },
    ]);
  });

  it('rejects a reversed span and a bucket count below 1', () => {
    const queue = mixedQueue();
    expect(() => heightMap(queue, 5, 4, 10)).toThrow(RangeError);
    expect(() => heightMap(queue, 0, 4, 0)).toThrow(RangeError);
  });

  it('agrees with the height-by-height reference on random queues', () => {
    const op = fc.oneof(
      fc
        .tuple(fc.integer({ min: 0, max: 150 }), fc.integer({ min: 0, max: 30 }))
        .map(([from, n]) => ({ kind: 'enqueue' as const, from, to: from + n })),
      fc.integer({ min: 1, max: 20 }).map((n) => ({ kind: 'take' as const, n })),
      fc.nat().map((pick) => ({ kind: 'succeed' as const, pick })),
      fc.nat().map((pick) => ({ kind: 'fail' as const, pick })),
      fc.constant({ kind: 'commit' as const }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 30 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 50 }),
        (ops, x, y, buckets) => {
          const queue = new QueueState('q');
          const succeeded: number[] = [];
          for (const step of ops) {
            const leased = [...queue.leased.heights()];
            if (step.kind === 'enqueue')
              queue.enqueue(RangeSet.from([[step.from, step.to]]), false);
            else if (step.kind === 'take') queue.take(step.n, 5_000);
            else if (step.kind === 'commit') {
              queue.committed(RangeSet.ofHeights(succeeded.splice(0)));
            } else if (leased.length > 0) {
              const height = leased[step.pick % leased.length] as number;
              if (step.kind === 'succeed') {
                queue.succeed(height, height);
                succeeded.push(height);
              } else queue.fail(height, 'x', 0, 3, backoff);
            }
          }
          const [from, to] = x <= y ? [x, y] : [y, x];
          expect(heightMap(queue, from, to, buckets)).toEqual(
            referenceMap(queue, from, to, buckets),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('maps a 100,000,000-height queue with thousands of gaps in milliseconds', () => {
    // 3,000 holes in the done set (pending), 1,000 dead letters, 500 retrying, 200 leased.
    const done = RangeSet.from([[0, 99_999_999]]);
    for (let i = 0; i < 3_000; i++) done.remove(i * 33_333 + 7, i * 33_333 + 7 + (i % 50));
    const history = new Map<number, AttemptRecord>();
    let failed = 0;
    let retrying = 0;
    for (let i = 0; i < 1_500; i++) {
      const height = 5_000_000 + i * 997;
      done.remove(height);
      const dead = i < 1_000;
      history.set(height, { attempts: 1, lastError: 'x', nextAttemptAt: 0, failed: dead });
      if (dead) failed++;
      else retrying++;
    }
    for (let i = 0; i < 200; i++) done.remove(90_000_000 + i);
    const queue = new QueueState('big', RangeSet.from([[0, 99_999_999]]), done, history);
    for (let i = 0; i < 200; i++) {
      queue.pending.remove(90_000_000 + i);
      queue.leased.add(90_000_000 + i);
    }
    expect(queue.summary()).toMatchObject({ leased: 200, retrying, failed });

    const timed = () => {
      const started = performance.now();
      const result = heightMap(queue, 0, 99_999_999, 2_000);
      return { result, ms: performance.now() - started };
    };
    const { result: map, ms: coldMs } = timed();
    // The best of a few warm calls: other processes on a 2-core machine make single runs noisy.
    const warmMs = Math.min(...Array.from({ length: 7 }, () => timed().ms));

    const totals: Record<string, number> = {};
    for (const entry of map.entries) {
      for (const [state, n] of Object.entries(entry.counts))
        totals[state] = (totals[state] ?? 0) + n;
    }
    expect(totals).toEqual({
      done: queue.done.count,
      pending: queue.pending.count,
      leased: 200,
      retrying,
      failed,
    });
    expect(Object.values(totals).reduce((a, b) => a + b, 0)).toBe(100_000_000);
    expect(map.bucketSize).toBe(50_000);
    // A zoomed-in view agrees with the height-by-height reference.
    const zoomFrom = 5_000_000 + 997 * 3 - 20;
    expect(heightMap(queue, zoomFrom, zoomFrom + 2_999, 300)).toEqual(
      referenceMap(queue, zoomFrom, zoomFrom + 2_999, 300),
    );
    console.info(
      `height map, 100,000,000 heights, 2,000 buckets: first call ${coldMs.toFixed(1)} ms, best warm ${warmMs.toFixed(1)} ms`,
    );
    // A per-height loop would take seconds; ranges and buckets take about a millisecond.
    expect(warmMs).toBeLessThan(20);
  });
});

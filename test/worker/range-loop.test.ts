/**
 * The range loop (worker/range-loop.ts): dispatches cut into calls of the frame's rangeSize, a
 * failing call split in halves down to the height that fails, RangeTooLargeError splitting with
 * no failure reported and the size fallen back to reported, cancel and release.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import {
  type DispatchFrame,
  doneOf,
  type ResultsFrame,
  type WorkerFrame,
} from '../../shared/protocol.js';
import { RangeSet } from '../../shared/range-set.js';
import type { HandlerRange } from '../../worker/handler.js';
import {
  cutRange,
  fallbackSize,
  halves,
  RangeLoop,
  rangeReportsOf,
} from '../../worker/range-loop.js';
import { waitFor } from '../helpers/wait.js';

const log = createLogger({ level: 'silent', name: 'range-loop-test' });

class TooLarge extends Error {
  override name = 'RangeTooLargeError';
  constructor(readonly maxRange?: number) {
    super('block range too large');
  }
}

function dispatch(lease: number, ranges: [number, number][], rangeSize?: number): DispatchFrame {
  return {
    type: 'dispatch',
    lease,
    queue: 'q',
    ranges,
    ...(rangeSize === undefined ? {} : { rangeSize }),
  };
}

/** A loop whose handler records each call and answers through `answer`. */
function loopWith(answer: (range: HandlerRange) => unknown, concurrency = 2) {
  const calls: [number, number][] = [];
  const frames: WorkerFrame[] = [];
  const loop = new RangeLoop(
    async (range) => {
      calls.push([range.from, range.to]);
      return answer(range) as undefined;
    },
    concurrency,
    log,
  );
  loop.connected((frame) => frames.push(frame));
  const results = () => frames.filter((f): f is ResultsFrame => f.type === 'results');
  const done = () => {
    const set = new RangeSet();
    for (const frame of results()) set.addSet(doneOf(frame));
    return set;
  };
  const failed = () => results().flatMap((frame) => frame.failed);
  return { loop, calls, frames, results, done, failed };
}

describe('range splitting', () => {
  it('cuts ranges into pieces of the size, halves a range with the larger half first', () => {
    expect(cutRange(0, 9, 4)).toEqual([
      [0, 3],
      [4, 7],
      [8, 9],
    ]);
    expect(cutRange(5, 5, 1000)).toEqual([[5, 5]]);
    expect(halves(0, 4)).toEqual([
      [0, 2],
      [3, 4],
    ]);
    expect(halves(7, 7)).toEqual([[7, 7]]);
  });

  it('falls back to maxRange when it is a whole number below the size, else to half', () => {
    expect(fallbackSize(5_000, 1_000)).toBe(1_000);
    expect(fallbackSize(5_000, undefined)).toBe(2_500);
    expect(fallbackSize(5_000, 6_000)).toBe(2_500);
    expect(fallbackSize(5_000, 0.5)).toBe(2_500);
    expect(fallbackSize(3, undefined)).toBe(2);
    expect(fallbackSize(2, 1)).toBe(1);
  });

  it('keeps only valid reports of heights within the range', () => {
    expect(
      rangeReportsOf(10, 11, [
        { height: 10, hash: '0xa', parentHash: '0x9' },
        { height: 12, hash: '0xc', parentHash: '0xb' },
        { height: 11, hash: '', parentHash: '0xa' },
        'nonsense',
      ]),
    ).toEqual([{ height: 10, hash: '0xa', parentHash: '0x9' }]);
    expect(rangeReportsOf(0, 1, undefined)).toEqual([]);
  });
});

describe('RangeLoop', () => {
  it('runs a dispatch in calls of rangeSize heights, all done in one frame per lease', async () => {
    const { loop, calls, results, done } = loopWith(() => undefined);
    loop.dispatch(dispatch(1, [[0, 24]], 10));
    await waitFor(() => done().count === 25 || undefined, {
      timeoutMs: 5_000,
      message: 'all done',
    });
    expect(calls.sort((a, b) => a[0] - b[0])).toEqual([
      [0, 9],
      [10, 19],
      [20, 24],
    ]);
    expect(results().every((frame) => frame.lease === 1 && frame.failed.length === 0)).toBe(true);
  });

  it('without rangeSize, calls one height at a time', async () => {
    const { loop, calls, done } = loopWith(() => undefined);
    loop.dispatch(dispatch(1, [[0, 2]]));
    await waitFor(() => done().count === 3 || undefined, { timeoutMs: 5_000, message: 'all done' });
    expect(calls.length).toBe(3);
  });

  it('splits a failing call down to the poison height, which alone is a failed attempt', async () => {
    const { loop, calls, done, failed, results } = loopWith(({ from, to }) => {
      if (from <= 37 && 37 <= to) throw new Error(`bad block in ${from}..${to}`);
    });
    loop.dispatch({ ...dispatch(3, [[0, 99]], 100), attempts: [2] });
    await waitFor(() => failed().length === 1 || undefined, {
      timeoutMs: 5_000,
      message: 'the poison reported',
    });
    await waitFor(() => done().count === 99 || undefined, {
      timeoutMs: 5_000,
      message: 'the others done',
    });
    expect(failed()).toEqual([{ height: 37, error: 'bad block in 37..37' }]);
    expect(done().has(37)).toBe(false);
    // Every height but the poison one in exactly one successful call.
    const succeeded = calls.filter(([a, b]) => !(a <= 37 && 37 <= b));
    expect(succeeded.reduce((sum, [a, b]) => sum + b - a + 1, 0)).toBe(99);
    expect(results().some((frame) => frame.rangeSize !== undefined)).toBe(false);
  });

  it('a RangeTooLargeError splits with nothing failed and reports the size fallen back to', async () => {
    const { loop, calls, done, failed, results } = loopWith(({ from, to }) => {
      if (to - from + 1 > 300) throw new TooLarge();
    }, 1);
    loop.dispatch(dispatch(1, [[0, 1_999]], 1_000));
    await waitFor(() => done().count === 2_000 || undefined, {
      timeoutMs: 5_000,
      message: 'all done',
    });
    expect(failed()).toEqual([]);
    // 1,000 refused, then 500 refused, then the rest of the lease at 250, never above it again.
    expect(calls.filter(([a, b]) => b - a + 1 > 300)).toEqual([
      [0, 999],
      [0, 499],
    ]);
    expect(Math.min(...results().map((frame) => frame.rangeSize ?? Infinity))).toBe(250);
  });

  it('maxRange is the size fallen back to', async () => {
    const { loop, calls, done, results } = loopWith(({ from, to }) => {
      if (to - from + 1 > 100) throw new TooLarge(100);
    }, 1);
    loop.dispatch(dispatch(1, [[0, 999]], 1_000));
    await waitFor(() => done().count === 1_000 || undefined, {
      timeoutMs: 5_000,
      message: 'all done',
    });
    expect(calls.length).toBe(11);
    expect(results().find((frame) => frame.rangeSize !== undefined)?.rangeSize).toBe(100);
  });

  it('sends the hashes a call returned beside its done heights', async () => {
    const { loop, results } = loopWith(({ from, to }) => {
      const reports = [];
      for (let height = from; height <= to; height++)
        reports.push({ height, hash: `0x${height}`, parentHash: `0x${height - 1}` });
      return reports;
    });
    loop.dispatch(dispatch(4, [[10, 12]], 3));
    await waitFor(() => results()[0], { timeoutMs: 5_000, message: 'a results frame' });
    expect(results()[0]).toMatchObject({
      lease: 4,
      doneDeltas: [10, 2],
      failed: [],
      hashes: [
        { height: 10, hash: '0x10', parentHash: '0x9' },
        { height: 11, hash: '0x11', parentHash: '0x10' },
        { height: 12, hash: '0x12', parentHash: '0x11' },
      ],
    });
  });

  it('a handler that throws synchronously is split like one that rejects', async () => {
    const calls: [number, number][] = [];
    const frames: WorkerFrame[] = [];
    const loop = new RangeLoop(
      (range) => {
        calls.push([range.from, range.to]);
        if (range.from <= 2 && 2 <= range.to) throw new Error('sync');
      },
      1,
      log,
    );
    loop.connected((frame) => frames.push(frame));
    loop.dispatch(dispatch(1, [[0, 3]], 4));
    const failed = () => frames.flatMap((f) => (f.type === 'results' ? f.failed : []));
    await waitFor(() => failed()[0], { timeoutMs: 5_000, message: 'the failure' });
    expect(failed()).toEqual([{ height: 2, error: 'sync' }]);
    expect(calls).toEqual([
      [0, 3],
      [0, 1],
      [2, 3],
      [2, 2],
      [3, 3],
    ]);
  });

  it('a rate-limited call reports every height rate-limited, unsplit', async () => {
    const { loop, calls, failed } = loopWith(() => {
      throw Object.assign(new Error('429'), { name: 'RateLimitedError', retryAfterMs: 50 });
    });
    loop.dispatch(dispatch(1, [[0, 3]], 4));
    await waitFor(() => failed().length === 4 || undefined, {
      timeoutMs: 5_000,
      message: 'reported',
    });
    expect(calls).toEqual([[0, 3]]);
    expect(failed().every((f) => f.kind === 'rate-limited' && f.retryAfterMs === 50)).toBe(true);
  });

  it('cancel drops cancelled heights; a running call is aborted and its other heights rerun', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const signals: AbortSignal[] = [];
    const calls: [number, number][] = [];
    const frames: WorkerFrame[] = [];
    const loop = new RangeLoop(
      async (range, ctx) => {
        calls.push([range.from, range.to]);
        if (calls.length === 1) {
          signals.push(ctx.signal);
          await new Promise((_, reject) =>
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
          );
        }
        await gate;
      },
      1,
      log,
    );
    loop.connected((frame) => frames.push(frame));
    loop.dispatch(dispatch(5, [[0, 19]], 10));
    loop.cancel({ type: 'cancel', lease: 5, ranges: [[5, 14]] });
    expect(signals[0]?.aborted).toBe(true);
    release();
    const done = () => {
      const set = new RangeSet();
      for (const f of frames) if (f.type === 'results') set.addSet(doneOf(f));
      return set;
    };
    await waitFor(() => done().count === 10 || undefined, {
      timeoutMs: 5_000,
      message: 'the rest done',
    });
    expect(done().toJSON()).toEqual([
      [0, 4],
      [15, 19],
    ]);
    expect(frames.flatMap((f) => (f.type === 'results' ? f.failed : []))).toEqual([]);
  });

  it('runs the calls of a tip dispatch before the queued backfill, a failing tip call split ahead of it too', async () => {
    const { loop, calls, done } = loopWith(({ from, to }) => {
      if (from <= 1_003 && 1_003 <= to && to > from) throw new Error('split me');
    }, 1);
    loop.dispatch(dispatch(1, [[0, 39]], 10));
    loop.dispatch({ ...dispatch(2, [[1_000, 1_007]], 4), lane: 'tip' });
    loop.dispatch({ ...dispatch(3, [[2_000, 2_001]], 4), lane: 'tip' });
    loop.cancel({ type: 'cancel', lease: 2, ranges: [[1_006, 1_006]] });
    await waitFor(() => done().count === 49 || undefined, {
      timeoutMs: 5_000,
      message: 'all done',
    });
    // [0, 9] was running; then tip calls in arrival order, the halves of the failing one first.
    expect(calls).toEqual([
      [0, 9],
      [1_000, 1_003],
      [1_000, 1_001],
      [1_002, 1_003],
      [1_002, 1_002],
      [1_003, 1_003],
      [1_004, 1_005],
      [1_007, 1_007],
      [2_000, 2_001],
      [10, 19],
      [20, 29],
      [30, 39],
    ]);
  });

  it('releaseBuffered hands back tip calls not started with the rest', async () => {
    const { loop, frames } = loopWith(() => new Promise(() => {}), 1);
    loop.dispatch(dispatch(1, [[0, 29]], 10));
    loop.dispatch({ ...dispatch(2, [[500, 504]], 10), lane: 'tip' });
    loop.releaseBuffered();
    expect(frames).toEqual([
      { type: 'release', lease: 2, ranges: [[500, 504]] },
      { type: 'release', lease: 1, ranges: [[10, 29]] },
    ]);
  });

  it('releaseBuffered hands back what has not started, and every later dispatch', async () => {
    const { loop, frames } = loopWith(() => new Promise(() => {}), 1);
    loop.dispatch(dispatch(1, [[0, 29]], 10));
    loop.releaseBuffered();
    loop.dispatch(dispatch(2, [[100, 104]], 10));
    expect(frames).toEqual([
      { type: 'release', lease: 1, ranges: [[10, 29]] },
      { type: 'release', lease: 2, ranges: [[100, 104]] },
    ]);
    expect(loop.runningCount).toBe(1);
  });
});

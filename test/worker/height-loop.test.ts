/**
 * The height loop's buffer (docs/protocol.md, "Lanes"): a dispatch of the tip lane starts
 * before the backfill heights already buffered, tip dispatches keep their order among
 * themselves, and cancel, release and disconnect still find every buffered height. Handlers
 * here wait until the test lets them finish, so what is buffered stays buffered; and handlers
 * that return at once start in turns of STARTS_PER_TURN, so a frame read between turns is not
 * kept waiting behind a whole dispatch.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { type DispatchFrame, doneOf, type WorkerFrame } from '../../shared/protocol.js';
import { RangeSet } from '../../shared/range-set.js';
import type { HandlerContext } from '../../worker/handler.js';
import { HeightLoop, STARTS_PER_TURN } from '../../worker/height-loop.js';
import { waitFor } from '../helpers/wait.js';

const log = createLogger({ level: 'silent', name: 'height-loop-test' });

/** A loop whose handlers record their start and run until `finish(height)`. */
function loopOf(concurrency: number, prefetch: number) {
  const started: { height: number; attempt: number; queue: string }[] = [];
  const finishers = new Map<number, () => void>();
  const sent: WorkerFrame[] = [];
  const loop = new HeightLoop(
    (height: number, ctx: HandlerContext) => {
      started.push({ height, attempt: ctx.attempt, queue: ctx.queue });
      return new Promise<void>((resolve) => finishers.set(height, resolve));
    },
    concurrency,
    log,
    prefetch,
  );
  loop.connected((frame) => sent.push(frame));
  /** Lets a running handler return, and waits for the loop to start what comes next. */
  const finish = async (height: number): Promise<void> => {
    const resolve = finishers.get(height);
    if (!resolve) throw new Error(`height ${height} is not running`);
    finishers.delete(height);
    resolve();
    await new Promise((done) => setImmediate(done));
  };
  return { loop, started: () => started.map((s) => s.height), starts: started, finish, sent };
}

function dispatch(
  lease: number,
  ranges: [number, number][],
  extra: Partial<DispatchFrame> = {},
): DispatchFrame {
  return { type: 'dispatch', lease, queue: 'q', ranges, ...extra };
}

describe('HeightLoop buffer order', () => {
  it('starts a tip dispatch before buffered backfill heights, tip dispatches in arrival order', async () => {
    const { loop, started, finish } = loopOf(1, 100);
    loop.dispatch(dispatch(1, [[0, 9]]));
    loop.dispatch(dispatch(2, [[10, 12]]));
    expect(started()).toEqual([0]);
    loop.dispatch(dispatch(3, [[1000, 1001]], { lane: 'tip' }));
    loop.dispatch(dispatch(4, [[2000, 2000]], { lane: 'tip' }));
    for (const height of [0, 1000, 1001, 2000, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) {
      await finish(height);
    }
    // The backfill batch that had started goes on where it stopped, then the next one.
    expect(started()).toEqual([0, 1000, 1001, 2000, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('puts a tip dispatch behind a tip dispatch already started, before the backfill', async () => {
    const { loop, started, finish } = loopOf(1, 100);
    loop.dispatch(dispatch(1, [[0, 4]]));
    loop.dispatch(dispatch(2, [[1000, 1002]], { lane: 'tip' }));
    await finish(0);
    expect(started()).toEqual([0, 1000]);
    loop.dispatch(dispatch(3, [[2000, 2000]], { lane: 'tip' }));
    for (const height of [1000, 1001, 1002, 2000]) await finish(height);
    expect(started()).toEqual([0, 1000, 1001, 1002, 2000, 1]);
  });

  it('keeps the attempt numbers and the order of the ranges within a tip dispatch', async () => {
    const { loop, starts, finish } = loopOf(1, 100);
    loop.dispatch(dispatch(1, [[0, 9]]));
    loop.dispatch(
      dispatch(
        2,
        [
          [7, 7],
          [1000, 1000],
          [20, 21],
        ],
        { lane: 'tip', attempts: [3, 1, 1] },
      ),
    );
    for (const height of [0, 7, 1000, 20]) await finish(height);
    expect(starts.slice(0, 5)).toEqual([
      { height: 0, attempt: 1, queue: 'q' },
      { height: 7, attempt: 3, queue: 'q' },
      { height: 1000, attempt: 1, queue: 'q' },
      { height: 20, attempt: 1, queue: 'q' },
      { height: 21, attempt: 1, queue: 'q' },
    ]);
  });

  it('cancels buffered heights of a tip dispatch and of the backfill behind it alike', async () => {
    const { loop, started, finish } = loopOf(1, 100);
    loop.dispatch(dispatch(1, [[0, 5]]));
    loop.dispatch(dispatch(2, [[1000, 1003]], { lane: 'tip' }));
    loop.cancel({ type: 'cancel', lease: 2, ranges: [[1001, 1002]] });
    loop.cancel({ type: 'cancel', lease: 1, ranges: [[2, 3]] });
    for (const height of [0, 1000, 1003, 1, 4]) await finish(height);
    expect(started()).toEqual([0, 1000, 1003, 1, 4, 5]);
  });

  it('releases every buffered height, tip and backfill, each under its lease', () => {
    const { loop, started, sent } = loopOf(1, 100);
    loop.dispatch(dispatch(1, [[0, 5]]));
    loop.dispatch(dispatch(2, [[1000, 1001]], { lane: 'tip' }));
    loop.dispatch(dispatch(3, [[6, 8]]));
    loop.releaseBuffered();
    expect(started()).toEqual([0]);
    expect(sent).toEqual([
      { type: 'release', lease: 2, ranges: [[1000, 1001]] },
      { type: 'release', lease: 1, ranges: [[1, 5]] },
      { type: 'release', lease: 3, ranges: [[6, 8]] },
    ]);
    // Dispatches that come while stopping are released whole, tip or not.
    loop.dispatch(dispatch(4, [[2000, 2000]], { lane: 'tip' }));
    expect(sent.at(-1)).toEqual({ type: 'release', lease: 4, ranges: [[2000, 2000]] });
    expect(started()).toEqual([0]);
  });

  it('reports the results of tip and backfill heights under their own leases', async () => {
    const { loop, started, finish, sent } = loopOf(2, 100);
    loop.dispatch(dispatch(1, [[0, 2]]));
    loop.dispatch(dispatch(2, [[1000, 1000]], { lane: 'tip' }));
    expect(started()).toEqual([0, 1]);
    for (const height of [0, 1000, 1, 2]) await finish(height);
    loop.flush();
    const done = new Map<number, RangeSet>();
    for (const frame of sent) {
      if (frame.type !== 'results') continue;
      expect(frame.failed).toEqual([]);
      done.set(frame.lease, (done.get(frame.lease) ?? new RangeSet()).union(doneOf(frame)));
    }
    expect(started()).toEqual([0, 1, 1000, 2]);
    expect([...done].map(([lease, heights]) => [lease, heights.toJSON()])).toEqual([
      [1, [[0, 2]]],
      [2, [[1000, 1000]]],
    ]);
  });

  it('forgets buffered tip heights on disconnect, and runs the next link in order again', async () => {
    const { loop, started, finish } = loopOf(1, 100);
    loop.dispatch(dispatch(1, [[0, 5]]));
    loop.dispatch(dispatch(2, [[1000, 1000]], { lane: 'tip' }));
    loop.disconnected();
    loop.connected(() => {});
    loop.dispatch(dispatch(1, [[10, 11]]));
    await finish(0);
    await finish(10);
    expect(started()).toEqual([0, 10, 11]);
  });
});

describe('HeightLoop turns', () => {
  it('starts at most STARTS_PER_TURN handlers per turn, so a tip dispatch read between turns goes first', async () => {
    const started: number[] = [];
    const sent: WorkerFrame[] = [];
    const loop = new HeightLoop(
      (height: number) => {
        started.push(height);
      },
      64,
      log,
      4_096,
    );
    loop.connected((frame) => sent.push(frame));
    loop.dispatch(dispatch(1, [[0, 1_999]]));
    // Handlers that return at once: the first turn stops after STARTS_PER_TURN of them.
    expect(started).toHaveLength(STARTS_PER_TURN);
    loop.dispatch(dispatch(2, [[5_000, 5_000]], { lane: 'tip' }));
    expect(started).toHaveLength(STARTS_PER_TURN);
    await waitFor(() => started.length === 2_001, {
      timeoutMs: 2_000,
      intervalMs: 1,
      message: 'every height started',
    });
    // The tip height ran in the next turn, before the rest of the backfill.
    expect(started[STARTS_PER_TURN]).toBe(5_000);
    expect(started.filter((height) => height < 5_000)).toEqual(
      Array.from({ length: 2_000 }, (_, i) => i),
    );
    loop.flush();
    const done = new RangeSet();
    for (const frame of sent) if (frame.type === 'results') done.addSet(doneOf(frame));
    expect(done.toJSON()).toEqual([
      [0, 1_999],
      [5_000, 5_000],
    ]);
  });
});

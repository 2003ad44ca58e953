/**
 * When the height loop sends its results (docs/protocol.md, "results"): in steps of half the
 * prefetch while the buffer keeps the handlers busy (past a step while it still holds
 * REFILL_LEAD_MS of their time), at once when nothing is left to start, and within
 * RESULTS_LINGER_MS otherwise. Timers are faked; each handler finishes when the test
 * says so, one per turn, as slow handlers do.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { doneOf, type ResultsFrame, type WorkerFrame } from '../../shared/protocol.js';
import { HeightLoop, REFILL_LEAD_MS, RESULTS_LINGER_MS } from '../../worker/height-loop.js';
import { memoryLogger } from './fake-manager.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
});

afterEach(() => {
  vi.useRealTimers();
});

/** A loop whose handler for each height waits until `finish(height)`. */
function slowLoop(concurrency: number, prefetch: number) {
  const finishers = new Map<number, () => void>();
  const loop = new HeightLoop(
    (height) =>
      new Promise<void>((resolve) => {
        finishers.set(height, resolve);
      }),
    concurrency,
    memoryLogger().log,
    prefetch,
  );
  const sent: WorkerFrame[] = [];
  loop.connected((frame) => sent.push(frame));
  const results = () =>
    sent
      .filter((frame): frame is ResultsFrame => frame.type === 'results')
      .map((f) => doneOf(f).toJSON());
  /** Lets `height`'s handler return, then runs that turn and the next (no timer is due). */
  const finish = async (height: number) => {
    const resolve = finishers.get(height);
    if (!resolve) throw new Error(`height ${height} is not running`);
    resolve();
    await vi.advanceTimersByTimeAsync(0);
  };
  return { loop, results, finish };
}

it('sends results in steps of half the prefetch, then at once when nothing is left to start', async () => {
  // 2 running and 8 buffered: the manager's refill is wanted per 4 settled heights.
  const { loop, results, finish } = slowLoop(2, 8);
  loop.dispatch({ type: 'dispatch', lease: 1, queue: 'q', ranges: [[0, 9]] });
  for (let height = 0; height <= 9; height++) await finish(height);
  // Sending at every height once half the buffer had started would have given
  // [0-4], [5], [6], [7], [8], [9]: a refill per height, and leases of one height after it.
  expect(results()).toEqual([[[0, 3]], [[4, 7]], [[8, 8]], [[9, 9]]]);
});

it('holds fewer than a step of results for at most RESULTS_LINGER_MS', async () => {
  const { loop, results, finish } = slowLoop(2, 8);
  loop.dispatch({ type: 'dispatch', lease: 1, queue: 'q', ranges: [[0, 9]] });
  await finish(0);
  await finish(1);
  expect(results()).toEqual([]);
  await vi.advanceTimersByTimeAsync(RESULTS_LINGER_MS - 1);
  expect(results()).toEqual([]);
  await vi.advanceTimersByTimeAsync(1);
  expect(results()).toEqual([[[0, 1]]]);
  // The step counts from the last frame: two more are held again.
  await finish(2);
  await finish(3);
  expect(results()).toEqual([[[0, 1]]]);
});

it('sends every result at once without a prefetch', async () => {
  const { loop, results, finish } = slowLoop(2, 0);
  loop.dispatch({ type: 'dispatch', lease: 1, queue: 'q', ranges: [[0, 1]] });
  await finish(1);
  await finish(0);
  expect(results()).toEqual([[[1, 1]], [[0, 0]]]);
});

it('holds a step of a slow handler while the buffer still holds REFILL_LEAD_MS of its time', async () => {
  // The clock is faked too, so each run takes exactly RUN_MS of the loop's performance.now().
  vi.useRealTimers();
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'performance'],
  });
  const RUN_MS = 30;
  // 2 slots: a buffer of b heights lasts b / 2 * 30 ms, under REFILL_LEAD_MS once b is 1.
  expect(REFILL_LEAD_MS).toBeGreaterThan(RUN_MS / 2);
  expect(REFILL_LEAD_MS).toBeLessThanOrEqual(RUN_MS);
  expect(RESULTS_LINGER_MS).toBeGreaterThan(4 * RUN_MS - RUN_MS);
  const { loop, results, finish } = slowLoop(2, 8);
  loop.dispatch({ type: 'dispatch', lease: 1, queue: 'q', ranges: [[0, 9]] });
  for (let pair = 0; pair < 5; pair++) {
    await vi.advanceTimersByTimeAsync(RUN_MS);
    await finish(2 * pair);
    await finish(2 * pair + 1);
  }
  // Fast handlers step at 4 ([0-3], [4-7], ...); this one's buffer still held 60 ms of work
  // at the fourth height, so its first frame waited until one height was left to start.
  expect(results()).toEqual([[[0, 7]], [[8, 8]], [[9, 9]]]);
});

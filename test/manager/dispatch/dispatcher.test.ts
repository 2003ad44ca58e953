/**
 * The dispatcher against fake worker links and a fake write recorder, with real QueueState and an
 * injected clock: the lease, retry and fencing rules of docs/protocol.md ("Leases, fencing and
 * delivery guarantees", "Capacity and flow control") without a socket or a database.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  Dispatcher,
  type DispatcherOptions,
  type DispatchMetrics,
  type HashReports,
  LEASE_EXPIRED,
  RETRY_SWEEP_MS,
  TIP_RESERVE_PER_SLOTS,
  type WriteRecorder,
} from '../../../manager/dispatch/dispatcher.js';
import { QueueState } from '../../../manager/queue/queue-state.js';
import { QueueWrites } from '../../../manager/store/pending-writes.js';
import { createLogger } from '../../../shared/logger.js';
import { type BlockReport, heightsIn, type ResultsFrame } from '../../../shared/protocol.js';
import { RangeSet } from '../../../shared/range-set.js';
import { FakeLink } from '../../helpers/fake-link.js';
import { memoryLogger } from '../../worker/fake-manager.js';

const LEASE_MS = 30_000;
const MAX_ATTEMPTS = 4;
// Real retry timers are armed from these delays; at 2 s and more they never fire during a test,
// which moves the injected clock and calls wake() instead.
const RETRY_BASE_MS = 4_000;
const RETRY_MAX_MS = 10_000;
const T0 = 1_700_000_000_000;

/** Keeps what the dispatcher records per queue, so tests can see what would be committed. */
class FakeWriter implements WriteRecorder {
  readonly byQueue = new Map<string, QueueWrites>();
  /** How often a prompt commit was asked for (a queue recorded its last results). */
  soonCalls = 0;

  soon(): void {
    this.soonCalls++;
  }

  forQueue(queue: string): QueueWrites {
    let writes = this.byQueue.get(queue);
    if (!writes) {
      writes = new QueueWrites();
      this.byQueue.set(queue, writes);
    }
    return writes;
  }
}

let now = T0;
let dispatcher: Dispatcher | undefined;
let writer: FakeWriter;

function queueOf(name: string, ranges: [number, number][]): QueueState {
  const queue = new QueueState(name);
  queue.enqueue(RangeSet.from(ranges), false);
  return queue;
}

/** Queue 'q' as a restart loads it: `height` failed once, its retry due at `due`. */
function queueRetrying(height: number, due: number): QueueState {
  const record = { attempts: 1, lastError: 'boom', nextAttemptAt: due, failed: false };
  return new QueueState(
    'q',
    RangeSet.from([[height, height]]),
    new RangeSet(),
    new Map([[height, record]]),
  );
}

function start(queues: QueueState[], options: Partial<DispatcherOptions> = {}): Dispatcher {
  now = T0;
  writer = new FakeWriter();
  dispatcher = new Dispatcher({
    queues: new Map(queues.map((queue) => [queue.name, queue])),
    writer,
    log: createLogger({ level: 'silent', name: 'dispatcher-test' }),
    leaseMs: LEASE_MS,
    maxAttempts: MAX_ATTEMPTS,
    retryBaseMs: RETRY_BASE_MS,
    retryMaxMs: RETRY_MAX_MS,
    now: () => now,
    ...options,
  });
  return dispatcher;
}

function results(
  lease: number,
  done: [number, number][],
  failed: { height: number; error: string }[] = [],
): ResultsFrame {
  return { type: 'results', lease, done, failed };
}

/** Refills run in setImmediate, after every frame of the current read. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The equal-jitter bounds of shared/backoff.ts for the delay after `attempt` failures. */
function backoffBounds(attempt: number): [number, number] {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
  return [ceiling / 2, ceiling];
}

function expectBackoff(nextAttemptAt: number, failedAt: number, attempt: number): void {
  const [low, high] = backoffBounds(attempt);
  const delay = nextAttemptAt - failedAt;
  expect(delay).toBeGreaterThanOrEqual(low);
  expect(delay).toBeLessThanOrEqual(high);
}

/** Everything a results frame could change, to show that an ignored one changed nothing. */
function snapshot(queue: QueueState, links: FakeLink[]) {
  const writes = writer.byQueue.get(queue.name);
  return {
    pending: queue.pending.toJSON(),
    leased: queue.leased.toJSON(),
    committing: queue.committing.toJSON(),
    history: [...queue.history].map(([height, record]) => [height, { ...record }]),
    writesDone: writes?.done.toJSON() ?? [],
    writesHistory: writes ? [...writes.history] : [],
    links: links.map(({ held, done, failed, frames }) => ({
      held,
      done,
      failed,
      frames: frames.length,
    })),
    leases: dispatcher?.leaseCount,
  };
}

afterEach(() => {
  dispatcher?.close();
  dispatcher = undefined;
});

describe('Dispatcher', () => {
  it('fills a new link up to its capacity with the lowest pending heights, as ranges, under one lease', () => {
    const queue = queueOf('q', [
      [3, 4],
      [7, 7],
      [10, 20],
    ]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 5);
    d.connect(a);
    expect(a.frames).toEqual([
      {
        type: 'dispatch',
        lease: 1,
        queue: 'q',
        ranges: [
          [3, 4],
          [7, 7],
          [10, 11],
        ],
      },
    ]);
    expect(a.held).toBe(5);
    expect(queue.leased.toJSON()).toEqual([
      [3, 4],
      [7, 7],
      [10, 11],
    ]);
    expect(queue.pending.toJSON()).toEqual([[12, 20]]);

    const b = new FakeLink('b', ['q'], 3);
    d.connect(b);
    expect(b.frames).toEqual([{ type: 'dispatch', lease: 2, queue: 'q', ranges: [[12, 14]] }]);
    const c = new FakeLink('c', ['q'], 100);
    d.connect(c);
    expect(c.frames).toEqual([{ type: 'dispatch', lease: 3, queue: 'q', ranges: [[15, 20]] }]);
    expect(c.held).toBe(6);
    const idle = new FakeLink('idle', ['q'], 10);
    d.connect(idle);
    expect(idle.frames).toEqual([]);
    expect(d.leaseCount).toBe(3);
    expect(d.workers()).toEqual([a, b, c, idle]);
  });

  it('makes reported heights committing and records them as done writes', async () => {
    const queue = queueOf('q', [[0, 9]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 4);
    d.connect(a);
    const lease = a.lastDispatch().lease;
    d.onResults(
      a,
      results(lease, [
        [0, 1],
        [3, 3],
      ]),
    );
    expect(queue.committing.toJSON()).toEqual([
      [0, 1],
      [3, 3],
    ]);
    expect(queue.leased.toJSON()).toEqual([[2, 2]]);
    expect(queue.stateOf(0)?.state).toBe('leased');
    expect(queue.done.isEmpty).toBe(true);
    const writes = writer.forQueue('q');
    expect(writes.done.toJSON()).toEqual([
      [0, 1],
      [3, 3],
    ]);
    expect(writes.history.size).toBe(0);
    expect(a).toMatchObject({ held: 1, done: 3, failed: 0 });
    expect(d.leaseCount).toBe(1);

    d.onResults(a, results(lease, [[2, 2]]));
    expect(writes.done.toJSON()).toEqual([[0, 3]]);
    expect(d.leaseCount).toBe(0);
    expect(d.ignoredResults).toBe(0);
    await nextTurn();
    expect(a.lastDispatch()).toEqual({ type: 'dispatch', lease: 2, queue: 'q', ranges: [[4, 7]] });
  });

  it('asks for a prompt commit once, when a queue records the results of its last heights', async () => {
    const queue = queueOf('q', [[0, 3]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 2);
    d.connect(a);
    d.onResults(a, results(a.lastDispatch().lease, [[0, 1]]));
    expect(writer.soonCalls).toBe(0);
    await nextTurn();
    const last = a.lastDispatch();
    expect(last.ranges).toEqual([[2, 3]]);
    d.onResults(a, results(last.lease, [[2, 2]]));
    expect(writer.soonCalls).toBe(0);
    d.onResults(a, results(last.lease, [[3, 3]]));
    expect(writer.soonCalls).toBe(1);
    // Results the dispatcher ignores ask for nothing.
    d.onResults(a, results(last.lease, [[3, 3]]));
    expect(writer.soonCalls).toBe(1);
  });

  it('asks for a prompt commit when an expiry dead-letters the last heights of a queue', () => {
    const queue = queueOf('q', [[0, 1]]);
    const d = start([queue], { maxAttempts: 1 });
    const a = new FakeLink('a', ['q'], 2);
    d.connect(a);
    now = T0 + LEASE_MS;
    d.expireDue();
    expect(queue.summary()).toMatchObject({ failed: 2, retrying: 0, leased: 0, pending: 0 });
    expect(writer.soonCalls).toBe(1);
  });

  it('ignores results for a lease the link does not hold: unknown, foreign, or already settled', async () => {
    const queue = queueOf('q', [[0, 9]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 2);
    const b = new FakeLink('b', ['q'], 2);
    d.connect(a);
    d.connect(b);
    const leaseA = a.lastDispatch().lease;
    const leaseB = b.lastDispatch().lease;
    expect(a.lastDispatch().ranges).toEqual([[0, 1]]);
    expect(b.lastDispatch().ranges).toEqual([[2, 3]]);

    let before = snapshot(queue, [a, b]);
    // Another link's lease: b reports a's heights under a's lease id.
    d.onResults(b, results(leaseA, [[0, 0]], [{ height: 1, error: 'forged' }]));
    expect(d.ignoredResults).toBe(2);
    // An id that was never granted.
    d.onResults(a, results(999, [[5, 5]]));
    expect(d.ignoredResults).toBe(3);
    await nextTurn();
    expect(snapshot(queue, [a, b])).toEqual(before);

    d.onResults(a, results(leaseA, [[0, 1]]));
    expect(d.ignoredResults).toBe(3);
    expect(queue.committing.toJSON()).toEqual([[0, 1]]);
    await nextTurn();
    // The refill leased 4..5 to a under a new lease.
    expect(a.lastDispatch().ranges).toEqual([[4, 5]]);

    before = snapshot(queue, [a, b]);
    // A repeat of the lease's results once it settled: never counted twice.
    d.onResults(a, results(leaseA, [[0, 0]], [{ height: 1, error: 'late' }]));
    expect(d.ignoredResults).toBe(5);
    await nextTurn();
    expect(snapshot(queue, [a, b])).toEqual(before);

    // b's own lease holds 2..3 only: its claim on 4..5 (a's lease now) is ignored.
    d.onResults(b, results(leaseB, [[2, 5]]));
    expect(d.ignoredResults).toBe(7);
    expect(queue.committing.toJSON()).toEqual([[0, 3]]);
    expect(queue.leased.toJSON()).toEqual([[4, 5]]);
    expect(writer.forQueue('q').done.toJSON()).toEqual([[0, 3]]);
    expect(a.held).toBe(2);
  });

  it('retries a failed height after its backoff, with its attempt number, then dead-letters it', async () => {
    const queue = queueOf('q', [[0, 1]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 2);
    d.connect(a);
    let lease = a.lastDispatch().lease;
    d.onResults(a, results(lease, [[1, 1]], []));

    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      const failedAt = now;
      d.onResults(a, results(lease, [], [{ height: 0, error: `boom ${attempt}` }]));
      const record = writer.forQueue('q').history.get(0);
      expect(record).toMatchObject({
        attempts: attempt,
        lastError: `boom ${attempt}`,
        failed: false,
      });
      const due = record?.nextAttemptAt ?? Number.NaN;
      expectBackoff(due, failedAt, attempt);
      expect(queue.stateOf(0)).toEqual({
        state: 'retrying',
        attempts: attempt,
        lastError: `boom ${attempt}`,
      });
      expect(a).toMatchObject({ held: 0, failed: attempt });
      // A height waiting for its retry is still to run: no prompt commit yet.
      expect(writer.soonCalls).toBe(0);

      const sent = a.frames.length;
      await nextTurn();
      now = due - 1;
      d.wake();
      expect(a.frames).toHaveLength(sent);
      now = due;
      d.wake();
      expect(a.frames).toHaveLength(sent + 1);
      const retry = a.lastDispatch();
      expect(retry).toMatchObject({ queue: 'q', ranges: [[0, 0]], attempts: [attempt + 1] });
      expect(retry.lease).toBeGreaterThan(lease);
      lease = retry.lease;
      now += 1_234;
    }

    d.onResults(a, results(lease, [], [{ height: 0, error: 'boom last' }]));
    expect(writer.forQueue('q').history.get(0)).toEqual({
      attempts: MAX_ATTEMPTS,
      lastError: 'boom last',
      nextAttemptAt: now,
      failed: true,
    });
    expect(queue.stateOf(0)).toEqual({
      state: 'failed',
      attempts: MAX_ATTEMPTS,
      lastError: 'boom last',
    });
    expect(queue.summary()).toMatchObject({ failed: 1, retrying: 0, leased: 1 });
    // The dead letter was the queue's last height: its results are committed promptly.
    expect(writer.soonCalls).toBe(1);

    const sent = a.frames.length;
    await nextTurn();
    now += 365 * 86_400_000;
    d.wake();
    const other = new FakeLink('b', ['q'], 10);
    d.connect(other);
    expect(a.frames).toHaveLength(sent);
    expect(other.frames).toEqual([]);
  });

  /**
   * Height 5 failed once before (a restart loaded it), its retry due in 10 s, and a link of 2
   * slots connected: no retry timer is armed for it.
   */
  function connectedWithUntimedRetry() {
    const queue = queueRetrying(5, T0 + 10_000);
    const { log, lines } = memoryLogger();
    const d = start([queue], { log });
    const a = new FakeLink('a', ['q'], 2);
    d.connect(a);
    return { queue, d, a, lines };
  }

  it('dispatches a retry left waiting without a wake-up at its second sweep, and says so', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      // A link that connects is filled, and no retry timer is armed: nothing will wake the
      // dispatcher when the retry comes due, as if a path had missed it.
      const { queue, d, a, lines } = connectedWithUntimedRetry();
      expect(a.dispatches()).toEqual([]);
      now = T0 + 10_000;
      vi.advanceTimersByTime(RETRY_SWEEP_MS);
      expect(a.dispatches()).toEqual([]);
      vi.advanceTimersByTime(RETRY_SWEEP_MS);
      expect(a.lastDispatch()).toMatchObject({ ranges: [[5, 5]], attempts: [2] });
      expect(lines.filter((line) => line.level === 40)).toEqual([
        expect.objectContaining({
          msg: 'retries waited without a wake-up: dispatching them now',
          queues: [{ queue: 'q', dueMs: 0, retrying: 1 }],
        }),
      ]);
      // A retry that its timer will wake is no miss, however long it waits.
      d.onResults(a, results(a.lastDispatch().lease, [], [{ height: 5, error: 'again' }]));
      expect(queue.stateOf(5)).toMatchObject({ state: 'retrying', attempts: 2 });
      a.frames.length = 0;
      vi.advanceTimersByTime(5 * RETRY_SWEEP_MS);
      expect(a.frames).toEqual([]);
      expect(lines.filter((line) => line.level === 40)).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not sweep while paused (a shutdown): a retry left waiting is neither logged nor dispatched', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const { d, a, lines } = connectedWithUntimedRetry();
      d.pause();
      now = T0 + 10_000;
      vi.advanceTimersByTime(3 * RETRY_SWEEP_MS);
      expect(a.dispatches()).toEqual([]);
      expect(lines.filter((line) => line.level === 40)).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('arms the retry timer at the clock reading of the fill before it, so a retry due in between is not left waiting', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    try {
      // Height 5's retry is due at T0 + 5, and the clock moves on by 1 ms at every reading: a
      // wake at T0 + 4 fills before the retry is due and arms the timer once it is.
      const queue = queueRetrying(5, T0 + 5);
      const { log, lines } = memoryLogger();
      const d = start([queue], { log, now: () => now++ });
      const a = new FakeLink('a', ['q'], 2);
      d.connect(a);
      now = T0 + 4;
      d.wake();
      expect(a.dispatches()).toEqual([]);
      // The retry timer, not the sweep (RETRY_SWEEP_MS), dispatches it.
      vi.advanceTimersByTime(10);
      expect(a.lastDispatch()).toMatchObject({ ranges: [[5, 5]], attempts: [2] });
      expect(lines.filter((line) => line.level === 40)).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('puts due retries first in a dispatch and drops the history of a retry that succeeds', async () => {
    const queue = queueOf('q', [[0, 9]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 3);
    d.connect(a);
    const first = a.lastDispatch().lease;
    d.onResults(
      a,
      results(
        first,
        [
          [0, 0],
          [2, 2],
        ],
        [{ height: 1, error: 'boom' }],
      ),
    );
    await nextTurn();
    expect(a.lastDispatch().ranges).toEqual([[3, 5]]);
    const due = queue.history.get(1)?.nextAttemptAt ?? Number.NaN;

    now = due;
    d.onResults(a, results(a.lastDispatch().lease, [[3, 4]]));
    await nextTurn();
    const retry = a.lastDispatch();
    expect(retry).toMatchObject({
      ranges: [
        [1, 1],
        [6, 6],
      ],
      attempts: [2, 1],
    });

    d.onResults(
      a,
      results(retry.lease, [
        [1, 1],
        [6, 6],
      ]),
    );
    const writes = writer.forQueue('q');
    expect(writes.history.get(1)).toBeNull();
    expect(queue.history.has(1)).toBe(false);
    expect(writes.done.toJSON()).toEqual([
      [0, 4],
      [6, 6],
    ]);
  });

  it('sends a link that said deltas its dispatches as range deltas, attempts one per range', async () => {
    const queue = queueOf('q', [
      [0, 0],
      [2, 2],
      [4, 9],
    ]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 3);
    a.deltas = true;
    d.connect(a);
    const first = a.lastDispatch();
    expect(first).toEqual({
      type: 'dispatch',
      lease: first.lease,
      queue: 'q',
      deltas: [0, 0, 2, 0, 2, 0],
    });
    // doneDeltas take the heights out of the lease as pairs do.
    const failed = [{ height: 2, error: 'boom' }];
    d.onResults(a, { type: 'results', lease: first.lease, doneDeltas: [0, 0], failed });
    expect(a.held).toBe(1);
    await nextTurn();
    const second = a.lastDispatch();
    expect(second).toMatchObject({ deltas: [5, 1] });
    now = queue.history.get(2)?.nextAttemptAt ?? Number.NaN;
    d.onResults(a, { type: 'results', lease: second.lease, doneDeltas: [5, 1], failed: [] });
    d.onResults(a, { type: 'results', lease: first.lease, doneDeltas: [4, 0], failed: [] });
    await nextTurn();
    // The due retry of 2 comes first and still ascends: deltas, with its attempt number.
    expect(a.lastDispatch()).toMatchObject({ deltas: [2, 0, 5, 1], attempts: [2, 1] });
    expect(a.lastDispatch().ranges).toBeUndefined();
    expect(writer.forQueue('q').done.toJSON()).toEqual([
      [0, 0],
      [4, 6],
    ]);
  });

  it('sends pairs to a link that said deltas when a due retry comes before lower heights', () => {
    const queue = queueOf('q', [[0, 4]]);
    const d = start([queue]);
    const b = new FakeLink('b', ['q'], 2);
    const a = new FakeLink('a', ['q'], 3);
    a.deltas = true;
    d.connect(b);
    d.connect(a);
    const lease = a.lastDispatch();
    expect(lease.deltas).toEqual([2, 2]);
    const failed = [{ height: 2, error: 'boom' }];
    d.onResults(a, { type: 'results', lease: lease.lease, doneDeltas: [3, 1], failed });
    now = queue.history.get(2)?.nextAttemptAt ?? Number.NaN;
    d.disconnect(b);
    expect(a.lastDispatch()).toMatchObject({
      ranges: [
        [2, 2],
        [0, 1],
      ],
      attempts: [2, 1],
    });
    expect(a.lastDispatch().deltas).toBeUndefined();
  });

  it('gives every height of a disconnected link back with no attempt counted, to another link', () => {
    const queue = queueOf('q', [[0, 2]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 3);
    const b = new FakeLink('b', ['q'], 3);
    d.connect(a);
    d.connect(b);
    expect(b.frames).toEqual([]);
    const first = a.lastDispatch().lease;
    d.onResults(a, results(first, [], [{ height: 1, error: 'boom' }]));
    now = queue.history.get(1)?.nextAttemptAt ?? Number.NaN;
    d.wake();
    const retry = a.lastDispatch();
    expect(retry).toMatchObject({ ranges: [[1, 1]], attempts: [2] });
    expect(a.held).toBe(3);

    const framesOfA = a.frames.length;
    d.disconnect(a);
    expect(a.held).toBe(0);
    expect(a.frames).toHaveLength(framesOfA);
    // The retry keeps its attempt number: the dropped attempt is not counted.
    expect(b.frames).toEqual([
      {
        type: 'dispatch',
        lease: retry.lease + 1,
        queue: 'q',
        ranges: [
          [1, 1],
          [0, 0],
          [2, 2],
        ],
        attempts: [2, 1, 1],
      },
    ]);
    expect(queue.history.get(1)).toMatchObject({ attempts: 1, lastError: 'boom' });
    expect(queue.history.size).toBe(1);
    expect(b.held).toBe(3);
    expect(d.leaseCount).toBe(1);
    expect(d.workers()).toEqual([b]);

    // Results of the dropped link's leases count for nothing, from it or from its successor.
    d.onResults(a, results(first, [[0, 0]]));
    d.onResults(b, results(retry.lease, [[1, 1]]));
    expect(d.ignoredResults).toBe(2);
    expect(queue.committing.isEmpty).toBe(true);
    // A second disconnect of the same link changes nothing.
    d.disconnect(a);
    expect(b.frames).toHaveLength(1);
    expect(d.leaseCount).toBe(1);
  });

  it('takes back released heights with no attempt counted and offers them to other links', () => {
    const queue = queueOf('q', [[0, 3]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 4);
    const b = new FakeLink('b', ['q'], 2);
    d.connect(a);
    d.connect(b);
    const lease = a.lastDispatch().lease;
    expect(b.frames).toEqual([]);

    // 50 was never in the lease: only 2..3 go back.
    d.onRelease(a, {
      type: 'release',
      lease,
      ranges: [
        [2, 3],
        [50, 50],
      ],
    });
    expect(a.held).toBe(2);
    expect(b.frames).toEqual([
      { type: 'dispatch', lease: lease + 1, queue: 'q', ranges: [[2, 3]] },
    ]);
    // The releasing link is stopping: it is not offered its own heights again.
    expect(a.frames).toHaveLength(1);
    expect(queue.history.size).toBe(0);

    // b does not hold a's lease: its release is ignored.
    d.onRelease(b, { type: 'release', lease, ranges: [[0, 1]] });
    expect(queue.leased.toJSON()).toEqual([[0, 3]]);
    expect(a.held).toBe(2);

    d.onRelease(a, { type: 'release', lease, ranges: [[0, 1]] });
    expect(a.held).toBe(0);
    expect(queue.pending.toJSON()).toEqual([[0, 1]]);
    expect(queue.history.size).toBe(0);
    expect(d.leaseCount).toBe(1);
    expect(writer.byQueue.get('q')?.history.size ?? 0).toBe(0);
  });

  it('expires a lease: one failed attempt per unreported height, a cancel for exactly those, late results ignored', async () => {
    const queue = queueOf('q', [[0, 4]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 5);
    d.connect(a);
    const lease = a.lastDispatch().lease;
    d.onResults(a, results(lease, [[1, 1]], [{ height: 3, error: 'boom' }]));
    await nextTurn();
    expect(a.dispatches()).toHaveLength(1);

    now = T0 + LEASE_MS - 1;
    d.expireDue();
    expect(a.cancels()).toEqual([]);
    expect(d.leaseCount).toBe(1);

    now = T0 + LEASE_MS;
    d.expireDue();
    expect(a.cancels()).toEqual([
      {
        type: 'cancel',
        lease,
        ranges: [
          [0, 0],
          [2, 2],
          [4, 4],
        ],
      },
    ]);
    const writes = writer.forQueue('q');
    for (const height of [0, 2, 4]) {
      const record = writes.history.get(height);
      expect(record).toMatchObject({ attempts: 1, lastError: LEASE_EXPIRED, failed: false });
      expectBackoff(record?.nextAttemptAt ?? Number.NaN, now, 1);
    }
    expect(LEASE_EXPIRED).toBe('lease expired');
    expect(writes.history.get(3)).toMatchObject({ attempts: 1, lastError: 'boom' });
    expect(writes.done.toJSON()).toEqual([[1, 1]]);
    // The expiry freed the link, and 3's backoff has passed by now: it comes back as attempt 2,
    // after the cancel.
    expect(a.frames.at(-2)?.type).toBe('cancel');
    expect(a.frames.at(-1)).toMatchObject({ type: 'dispatch', ranges: [[3, 3]], attempts: [2] });
    expect(a).toMatchObject({ held: 1, done: 1, failed: 4 });
    expect(d.leaseCount).toBe(1);

    d.onResults(a, results(lease, [[0, 0]], [{ height: 2, error: 'late' }]));
    expect(d.ignoredResults).toBe(2);
    expect(queue.stateOf(0)).toEqual({ state: 'retrying', attempts: 1, lastError: LEASE_EXPIRED });
    expect(queue.committing.toJSON()).toEqual([[1, 1]]);
    expect(writes.done.toJSON()).toEqual([[1, 1]]);
    // Expiring again finds nothing: one cancel, one attempt.
    d.expireDue();
    expect(a.cancels()).toHaveLength(1);
  });

  it('stops dispatching once paused but still takes results', async () => {
    const queue = queueOf('q', [[0, 9]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 2);
    d.connect(a);
    d.pause();
    d.onResults(a, results(a.lastDispatch().lease, [[0, 1]]));
    expect(queue.committing.toJSON()).toEqual([[0, 1]]);
    expect(writer.forQueue('q').done.toJSON()).toEqual([[0, 1]]);
    await nextTurn();
    d.wake();
    const b = new FakeLink('b', ['q'], 2);
    d.connect(b);
    expect(a.frames).toHaveLength(1);
    expect(b.frames).toEqual([]);
    expect(queue.pending.toJSON()).toEqual([[2, 9]]);
    expect(await d.settled(1_000)).toBe(true);
  });

  it('settled resolves true once the last lease settles, and false when time runs out first', async () => {
    const queue = queueOf('q', [[0, 1]]);
    const d = start([queue]);
    expect(await d.settled(1_000)).toBe(true);
    const a = new FakeLink('a', ['q'], 1);
    const b = new FakeLink('b', ['q'], 1);
    d.connect(a);
    d.connect(b);
    expect(await d.settled(1)).toBe(false);

    let outcome: boolean | undefined;
    const settling = d.settled(10_000).then((value) => {
      outcome = value;
      return value;
    });
    d.onResults(a, results(a.lastDispatch().lease, [[0, 0]]));
    await nextTurn();
    expect(outcome).toBeUndefined();
    d.onResults(b, results(b.lastDispatch().lease, [[1, 1]]));
    expect(await settling).toBe(true);
  });

  it('fills a link that lists several queues in the order it listed them', async () => {
    const alpha = queueOf('alpha', [[0, 9]]);
    const beta = queueOf('beta', [[100, 102]]);
    const d = start([alpha, beta]);
    const a = new FakeLink('a', ['beta', 'missing', 'alpha'], 5);
    d.connect(a);
    expect(a.frames).toEqual([
      { type: 'dispatch', lease: 1, queue: 'beta', ranges: [[100, 102]] },
      { type: 'dispatch', lease: 2, queue: 'alpha', ranges: [[0, 1]] },
    ]);
    expect(a.held).toBe(5);
    const b = new FakeLink('b', ['alpha', 'beta'], 3);
    d.connect(b);
    expect(b.frames).toEqual([{ type: 'dispatch', lease: 3, queue: 'alpha', ranges: [[2, 4]] }]);

    d.onResults(a, results(1, [[100, 102]]));
    expect(writer.forQueue('beta').done.toJSON()).toEqual([[100, 102]]);
    expect(writer.forQueue('alpha').done.isEmpty).toBe(true);
    await nextTurn();
    expect(a.lastDispatch()).toEqual({
      type: 'dispatch',
      lease: 4,
      queue: 'alpha',
      ranges: [[5, 7]],
    });
  });

  it('refills the results frames of one read with one dispatch', async () => {
    const queue = queueOf('q', [[0, 99]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 4);
    d.connect(a);
    d.onResults(a, results(1, [[0, 0]]));
    d.onResults(a, results(1, [[1, 2]]));
    expect(a.frames).toHaveLength(1);
    await nextTurn();
    expect(a.dispatches()).toEqual([
      { type: 'dispatch', lease: 1, queue: 'q', ranges: [[0, 3]] },
      { type: 'dispatch', lease: 2, queue: 'q', ranges: [[4, 6]] },
    ]);

    // Frames of two leases in one read: still one dispatch for the slots they freed.
    d.onResults(a, results(1, [[3, 3]]));
    d.onResults(a, results(2, [[4, 4]]));
    await nextTurn();
    expect(a.dispatches()).toHaveLength(3);
    expect(a.lastDispatch()).toEqual({ type: 'dispatch', lease: 3, queue: 'q', ranges: [[7, 8]] });
    expect(a.held).toBe(4);
  });

  it('leases the tip-lane heights of a fill apart, marked lane tip, before the backfill', async () => {
    const queue = queueOf('q', [[0, 99]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 4);
    d.connect(a);
    expect(a.lastDispatch()).toEqual({ type: 'dispatch', lease: 1, queue: 'q', ranges: [[0, 3]] });
    // Every slot is taken: the tip heights wait for one to free, then go first, under a lease
    // of their own, and the backfill heights that fill the other free slots under another.
    queue.enqueue(RangeSet.from([[500, 500]]), false, 'tip');
    d.wake();
    expect(a.dispatches()).toHaveLength(1);
    d.onResults(a, results(1, [[0, 2]]));
    await nextTurn();
    expect(a.dispatches().slice(1)).toEqual([
      { type: 'dispatch', lease: 2, queue: 'q', ranges: [[500, 500]], lane: 'tip' },
      { type: 'dispatch', lease: 3, queue: 'q', ranges: [[4, 5]] },
    ]);
    expect(a.held).toBe(4);
    // Only the tip-lane lease is marked, and each lease holds its own heights.
    d.onResults(a, results(2, [[500, 500]]));
    d.onResults(a, results(3, [[4, 4]]));
    await nextTurn();
    expect(a.dispatches().slice(3)).toEqual([
      { type: 'dispatch', lease: 4, queue: 'q', ranges: [[6, 7]] },
    ]);
    expect(queue.leased.toJSON()).toEqual([
      [3, 3],
      [5, 7],
    ]);
  });

  it('keeps a reserve of a large link free of backfill, for tip heights dispatched at once', async () => {
    expect(TIP_RESERVE_PER_SLOTS).toBe(256);
    const queue = queueOf('q', [[0, 9_999]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 512);
    d.connect(a);
    expect(a.lastDispatch()).toEqual({
      type: 'dispatch',
      lease: 1,
      queue: 'q',
      ranges: [[0, 509]],
    });
    expect(a.held).toBe(510);
    // No results needed: the enqueue's wake finds the reserve free.
    queue.enqueue(RangeSet.from([[20_000, 20_001]]), false, 'tip');
    d.wake();
    expect(a.lastDispatch()).toEqual({
      type: 'dispatch',
      lease: 2,
      queue: 'q',
      ranges: [[20_000, 20_001]],
      lane: 'tip',
    });
    expect(a.held).toBe(512);
    // Freed slots go to the backfill up to the reserve again, and tip heights may fill it.
    d.onResults(a, results(1, [[0, 99]]));
    await nextTurn();
    expect(a.lastDispatch()).toEqual({
      type: 'dispatch',
      lease: 3,
      queue: 'q',
      ranges: [[510, 607]],
    });
    queue.enqueue(RangeSet.from([[20_002, 20_005]]), false, 'tip');
    d.wake();
    expect(a.lastDispatch()).toEqual({
      type: 'dispatch',
      lease: 4,
      queue: 'q',
      ranges: [[20_002, 20_003]],
      lane: 'tip',
    });
    // A small link has no reserve.
    const b = new FakeLink('b', ['q'], 255);
    d.connect(b);
    expect(b.dispatches().map((frame) => heightsIn(frame.ranges ?? []))).toEqual([2, 253]);
  });

  it('puts due retries with the tip-lane lease, and a tip lease alone when it fills the slots', async () => {
    const queue = queueOf('q', [[0, 99]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 3);
    d.connect(a);
    d.onResults(a, results(1, [[1, 2]], [{ height: 0, error: 'boom' }]));
    queue.enqueue(RangeSet.from([[500, 500]]), false, 'tip');
    now += RETRY_MAX_MS;
    await nextTurn();
    expect(a.dispatches().slice(1)).toEqual([
      {
        type: 'dispatch',
        lease: 2,
        queue: 'q',
        ranges: [
          [0, 0],
          [500, 500],
        ],
        attempts: [2, 1],
        lane: 'tip',
      },
      { type: 'dispatch', lease: 3, queue: 'q', ranges: [[3, 3]] },
    ]);
    queue.enqueue(RangeSet.from([[600, 601]]), false, 'tip');
    d.onResults(
      a,
      results(2, [
        [0, 0],
        [500, 500],
      ]),
    );
    await nextTurn();
    expect(a.dispatches().slice(3)).toEqual([
      { type: 'dispatch', lease: 4, queue: 'q', ranges: [[600, 601]], lane: 'tip' },
    ]);
  });

  it('reports metrics once per results frame and once per expired lease', () => {
    const calls: unknown[][] = [];
    const metrics: DispatchMetrics = {
      results: (...args) => calls.push(['results', ...args]),
      expired: (...args) => calls.push(['expired', ...args]),
    };
    const queue = queueOf('q', [[0, 3]]);
    const d = start([queue], { metrics, maxAttempts: 1 });
    const a = new FakeLink('a', ['q'], 4);
    d.connect(a);
    now += 500;
    d.onResults(a, {
      ...results(
        1,
        [
          [0, 0],
          [2, 2],
        ],
        [{ height: 1, error: 'boom' }],
      ),
      runMs: 12,
    });
    // With one attempt allowed, each failure is a dead letter at once.
    expect(calls).toEqual([['results', 'q', 3, 500, 12, 1, 1]]);
    expect(queue.stateOf(1)?.state).toBe('failed');

    now = T0 + LEASE_MS;
    d.expireDue();
    expect(calls.at(-1)).toEqual(['expired', 'q', 1, 1]);
    expect(queue.stateOf(3)).toEqual({ state: 'failed', attempts: 1, lastError: LEASE_EXPIRED });
    expect(writer.forQueue('q').history.get(3)).toMatchObject({ failed: true });
    expect(calls).toHaveLength(2);
  });

  it('revokes the heights of a queue within a range from every lease: no attempt, a cancel for exactly those, late results ignored', async () => {
    const queue = queueOf('q', [[0, 9]]);
    const other = queueOf('other', [[0, 9]]);
    const d = start([queue, other]);
    const a = new FakeLink('a', ['q'], 6);
    const b = new FakeLink('b', ['q'], 4);
    const c = new FakeLink('c', ['other'], 10);
    d.connect(a);
    d.connect(b);
    d.connect(c);
    const leaseA = a.lastDispatch().lease;
    const leaseB = b.lastDispatch().lease;
    expect(a.lastDispatch().ranges).toEqual([[0, 5]]);
    expect(b.lastDispatch().ranges).toEqual([[6, 9]]);
    // 4 failed once and is leased again as its retry: it keeps its attempt count when revoked.
    d.onResults(a, results(leaseA, [], [{ height: 4, error: 'boom' }]));
    now = queue.history.get(4)?.nextAttemptAt ?? Number.NaN;
    await nextTurn();
    const retry = a.lastDispatch();
    expect(retry).toMatchObject({ ranges: [[4, 4]], attempts: [2] });

    expect(d.revoke('q', 3, 7)).toBe(5);
    expect(a.cancels()).toEqual([
      {
        type: 'cancel',
        lease: leaseA,
        ranges: [
          [3, 3],
          [5, 5],
        ],
      },
      { type: 'cancel', lease: retry.lease, ranges: [[4, 4]] },
    ]);
    expect(b.cancels()).toEqual([{ type: 'cancel', lease: leaseB, ranges: [[6, 7]] }]);
    expect(c.cancels()).toEqual([]);
    expect(other.leased.toJSON()).toEqual([[0, 9]]);
    expect(a.held).toBe(3);
    expect(b.held).toBe(2);
    // Back to pending (4 as a retry due now), with no attempt counted.
    expect(queue.pending.toJSON()).toEqual([
      [3, 3],
      [5, 7],
    ]);
    expect(queue.leased.toJSON()).toEqual([
      [0, 2],
      [8, 9],
    ]);
    expect(queue.history.get(4)).toMatchObject({ attempts: 1, nextAttemptAt: now });
    expect(writer.forQueue('q').history.get(3)).toBeUndefined();
    expect(d.leaseCount).toBe(3);

    // Late results for revoked heights are ignored; the heights outside still count.
    d.onResults(a, results(leaseA, [[0, 5]]));
    d.onResults(a, results(retry.lease, [[4, 4]]));
    expect(d.ignoredResults).toBe(4);
    expect(queue.committing.toJSON()).toEqual([[0, 2]]);
    d.onResults(b, results(leaseB, [[6, 9]]));
    expect(d.ignoredResults).toBe(6);
    expect(queue.committing.toJSON()).toEqual([
      [0, 2],
      [8, 9],
    ]);
    expect(writer.forQueue('q').done.toJSON()).toEqual([
      [0, 2],
      [8, 9],
    ]);
    expect(a.held).toBe(0);
    expect(b.held).toBe(0);
    expect(d.leaseCount).toBe(1);

    // Offered again, the retry keeps its attempt number and the rest are first attempts.
    await nextTurn();
    expect(a.lastDispatch()).toMatchObject({
      ranges: [
        [4, 4],
        [3, 3],
        [5, 7],
      ],
      attempts: [2, 1, 1],
    });
  });

  it('cancels every lease of a deleted queue: a cancel each, no attempt, nothing handed back, late results ignored, capacity to the other queues', async () => {
    const gone = queueOf('gone', [[0, 9]]);
    const other = queueOf('other', [[0, 99]]);
    const map = new Map([gone, other].map((queue) => [queue.name, queue]));
    const d = start([], { queues: map });
    const a = new FakeLink('a', ['gone', 'other'], 6);
    const b = new FakeLink('b', ['gone'], 10);
    d.connect(a);
    d.connect(b);
    const leaseA = a.dispatches()[0]?.lease ?? Number.NaN;
    const leaseB = b.lastDispatch().lease;
    expect(a.dispatches().map((frame) => frame.ranges)).toEqual([[[0, 5]]]);
    expect(b.lastDispatch().ranges).toEqual([[6, 9]]);
    // 2 failed once and waits for its retry: it has a history record, not a lease.
    d.onResults(a, results(leaseA, [], [{ height: 2, error: 'boom' }]));
    await nextTurn();
    const otherLease = a.lastDispatch();
    expect(otherLease).toMatchObject({ queue: 'other', ranges: [[0, 0]] });
    const before = writer.forQueue('gone').history.size;

    // The queue service takes it out of the queue map first.
    map.delete('gone');
    expect(d.cancelQueue('gone')).toBe(9);
    expect(a.cancels()).toEqual([
      {
        type: 'cancel',
        lease: leaseA,
        ranges: [
          [0, 1],
          [3, 5],
        ],
      },
    ]);
    expect(b.cancels()).toEqual([{ type: 'cancel', lease: leaseB, ranges: [[6, 9]] }]);
    // The freed capacity went to the other queue at once; b has nothing left to take.
    expect(a.lastDispatch()).toMatchObject({ queue: 'other', ranges: [[1, 5]] });
    expect(d.leaseCount).toBe(2);
    expect(a.held).toBe(6);
    expect(b.held).toBe(0);
    expect(b.dispatches()).toHaveLength(1);
    // No attempt counted and nothing handed back: the queue is gone.
    expect(writer.forQueue('gone').history.size).toBe(before);
    expect(gone.pending.toJSON()).toEqual([]);

    // Late results of the cancelled leases change nothing.
    d.onResults(a, results(leaseA, [[0, 5]]));
    d.onResults(b, results(leaseB, [[6, 9]], [{ height: 7, error: 'late' }]));
    expect(d.ignoredResults).toBe(6 + 4 + 1);
    expect(writer.forQueue('gone').done.toJSON()).toEqual([]);
    expect(gone.committing.toJSON()).toEqual([]);
    expect(a.held).toBe(6);
    expect(d.cancelQueue('gone')).toBe(0);
  });

  it('settles a lease that a revoke emptied, and revokes nothing outside the range or the queue', () => {
    const queue = queueOf('q', [[0, 9]]);
    const d = start([queue]);
    const a = new FakeLink('a', ['q'], 4);
    d.connect(a);
    const lease = a.lastDispatch().lease;
    expect(d.revoke('q', 10, 20)).toBe(0);
    expect(d.revoke('other', 0, 9)).toBe(0);
    expect(a.cancels()).toEqual([]);
    expect(d.revoke('q', 0, Number.MAX_SAFE_INTEGER)).toBe(4);
    expect(a.cancels()).toEqual([{ type: 'cancel', lease, ranges: [[0, 3]] }]);
    expect(d.leaseCount).toBe(0);
    expect(a.held).toBe(0);
    expect(queue.pending.toJSON()).toEqual([[0, 9]]);
    expect(queue.history.size).toBe(0);
  });

  it('forwards to the hash reports only the hashes of heights the lease held that succeeded', () => {
    const reports: [string, BlockReport[]][] = [];
    const hashes: HashReports = {
      reported: (queueName, given) => reports.push([queueName, [...given]]),
    };
    const queue = queueOf('q', [[0, 9]]);
    const d = start([queue], { hashes });
    const a = new FakeLink('a', ['q'], 6);
    const b = new FakeLink('b', ['q'], 4);
    d.connect(a);
    d.connect(b);
    const lease = a.lastDispatch().lease;
    const report = (height: number): BlockReport => ({
      height,
      hash: `0x${height}`,
      parentHash: `0x${height - 1}`,
    });

    d.onResults(a, {
      ...results(lease, [[0, 2]], [{ height: 3, error: 'boom' }]),
      // 3 failed, 4 is still running, 7 belongs to b's lease, 50 to no lease.
      hashes: [0, 1, 2, 3, 4, 7, 50].map(report),
    });
    expect(reports).toEqual([['q', [report(0), report(1), report(2)]]]);

    // A repeat of 0, a frame without hashes, another link's lease: nothing more is reported.
    d.onResults(a, { ...results(lease, [[0, 0]]), hashes: [report(0)] });
    d.onResults(a, results(lease, [[4, 4]]));
    d.onResults(a, { ...results(b.lastDispatch().lease, [[6, 7]]), hashes: [report(7)] });
    d.onResults(a, { ...results(lease, [], []), hashes: [] });
    expect(reports).toHaveLength(1);

    d.onResults(b, { ...results(b.lastDispatch().lease, [[6, 7]]), hashes: [report(7)] });
    expect(reports).toEqual([
      ['q', [report(0), report(1), report(2)]],
      ['q', [report(7)]],
    ]);

    // Once the lease expired, its late hashes are ignored like its results.
    now = T0 + LEASE_MS;
    d.expireDue();
    d.onResults(a, { ...results(lease, [[5, 5]]), hashes: [report(5)] });
    expect(reports).toHaveLength(2);
  });
});

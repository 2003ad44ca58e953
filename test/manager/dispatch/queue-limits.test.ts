/**
 * The dispatcher under a queue's settings (docs/api.md, "Queue settings"), with fake links and an
 * injected clock: maxInFlight bounds heights leased across links, ratePerSecond bounds calls
 * across links (each throttled queue its own), priority orders a worker's queues, and a
 * rate-limited result is no attempt.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Dispatcher, type WriteRecorder } from '../../../manager/dispatch/dispatcher.js';
import { SettingsTable } from '../../../manager/queue/queue-settings.js';
import { QueueState } from '../../../manager/queue/queue-state.js';
import { QueueWrites } from '../../../manager/store/pending-writes.js';
import { DEFAULT_SETTINGS, type QueueSettings } from '../../../shared/api-schemas.js';
import { createLogger } from '../../../shared/logger.js';
import { RangeSet } from '../../../shared/range-set.js';
import { FakeLink } from '../../helpers/fake-link.js';

const T0 = 1_700_000_000_000;
let now = T0;
let dispatcher: Dispatcher | undefined;

const writer: WriteRecorder = { forQueue: () => new QueueWrites() };

function queueOf(name: string, from: number, to: number): QueueState {
  const queue = new QueueState(name);
  queue.enqueue(RangeSet.from([[from, to]]), false);
  return queue;
}

function start(queues: QueueState[], settings: Record<string, Partial<QueueSettings>>) {
  now = T0;
  const table = new SettingsTable(
    new Map(Object.entries(settings).map(([name, s]) => [name, { ...DEFAULT_SETTINGS, ...s }])),
    { now: () => now },
  );
  dispatcher = new Dispatcher({
    queues: new Map(queues.map((queue) => [queue.name, queue])),
    writer,
    settings: table,
    log: createLogger({ level: 'silent', name: 'limits-test' }),
    leaseMs: 30_000,
    maxAttempts: 3,
    retryBaseMs: 4_000,
    retryMaxMs: 10_000,
    now: () => now,
  });
  return dispatcher;
}

const leasedBy = (link: FakeLink) =>
  link.dispatches().reduce((sum, frame) => {
    for (const [from, to] of frame.ranges ?? []) sum += to - from + 1;
    return sum;
  }, 0);

afterEach(() => {
  dispatcher?.close();
  dispatcher = undefined;
});

describe('queue settings in the dispatcher', () => {
  it('maxInFlight bounds the heights leased across every link, and refills as results return', () => {
    const queue = queueOf('q', 0, 999);
    const d = start([queue], { q: { maxInFlight: 25 } });
    const links = ['a', 'b', 'c'].map((id) => new FakeLink(id, ['q'], 16));
    for (const link of links) d.connect(link);
    expect(queue.leased.count).toBe(25);
    expect(links.reduce((sum, link) => sum + leasedBy(link), 0)).toBe(25);
    const first = links[0] as FakeLink;
    const lease = first.lastDispatch();
    d.onResults(first, { type: 'results', lease: lease.lease, done: lease.ranges, failed: [] });
    d.wake();
    expect(queue.leased.count).toBe(25);
  });

  it('ratePerSecond bounds the heights handed out per second across links', () => {
    const queue = queueOf('q', 0, 99_999);
    const d = start([queue], { q: { ratePerSecond: 100 } });
    const links = ['a', 'b'].map((id) => new FakeLink(id, ['q'], 1_000));
    for (const link of links) d.connect(link);
    // Ten simulated seconds, waking every 5 ms as the throttle timer would.
    for (let step = 0; step < 2_000; step++) {
      now += 5;
      d.wake();
    }
    const handedOut = links.reduce((sum, link) => sum + leasedBy(link), 0);
    // Any second starts at most 92% of the rate (the margin for workers' own jitter).
    expect(handedOut).toBeGreaterThanOrEqual(910);
    // Ten seconds at 100 per second, plus the bucket's start (10% of a second's calls).
    expect(handedOut).toBeLessThanOrEqual(1_000 + 10);
    // Both links got a share: wake() starts at a different link each time.
    for (const link of links) expect(leasedBy(link)).toBeGreaterThan(300);
  });

  it('several throttled queues on the same links each get their own rate, due at the same times', () => {
    const fast = queueOf('fast', 0, 99_999);
    const slow = queueOf('slow', 0, 99_999);
    const d = start([fast, slow], { fast: { ratePerSecond: 100 }, slow: { ratePerSecond: 40 } });
    const links = ['a', 'b'].map((id) => new FakeLink(id, ['fast', 'slow'], 1_000));
    for (const link of links) d.connect(link);
    for (let step = 0; step < 2_000; step++) {
      now += 5;
      d.wake();
    }
    const handedOut = (queue: string) =>
      links
        .flatMap((link) => link.dispatches())
        .filter((frame) => frame.queue === queue)
        .reduce(
          (sum, frame) => sum + (frame.ranges ?? []).reduce((n, [a, b]) => n + b - a + 1, 0),
          0,
        );
    // Ten simulated seconds: each within its own budget and near it, neither starved.
    expect(handedOut('fast')).toBeGreaterThanOrEqual(910);
    expect(handedOut('fast')).toBeLessThanOrEqual(1_010);
    expect(handedOut('slow')).toBeGreaterThanOrEqual(364);
    expect(handedOut('slow')).toBeLessThanOrEqual(404);
  });

  it('a worker serving several queues fills the higher priority first, then its own order', () => {
    const low = queueOf('low', 0, 99);
    const high = queueOf('high', 0, 99);
    const d = start([low, high], { high: { priority: 5 } });
    const link = new FakeLink('a', ['low', 'high'], 10);
    d.connect(link);
    expect(link.dispatches().map((frame) => frame.queue)).toEqual(['high']);
  });

  it('a rate-limited result hands the height back with no attempt and pauses the queue', () => {
    const queue = queueOf('q', 0, 9);
    const d = start([queue], {});
    const link = new FakeLink('a', ['q'], 2);
    d.connect(link);
    const lease = link.lastDispatch();
    d.onResults(link, {
      type: 'results',
      lease: lease.lease,
      done: [[1, 1]],
      failed: [
        { height: 0, error: '429 Too Many Requests', kind: 'rate-limited', retryAfterMs: 1_000 },
      ],
    });
    expect(queue.history.has(0)).toBe(false);
    expect(queue.stateOf(0)?.state).toBe('pending');
    expect(link.failed).toBe(0);
    // Paused: the free slots stay free until the pause is over.
    const dispatches = link.dispatches().length;
    d.wake();
    expect(link.dispatches().length).toBe(dispatches);
    now += 1_000;
    d.wake();
    expect(link.dispatches().length).toBeGreaterThan(dispatches);
    expect(link.lastDispatch().attempts).toBeUndefined();
    expect(d.settings.throttle('q')?.effectiveRate).not.toBeNull();
  });
});

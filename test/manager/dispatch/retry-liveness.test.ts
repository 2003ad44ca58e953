/**
 * The dispatcher's liveness under failures: a queue whose handler fails half its attempts,
 * workers that drop their link now and then, and managers that crash and start again from what
 * was committed, always drains, with no retry left waiting while a worker is free. Real
 * QueueState, real retry timers (backoffs of a few milliseconds), fake links that answer each
 * dispatch a moment later. Each case draws its failures, drops and crashes from its own seeded
 * generator; the real timers decide the order of the draws, so a case is varied, not replayed.
 * A dispatcher that leaves a due retry without its timer fails here as the fault test of five
 * manager kills once did: nothing pending or leased, retries waiting, every link idle; since the
 * dispatcher's sweep wakes such a retry within two seconds, a case fails on the sweep's warning.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { Dispatcher } from '../../../manager/dispatch/dispatcher.js';
import { type AttemptRecord, QueueState } from '../../../manager/queue/queue-state.js';
import { QueueWrites } from '../../../manager/store/pending-writes.js';
import type { DispatchFrame, ManagerFrame } from '../../../shared/protocol.js';
import { pairsOfDeltas } from '../../../shared/range-codec.js';
import { RangeSet } from '../../../shared/range-set.js';
import { FakeLink } from '../../helpers/fake-link.js';

const HEIGHTS = 5_000;
const DEADLINE_MS = 15_000;
/** No commit for this long while heights remain: the queue is stuck. */
const STALL_MS = 5_000;

/** mulberry32: a small seeded generator. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** What a manager committed: the sets and attempt records a restarted one loads. */
class Store {
  readonly enqueued = RangeSet.from([[0, HEIGHTS - 1]]);
  readonly done = new RangeSet();
  readonly history = new Map<number, AttemptRecord>();

  apply(writes: QueueWrites): void {
    for (const [height, record] of writes.history) {
      if (record) this.history.set(height, { ...record });
      else this.history.delete(height);
    }
    this.done.addSet(writes.done);
  }

  load(): QueueState {
    const history = new Map<number, AttemptRecord>();
    for (const [height, record] of this.history) history.set(height, { ...record });
    return new QueueState('q', this.enqueued.clone(), this.done.clone(), history);
  }
}

/** A worker link that answers each dispatch after a short delay: about half the heights fail. */
class AnsweringLink extends FakeLink {
  onDispatch: (frame: DispatchFrame) => void = () => {};

  override send(frame: ManagerFrame): void {
    super.send(frame);
    if (frame.type === 'dispatch') this.onDispatch(frame);
  }
}

/** One manager's life: its queue state, dispatcher, the writes not yet committed, its links. */
interface Manager {
  queue: QueueState;
  dispatcher: Dispatcher;
  writes: QueueWrites;
  links: Set<AnsweringLink>;
  timers: Set<NodeJS.Timeout>;
  stopped: boolean;
}

const managers: Manager[] = [];
/** What the dispatchers of a case logged at warn and above. */
const warnings: string[] = [];

afterEach(() => {
  for (const manager of managers.splice(0)) stop(manager);
  warnings.length = 0;
});

function stop(manager: Manager): void {
  manager.stopped = true;
  manager.dispatcher.close();
  for (const timer of manager.timers) clearTimeout(timer);
}

function startManager(store: Store, random: () => number): Manager {
  const queue = store.load();
  const dispatcher = new Dispatcher({
    queues: new Map([['q', queue]]),
    // A commit replaces the manager's writes (commit() below): the writer reads them as it goes.
    writer: { forQueue: () => manager.writes },
    // Warnings are kept: a retry the dispatcher's sweep had to wake is a miss (see the cases).
    log: pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) }),
    leaseMs: 30_000,
    maxAttempts: 1_000_000,
    retryBaseMs: 2,
    retryMaxMs: 20,
  });
  const manager: Manager = {
    queue,
    dispatcher,
    writes: new QueueWrites(),
    links: new Set(),
    timers: new Set(),
    stopped: false,
  };
  managers.push(manager);
  manager.dispatcher.wake();
  let id = 0;
  const later = (ms: number, run: () => void): void => {
    const timer = setTimeout(() => {
      manager.timers.delete(timer);
      if (!manager.stopped) run();
    }, ms);
    manager.timers.add(timer);
  };
  const connect = (): void => {
    const capacity = [1, 8, 64, 300][Math.floor(random() * 4)] as number;
    const link = new AnsweringLink(String(id++), ['q'], capacity);
    link.deltas = random() < 0.5;
    link.onDispatch = (frame) =>
      later(random() < 0.5 ? 0 : random() * 3, () => {
        if (!manager.links.has(link)) return;
        if (random() < 0.005) {
          // The link drops: its heights go back at once, and the worker connects again.
          manager.links.delete(link);
          manager.dispatcher.disconnect(link);
          later(random() * 20, connect);
          return;
        }
        const done: number[] = [];
        const failed: { height: number; error: string }[] = [];
        for (const [from, to] of frame.ranges ?? pairsOfDeltas(frame.deltas ?? [])) {
          for (let height = from; height <= to; height++) {
            if (random() < 0.5) done.push(height);
            else failed.push({ height, error: 'flaky' });
          }
        }
        const reported = RangeSet.ofHeights(done).toJSON();
        manager.dispatcher.onResults(link, {
          type: 'results',
          lease: frame.lease,
          done: reported,
          failed,
        });
      });
    manager.links.add(link);
    manager.dispatcher.connect(link);
  };
  for (let i = 0; i < 3; i++) later(random() * 30, connect);
  return manager;
}

/** The manager's commit: what it recorded reaches the store, and its successes are done. */
function commit(manager: Manager, store: Store): void {
  store.apply(manager.writes);
  manager.writes = new QueueWrites();
  const committing = manager.queue.committing;
  if (!committing.isEmpty) manager.queue.committed(committing);
}

for (const seed of [1, 2, 3, 4, 5]) {
  it(`drains a flaky queue through dropped links and manager crashes (seed ${seed})`, async () => {
    const random = generator(seed);
    const store = new Store();
    let manager = startManager(store, random);
    let crashes = 0;
    const started = Date.now();
    let lastProgress = Date.now();
    let lastDone = 0;
    while (store.done.count < HEIGHTS) {
      if (random() < 0.3) commit(manager, store);
      if (crashes < 5 && random() < 0.01) {
        // A crash: what was not committed is lost, and a new manager loads the store.
        stop(manager);
        crashes++;
        manager = startManager(store, random);
      }
      if (store.done.count !== lastDone) {
        lastDone = store.done.count;
        lastProgress = Date.now();
      }
      const stalled = Date.now() - lastProgress > STALL_MS;
      if (stalled || Date.now() - started > DEADLINE_MS) {
        const links = [...manager.links].map((link) => `${link.held}/${link.capacity}`);
        throw new Error(
          `${stalled ? 'stalled' : 'too slow'} after ${crashes} crashes: ${store.done.count} of ${HEIGHTS} committed; ${JSON.stringify(manager.queue.summary())}; links held/capacity ${links.join(', ')}; next retry due ${manager.queue.nextRetryDue()}, now ${Date.now()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(store.done.toJSON()).toEqual([[0, HEIGHTS - 1]]);
    expect(manager.queue.summary()).toMatchObject({ pending: 0, retrying: 0, failed: 0 });
    // The sweep (RETRY_SWEEP_MS) would hide a missed wake-up within two seconds, under STALL_MS:
    // every retry here must have gone out by its timer or a freed slot.
    expect(warnings.filter((line) => line.includes('without a wake-up'))).toEqual([]);
  }, 20_000);
}

it('says so when the wall clock went back while a retry waited for its timer', async () => {
  let clock = 1_700_000_000_000;
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const queue = new QueueState('q');
  queue.enqueue(RangeSet.from([[0, 0]]), false);
  const dispatcher = new Dispatcher({
    queues: new Map([['q', queue]]),
    writer: { forQueue: () => new QueueWrites() },
    log: pino({ level: 'warn' }, sink),
    leaseMs: 30_000,
    maxAttempts: 5,
    retryBaseMs: 10,
    retryMaxMs: 10,
    now: () => clock,
  });
  try {
    const link = new FakeLink('a', ['q'], 1);
    dispatcher.connect(link);
    dispatcher.onResults(link, {
      type: 'results',
      lease: link.lastDispatch().lease,
      done: [],
      failed: [{ height: 0, error: 'boom' }],
    });
    // The retry is due 5-10 ms on; the wall clock is set back a minute before its timer fires.
    clock -= 60_000;
    const deadline = Date.now() + 5_000;
    while (lines.length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 5));
    const warning = JSON.parse(lines[0] ?? '{}');
    expect(warning.msg).toBe('the system clock went back: retries are due that much later');
    expect(warning.behindMs).toBeGreaterThan(59_000);
    expect(link.dispatches()).toHaveLength(1);
  } finally {
    dispatcher.close();
  }
});

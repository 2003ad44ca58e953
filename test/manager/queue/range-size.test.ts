/**
 * A queue's effective range size (manager/queue/queue-settings.ts; docs/api.md, "Queue
 * settings"): rangeSize until a worker reports a refusal, then the size the worker fell back to,
 * growing back by 10% per 10 successful calls up to rangeSize; the dispatcher sends it in every
 * dispatch of the queue and counts calls at it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Dispatcher } from '../../../manager/dispatch/dispatcher.js';
import { RANGE_GROW_AFTER_CALLS, SettingsTable } from '../../../manager/queue/queue-settings.js';
import { QueueState } from '../../../manager/queue/queue-state.js';
import { QueueWrites } from '../../../manager/store/pending-writes.js';
import { DEFAULT_SETTINGS } from '../../../shared/api-schemas.js';
import { createLogger } from '../../../shared/logger.js';
import { RangeSet } from '../../../shared/range-set.js';
import { FakeLink } from '../../helpers/fake-link.js';

let dispatcher: Dispatcher | undefined;

afterEach(() => {
  dispatcher?.close();
  dispatcher = undefined;
});

const withRangeSize = (rangeSize: number) =>
  new SettingsTable(new Map([['q', { ...DEFAULT_SETTINGS, rangeSize }]]));

describe('effective range size', () => {
  it('starts at rangeSize, drops to a refusal and grows back slowly, never above rangeSize', () => {
    const table = withRangeSize(5_000);
    expect(table.effectiveRangeSize('q')).toBe(5_000);
    table.rangeRefused('q', 625);
    expect(table.effectiveRangeSize('q')).toBe(625);
    table.rangeRefused('q', 2_500); // a late report of a larger fallback changes nothing
    expect(table.effectiveRangeSize('q')).toBe(625);
    table.rangeCallsSucceeded('q', RANGE_GROW_AFTER_CALLS - 1);
    expect(table.effectiveRangeSize('q')).toBe(625);
    table.rangeCallsSucceeded('q', 1);
    expect(table.effectiveRangeSize('q')).toBe(687);
    table.rangeCallsSucceeded('q', 1_000 * RANGE_GROW_AFTER_CALLS);
    expect(table.effectiveRangeSize('q')).toBe(5_000);
  });

  it('a refusal resets the count toward growth; setting rangeSize starts again from it', () => {
    const table = withRangeSize(1_000);
    table.rangeRefused('q', 500);
    table.rangeCallsSucceeded('q', RANGE_GROW_AFTER_CALLS - 1);
    table.rangeRefused('q', 500);
    table.rangeCallsSucceeded('q', 1);
    expect(table.effectiveRangeSize('q')).toBe(500);
    table.set('q', { ...DEFAULT_SETTINGS, rangeSize: 2_000 });
    expect(table.effectiveRangeSize('q')).toBe(2_000);
    table.rangeRefused('q', 1_000);
    table.delete('q');
    expect(table.effectiveRangeSize('q')).toBe(1);
  });

  it('reports each change to be persisted, null once back at rangeSize, and restores kept sizes', () => {
    const changes: [string, number | null][] = [];
    const table = new SettingsTable(new Map([['q', { ...DEFAULT_SETTINGS, rangeSize: 1_000 }]]), {
      onRangeSizeChanged: (queue, size) => changes.push([queue, size]),
    });
    table.rangeRefused('q', 500);
    table.rangeRefused('q', 800); // no change, nothing to write
    table.rangeCallsSucceeded('q', RANGE_GROW_AFTER_CALLS - 1); // no growth yet
    table.rangeCallsSucceeded('q', 1);
    table.rangeCallsSucceeded('q', 1_000 * RANGE_GROW_AFTER_CALLS);
    expect(changes).toEqual([
      ['q', 500],
      ['q', 550],
      ['q', null],
    ]);

    const restored = new SettingsTable(
      new Map([
        ['q', { ...DEFAULT_SETTINGS, rangeSize: 1_000 }],
        ['r', { ...DEFAULT_SETTINGS, rangeSize: 100 }],
      ]),
      // A kept size at or above rangeSize (rangeSize lowered since) is not a lowered size.
      {
        rangeSizes: new Map([
          ['q', 600],
          ['r', 100],
        ]),
      },
    );
    expect(restored.effectiveRangeSize('q')).toBe(600);
    expect(restored.effectiveRangeSize('r')).toBe(100);
  });

  it('the dispatcher sends it in dispatches, lowers it on a results rangeSize', () => {
    const queue = new QueueState('q');
    queue.enqueue(RangeSet.from([[0, 99_999]]), false);
    const settings = withRangeSize(5_000);
    dispatcher = new Dispatcher({
      queues: new Map([['q', queue]]),
      writer: { forQueue: () => new QueueWrites() },
      settings,
      log: createLogger({ level: 'silent', name: 'range-size-test' }),
      leaseMs: 30_000,
      maxAttempts: 3,
      retryBaseMs: 10,
      retryMaxMs: 100,
    });
    const link = new FakeLink('a', ['q'], 200);
    dispatcher.connect(link);
    const first = link.dispatches()[0];
    expect(first).toMatchObject({ lease: 1, ranges: [[0, 199]], rangeSize: 5_000 });
    dispatcher.onResults(link, {
      type: 'results',
      lease: 1,
      done: [[0, 199]],
      failed: [],
      rangeSize: 1_000,
    });
    expect(settings.effectiveRangeSize('q')).toBe(1_000);
    const other = new FakeLink('b', ['q'], 10);
    dispatcher.connect(other);
    expect(other.dispatches()[0]?.rangeSize).toBe(1_000);
  });

  it('a queue of single heights sends no rangeSize', () => {
    const queue = new QueueState('q');
    queue.enqueue(RangeSet.from([[0, 9]]), false);
    dispatcher = new Dispatcher({
      queues: new Map([['q', queue]]),
      writer: { forQueue: () => new QueueWrites() },
      log: createLogger({ level: 'silent', name: 'range-size-test' }),
      leaseMs: 30_000,
      maxAttempts: 3,
      retryBaseMs: 10,
      retryMaxMs: 100,
    });
    const link = new FakeLink('a', ['q'], 10);
    dispatcher.connect(link);
    expect(link.dispatches()[0]).toEqual({
      type: 'dispatch',
      lease: 1,
      queue: 'q',
      ranges: [[0, 9]],
    });
  });
});

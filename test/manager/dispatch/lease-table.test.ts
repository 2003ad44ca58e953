import { afterEach, describe, expect, it } from 'vitest';
import { type Lease, type LeaseHolder, LeaseTable } from '../../../manager/dispatch/lease-table.js';
import { QueueState } from '../../../manager/queue/queue-state.js';
import { RangeSet } from '../../../shared/range-set.js';

// Longer than any test runs: the table's own timer never fires, the tests call expireDue().
const LEASE_MS = 60_000;

let now = 0;
let expired: Lease[] = [];
let table: LeaseTable;
const queue = new QueueState('q');
const a: LeaseHolder = { id: 'a' };
const b: LeaseHolder = { id: 'b' };

function newTable(): LeaseTable {
  now = 1_000_000;
  expired = [];
  table = new LeaseTable(
    LEASE_MS,
    (lease) => expired.push(lease),
    () => now,
  );
  return table;
}

function heights(from: number, to: number): RangeSet {
  return RangeSet.from([[from, to]]);
}

/** Settles a lease the way the dispatcher does once every height is reported. */
function settle(lease: Lease): void {
  lease.heights.clear();
  table.settleIfEmpty(lease);
}

/** Whether `promise` has resolved, after letting pending callbacks run. */
async function isResolved(promise: Promise<unknown>): Promise<boolean> {
  let resolved = false;
  void promise.then(() => {
    resolved = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  return resolved;
}

afterEach(() => {
  table?.close();
});

describe('LeaseTable', () => {
  it('grants increasing ids with the deadline now + leaseMs', () => {
    newTable();
    const first = table.grant(queue, a, heights(0, 9));
    now += 250;
    const second = table.grant(queue, b, heights(10, 19));
    now += 1;
    const third = table.grant(queue, a, heights(20, 20));
    expect([first.id, second.id, third.id]).toEqual([1, 2, 3]);
    expect(first.deadline).toBe(1_000_000 + LEASE_MS);
    expect(second.deadline).toBe(1_000_250 + LEASE_MS);
    expect(third.deadline).toBe(1_000_251 + LEASE_MS);
    expect(first).toMatchObject({ queue, holder: a });
    expect(first.heights.toJSON()).toEqual([[0, 9]]);
    expect(table.size).toBe(3);
  });

  it('heldBy returns a lease only to its holder', () => {
    newTable();
    const lease = table.grant(queue, a, heights(0, 9));
    expect(table.heldBy(lease.id, a)).toBe(lease);
    expect(table.heldBy(lease.id, b)).toBeUndefined();
    // Holders are told apart by identity: a new link with the same id does not hold it.
    expect(table.heldBy(lease.id, { id: 'a' })).toBeUndefined();
    expect(table.heldBy(lease.id + 1, a)).toBeUndefined();
    expect(table.heldBy(0, a)).toBeUndefined();
  });

  it('settleIfEmpty forgets a lease only once its heights are gone', () => {
    newTable();
    const lease = table.grant(queue, a, heights(0, 1));
    lease.heights.remove(0);
    table.settleIfEmpty(lease);
    expect(table.heldBy(lease.id, a)).toBe(lease);
    expect(table.size).toBe(1);
    lease.heights.remove(1);
    table.settleIfEmpty(lease);
    expect(table.heldBy(lease.id, a)).toBeUndefined();
    expect(table.size).toBe(0);
  });

  it("takeAll removes and returns exactly the holder's leases", () => {
    newTable();
    const a1 = table.grant(queue, a, heights(0, 9));
    const b1 = table.grant(queue, b, heights(10, 19));
    const a2 = table.grant(queue, a, heights(20, 29));
    const settled = table.grant(queue, a, heights(30, 30));
    settle(settled);
    expect(table.takeAll(a)).toEqual([a1, a2]);
    expect(table.heldBy(a1.id, a)).toBeUndefined();
    expect(table.heldBy(a2.id, a)).toBeUndefined();
    expect(table.heldBy(b1.id, b)).toBe(b1);
    expect(table.size).toBe(1);
    expect(table.takeAll(a)).toEqual([]);
  });

  it('expireDue expires the live leases past their deadline, in deadline order', () => {
    newTable();
    const l1 = table.grant(queue, a, heights(0, 0)); // deadline +0
    now += 10;
    const l2 = table.grant(queue, a, heights(1, 1)); // +10, settled below
    now += 10;
    const l3 = table.grant(queue, b, heights(2, 2)); // +20, taken below
    now += 10;
    const l4 = table.grant(queue, b, heights(3, 3)); // +30
    now += 10;
    const l5 = table.grant(queue, a, new RangeSet()); // +40, live but nothing left in it
    now += 10;
    const l6 = table.grant(queue, a, heights(5, 5)); // +50
    settle(l2);
    table.takeAll(b);
    expect(table.heldBy(l4.id, b)).toBeUndefined();

    now = l1.deadline - 1;
    table.expireDue();
    expect(expired).toEqual([]);
    expect(table.heldBy(l1.id, a)).toBe(l1);

    // Exactly at the deadline counts as passed.
    now = l1.deadline;
    table.expireDue();
    expect(expired).toEqual([l1]);
    expect(table.heldBy(l1.id, a)).toBeUndefined();

    now = l6.deadline - 1;
    table.expireDue();
    // l2 was settled, l3 and l4 taken; l5 is forgotten without a callback.
    expect(expired).toEqual([l1]);
    expect(table.heldBy(l5.id, a)).toBeUndefined();
    expect(table.heldBy(l6.id, a)).toBe(l6);
    expect(table.size).toBe(1);

    now = l6.deadline + 1_000;
    table.expireDue();
    expect(expired).toEqual([l1, l6]);
    expect(table.size).toBe(0);
    expect(l3.heights.count).toBe(1);
  });

  it('expires several due leases in one call in the order they were granted', () => {
    newTable();
    const leases = [0, 1, 2, 3].map((i) => {
      now += 5;
      return table.grant(queue, i % 2 === 0 ? a : b, heights(i, i));
    });
    now += LEASE_MS;
    table.expireDue();
    expect(expired.map((lease) => lease.id)).toEqual(leases.map((lease) => lease.id));
  });

  it('whenEmpty resolves at once when no lease is live', async () => {
    newTable();
    expect(await isResolved(table.whenEmpty())).toBe(true);
    settle(table.grant(queue, a, heights(0, 0)));
    expect(await isResolved(table.whenEmpty())).toBe(true);
  });

  it('whenEmpty resolves when the last lease is settled', async () => {
    newTable();
    const first = table.grant(queue, a, heights(0, 0));
    const second = table.grant(queue, b, heights(1, 1));
    const empty = table.whenEmpty();
    settle(first);
    expect(await isResolved(empty)).toBe(false);
    settle(second);
    expect(await isResolved(empty)).toBe(true);
  });

  it('whenEmpty resolves when the last lease is taken', async () => {
    newTable();
    table.grant(queue, a, heights(0, 0));
    table.grant(queue, a, heights(1, 1));
    const other = table.grant(queue, b, heights(2, 2));
    const empty = table.whenEmpty();
    table.takeAll(a);
    expect(await isResolved(empty)).toBe(false);
    table.takeAll(b);
    expect(await isResolved(empty)).toBe(true);
    expect(table.heldBy(other.id, b)).toBeUndefined();
  });

  it('whenEmpty resolves when the last lease expires', async () => {
    newTable();
    const first = table.grant(queue, a, heights(0, 0));
    now += 100;
    table.grant(queue, a, heights(1, 1));
    const empty = table.whenEmpty();
    now = first.deadline;
    table.expireDue();
    expect(await isResolved(empty)).toBe(false);
    now += 100;
    table.expireDue();
    expect(await isResolved(empty)).toBe(true);
    expect(expired).toHaveLength(2);
  });

  it('stays correct after thousands of leases went through the deadline queue', () => {
    newTable();
    const start = now;
    const live = new Set<number>();
    const grantMany = (count: number): Lease[] => {
      const granted: Lease[] = [];
      for (let i = 0; i < count; i++) {
        now += 1;
        const lease = table.grant(queue, i % 3 === 0 ? a : b, heights(i, i));
        granted.push(lease);
        // Most leases settle in time; every 7th is left to expire.
        if (lease.id % 7 === 0) live.add(lease.id);
        else settle(lease);
      }
      return granted;
    };
    /** The ids expireDue must report once the clock reaches `until`. */
    const dueBy = (until: number): number[] =>
      all.filter((lease) => live.has(lease.id) && lease.deadline <= until).map((l) => l.id);
    const expiredIds = () => expired.map((lease) => lease.id);

    const all = grantMany(5_000);
    expect(table.size).toBe(live.size);

    // 2,995 deadlines pass: most of the queue is consumed, so it is compacted. The next lease
    // in line (2,996) is a live one, so a compaction that lost its place would show.
    now = start + 2_995 + LEASE_MS;
    table.expireDue();
    let expected = dueBy(now);
    expect(expected.length).toBeGreaterThan(400);
    expect(expiredIds()).toEqual(expected);

    // New leases join behind the compacted rest; then deadlines pass in two more steps, the
    // first compacting again just before another live lease (5,999).
    all.push(...grantMany(2_000));
    now = start + 5_998 + LEASE_MS;
    table.expireDue();
    expected = dueBy(now);
    expect(expiredIds()).toEqual(expected);

    now += 10 * LEASE_MS;
    table.expireDue();
    expected = dueBy(now);
    expect(expiredIds()).toEqual([...live].sort((x, y) => x - y));
    expect(expiredIds()).toEqual(expected);
    expect(table.size).toBe(0);
  });
});

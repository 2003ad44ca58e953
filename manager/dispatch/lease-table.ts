/**
 * Live leases. A lease is one dispatch frame's heights, held by one worker until each height is
 * reported, handed back, or the deadline passes. Its id is the fencing token: a result counts
 * only while the height is still in the lease that the reporting worker holds.
 * Every lease lasts the same time, so deadlines come in dispatch order and one timer over a
 * FIFO serves them all (no timer per lease).
 */
import type { RangeSet } from '../../shared/range-set.js';
import type { QueueState } from '../queue/queue-state.js';

export interface LeaseHolder {
  readonly id: string;
}

export interface Lease {
  readonly id: number;
  readonly queue: QueueState;
  readonly holder: LeaseHolder;
  /** Heights not yet reported, handed back or expired. */
  readonly heights: RangeSet;
  readonly deadline: number;
}

export class LeaseTable {
  private readonly leases = new Map<number, Lease>();
  private readonly byDeadline: Lease[] = [];
  private head = 0;
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  private emptyWaiters: (() => void)[] = [];

  constructor(
    private readonly leaseMs: number,
    private readonly onExpired: (lease: Lease) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.leases.size;
  }

  grant(queue: QueueState, holder: LeaseHolder, heights: RangeSet): Lease {
    const lease: Lease = {
      id: this.nextId++,
      queue,
      holder,
      heights,
      deadline: this.now() + this.leaseMs,
    };
    this.leases.set(lease.id, lease);
    this.byDeadline.push(lease);
    this.arm();
    return lease;
  }

  /** The lease `id` if `holder` holds it; undefined for unknown, expired or foreign leases. */
  heldBy(id: number, holder: LeaseHolder): Lease | undefined {
    const lease = this.leases.get(id);
    return lease?.holder === holder ? lease : undefined;
  }

  /** Every live lease. */
  live(): IterableIterator<Lease> {
    return this.leases.values();
  }

  /** Forgets a lease once its last height is settled. */
  settleIfEmpty(lease: Lease): void {
    if (lease.heights.isEmpty) this.forget(lease);
  }

  /** Resolves once no lease is live (the manager's drain at shutdown waits on it). */
  whenEmpty(signal?: AbortSignal): Promise<void> {
    if (this.leases.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.emptyWaiters = this.emptyWaiters.filter((waiter) => waiter !== done);
        resolve();
      };
      this.emptyWaiters.push(done);
      // A waiter that gave up (a timeout) leaves no entry behind.
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Removes and returns every lease `holder` holds (it disconnected). */
  takeAll(holder: LeaseHolder): Lease[] {
    const taken: Lease[] = [];
    for (const lease of this.leases.values()) {
      if (lease.holder === holder) taken.push(lease);
    }
    for (const lease of taken) this.forget(lease);
    return taken;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer) return;
    const first = this.byDeadline[this.head];
    if (!first) return;
    this.timer = setTimeout(() => this.expireDue(), Math.max(0, first.deadline - this.now()));
    this.timer.unref?.();
  }

  /**
   * Expires every live lease whose deadline has passed. The lease timer calls it; tests with an
   * injected clock call it directly.
   */
  expireDue(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();
    while (this.head < this.byDeadline.length) {
      const lease = this.byDeadline[this.head] as Lease;
      if (lease.deadline > now) break;
      this.head++;
      // Settled and taken leases stay in the FIFO; only live ones expire.
      if (this.leases.get(lease.id) === lease) {
        this.forget(lease);
        if (!lease.heights.isEmpty) this.onExpired(lease);
      }
    }
    if (this.head > 1024 && this.head * 2 > this.byDeadline.length) {
      this.byDeadline.splice(0, this.head);
      this.head = 0;
    }
    this.arm();
  }

  private forget(lease: Lease): void {
    this.leases.delete(lease.id);
    if (this.leases.size > 0 || this.emptyWaiters.length === 0) return;
    for (const resolve of this.emptyWaiters.splice(0)) resolve();
  }
}

/**
 * Live leases. A lease is one dispatch frame's heights, held by one worker until each height is
 * reported, handed back, or the deadline passes. Its id is the fencing token: a result counts
 * only while the height is still in the lease that the reporting worker holds.
 * Every lease lasts the same time, so deadlines come in dispatch order and one timer over a
 * FIFO serves them all (no timer per lease). The FIFO holds ids and deadlines as numbers, not
 * the leases: most leases settle within milliseconds but stay in the FIFO for the whole lease
 * time, and as objects they outlived two scavenges there, every one of them copied twice into
 * the old generation (docs/performance.md, "The manager's young generation").
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
  /** Every lease granted, in deadline order from `head` on, settled or not: ids and deadlines. */
  private readonly fifoIds: number[] = [];
  private readonly fifoDeadlines: number[] = [];
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
    this.fifoIds.push(lease.id);
    this.fifoDeadlines.push(lease.deadline);
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
    if (this.timer || this.head >= this.fifoIds.length) return;
    const first = this.fifoDeadlines[this.head] as number;
    this.timer = setTimeout(() => this.expireDue(), Math.max(0, first - this.now()));
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
    while (this.head < this.fifoIds.length) {
      if ((this.fifoDeadlines[this.head] as number) > now) break;
      // Settled and taken leases stay in the FIFO; only live ones expire.
      const lease = this.leases.get(this.fifoIds[this.head] as number);
      this.head++;
      if (lease) {
        this.forget(lease);
        if (!lease.heights.isEmpty) this.onExpired(lease);
      }
    }
    if (this.head > 1024 && this.head * 2 > this.fifoIds.length) {
      this.fifoIds.splice(0, this.head);
      this.fifoDeadlines.splice(0, this.head);
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

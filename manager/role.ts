/**
 * What the HTTP API, the worker endpoint, the dashboard and the metrics need to know of the
 * running manager: its role, and what only a leader has (docs/architecture.md, "Roles").
 * The leader's parts are made together when the lock is taken, so they are one object: either
 * this manager leads and has all of them, or it has none.
 */
import type { Chains } from './chain/chains.js';
import type { Dispatcher } from './dispatch/dispatcher.js';
import type { QueueService } from './queue/queue-service.js';
import type { QueueState } from './queue/queue-state.js';
import type { MetricsSource } from './status/metrics.js';
import type { LeaderLock } from './store/leader-lock.js';
import type { WriteBehind } from './store/write-behind.js';

export const MANAGER_ROLES = ['starting', 'standby', 'leader', 'stopping'] as const;
export type ManagerRole = (typeof MANAGER_ROLES)[number];

/** The parts a leader has, and only a leader. */
export interface Leader {
  readonly lock: LeaderLock;
  readonly queues: Map<string, QueueState>;
  readonly service: QueueService;
  readonly dispatcher: Dispatcher;
  readonly writer: WriteBehind;
  readonly chains: Chains;
}

export interface WorkerInfo {
  id: string;
  name: string;
  queues: readonly string[];
  capacity: number;
  leased: number;
  done: number;
  failed: number;
  connectedAt: string;
}

export class ManagerStatus implements MetricsSource {
  role: ManagerRole = 'starting';
  /** Set once this manager leads; kept while it stops, so in-flight results still land. */
  leader: Leader | undefined;

  constructor(
    /** BLOCKRUNNER_LEASE_MS, which `welcome` tells every worker. */
    readonly leaseMs: number,
  ) {}

  /** Ready: leads, holds the lock session, and the last commit went through (the database answers). */
  isReady(): boolean {
    const leader = this.leader;
    return (
      this.role === 'leader' && leader !== undefined && leader.lock.holding && leader.writer.healthy
    );
  }

  acceptsWorkers(): boolean {
    return this.role === 'leader' && this.leader !== undefined;
  }

  workerList(): WorkerInfo[] {
    return (this.leader?.dispatcher.workers() ?? []).map((link) => ({
      id: link.id,
      name: link.name,
      queues: link.queues,
      capacity: link.capacity,
      leased: link.held,
      done: link.done,
      failed: link.failed,
      connectedAt: link.connectedAt.toISOString(),
    }));
  }

  // MetricsSource: what /metrics reads at scrape time.
  isLeader(): boolean {
    return this.role === 'leader';
  }

  queues(): Iterable<QueueState> {
    return this.leader?.queues.values() ?? [];
  }

  workerCount(): number {
    return this.leader?.dispatcher.workers().length ?? 0;
  }

  ignoredResults(): number {
    return this.leader?.dispatcher.ignoredResults ?? 0;
  }

  effectiveRate(queue: string): number | null {
    return this.leader?.dispatcher.settings.throttle(queue)?.effectiveRate ?? null;
  }
}

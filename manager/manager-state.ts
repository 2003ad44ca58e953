/**
 * What the HTTP API and the WebSocket endpoint need to know of the running manager: its role,
 * and, once it leads, the queue service and the dispatcher.
 */
import type { Dispatcher } from './dispatcher.js';
import type { Leadership } from './leader.js';
import { ManagerMetrics } from './metrics.js';
import type { QueueService } from './queue-service.js';
import type { WriteBehind } from './write-behind.js';

export type ManagerRole = 'starting' | 'standby' | 'leader' | 'stopping';

export class ManagerState {
  role: ManagerRole = 'starting';
  leaseMs = 0;
  leadership: Leadership | undefined;
  /** This manager's Prometheus registry (metrics.ts), fed by the parts below. */
  readonly metrics = new ManagerMetrics(this);
  private parts: { service?: QueueService; dispatcher?: Dispatcher; writer?: WriteBehind } = {};

  // The parts get their metrics hook as they are handed over, so whoever builds them
  // (manager.ts) need not know about metrics.
  get service(): QueueService | undefined {
    return this.parts.service;
  }
  set service(service: QueueService | undefined) {
    if (service) service.metrics = this.metrics;
    this.parts.service = service;
  }
  get dispatcher(): Dispatcher | undefined {
    return this.parts.dispatcher;
  }
  set dispatcher(dispatcher: Dispatcher | undefined) {
    if (dispatcher) dispatcher.metrics = this.metrics;
    this.parts.dispatcher = dispatcher;
  }
  get writer(): WriteBehind | undefined {
    return this.parts.writer;
  }
  set writer(writer: WriteBehind | undefined) {
    if (writer) writer.metrics = this.metrics;
    this.parts.writer = writer;
  }

  /** Ready: leads, holds the lock session, and the last commit went through (the database answers). */
  isReady(): boolean {
    return (
      this.role === 'leader' &&
      this.service !== undefined &&
      (this.leadership?.holding ?? false) &&
      (this.writer?.healthy ?? false)
    );
  }

  acceptsWorkers(): boolean {
    return this.role === 'leader' && this.dispatcher !== undefined;
  }

  workerList() {
    return (this.dispatcher?.workers() ?? []).map((link) => ({
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
}

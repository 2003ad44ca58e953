/**
 * What the HTTP API and the WebSocket endpoint need to know of the running manager: its role,
 * and, once it leads, the queue service and the dispatcher.
 */
import type { Dispatcher } from './dispatcher.js';
import type { QueueService } from './queue-service.js';
import type { WriteBehind } from './write-behind.js';

export type ManagerRole = 'starting' | 'standby' | 'leader' | 'stopping';

export class ManagerState {
  role: ManagerRole = 'starting';
  leaseMs = 0;
  service: QueueService | undefined;
  dispatcher: Dispatcher | undefined;
  writer: WriteBehind | undefined;

  /** Ready: leads, and the last commit went through (the database answers). */
  isReady(): boolean {
    return this.role === 'leader' && this.service !== undefined && (this.writer?.healthy ?? false);
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

/**
 * A worker link without a socket, for unit tests of the manager's dispatch and chain stages:
 * it records every frame the manager sends it.
 */
import type { WorkerLink } from '../../manager/dispatch/dispatcher.js';
import type {
  CancelFrame,
  DispatchFrame,
  ManagerFrame,
  RevertFrame,
} from '../../shared/protocol.js';

export class FakeLink implements WorkerLink {
  readonly name: string;
  held = 0;
  done = 0;
  failed = 0;
  /** Set to true for a link that said `deltas` in hello: dispatches then carry deltas. */
  deltas = false;
  readonly frames: ManagerFrame[] = [];

  constructor(
    readonly id: string,
    readonly queues: readonly string[],
    readonly capacity = 10,
    readonly connectedAt = new Date(),
  ) {
    this.name = `worker-${id}`;
  }

  send(frame: ManagerFrame): void {
    this.frames.push(frame);
  }

  dispatches(): DispatchFrame[] {
    return this.frames.filter((frame): frame is DispatchFrame => frame.type === 'dispatch');
  }

  cancels(): CancelFrame[] {
    return this.frames.filter((frame): frame is CancelFrame => frame.type === 'cancel');
  }

  reverts(): RevertFrame[] {
    return this.frames.filter((frame): frame is RevertFrame => frame.type === 'revert');
  }

  lastDispatch(): DispatchFrame {
    const last = this.dispatches().at(-1);
    if (!last) throw new Error(`${this.name} got no dispatch`);
    return last;
  }
}

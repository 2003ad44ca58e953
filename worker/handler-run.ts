/**
 * One handler run, which is also the handler's context. `signal` and `log` are made on first
 * use: the noop benchmark runs hundreds of thousands of heights per second and touches neither,
 * so most runs never pay for an AbortController or a child logger.
 * (The getters live on the prototype: destructure them, `{ ...ctx }` would not copy them.)
 */
import type { Logger } from '../shared/logger.js';
import { MAX_ERROR_LENGTH } from '../shared/protocol.js';
import type { HandlerContext } from './handler.js';
import type { Slotted } from './running-runs.js';

export class HandlerRun implements HandlerContext, Slotted {
  private controller: AbortController | undefined;
  private abortReason: Error | undefined;
  private logger: Logger | undefined;
  /** For the results frame's `runMs`: one clock read here and one at the end, nothing else. */
  readonly startedAt = performance.now();
  /** Set once the run was logged as still running past its lease deadline. */
  overdue = false;
  /** Its index among the loop's running runs (worker/running-runs.ts). */
  slot = -1;

  constructor(
    readonly lease: number,
    readonly queue: string,
    readonly height: number,
    readonly attempt: number,
    /** The height loop's link generation when the run started. */
    readonly link: number,
    private readonly parentLog: Logger,
    /** What the module's setup resolved to (ctx.state). */
    readonly state: unknown,
    /** performance.now() past which the manager counts the lease as expired; Infinity if unknown. */
    readonly leaseDeadline: number,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  get log(): Logger {
    this.logger ??= this.parentLog.child({
      queue: this.queue,
      height: this.height,
      attempt: this.attempt,
    });
    return this.logger;
  }

  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

/** The message of a thrown value, as lastError: never throws, never longer than allowed. */
export function errorMessage(value: unknown): string {
  let message: string;
  try {
    message =
      value instanceof Error && typeof value.message === 'string' && value.message !== ''
        ? value.message
        : String(value as string);
  } catch {
    message = 'handler threw a value that cannot be printed';
  }
  return message.length > MAX_ERROR_LENGTH ? message.slice(0, MAX_ERROR_LENGTH) : message;
}

/**
 * The height loop (DESIGN "Worker protocol"): a FIFO of dispatched heights, at most
 * `concurrency` handlers at once, results batched per lease and per event-loop turn.
 * This is the hot path of the S1 benchmark: no timer, log line or frame per height.
 */
import type { Logger } from '../shared/logger.js';
import {
  type CancelFrame,
  type DispatchFrame,
  MAX_HEIGHTS_PER_FRAME,
  type WorkerFrame,
} from '../shared/protocol.js';
import type { Handler } from './handler.js';
import { errorMessage, Run } from './run.js';

export type Send = (frame: WorkerFrame) => void;

interface Batch {
  lease: number;
  queue: string;
  heights: number[];
  attempts: number[] | undefined;
  /** Index of the next height to start. */
  next: number;
}

interface LeaseResults {
  done: number[];
  failed: { height: number; error: string }[];
  /** Handler milliseconds summed over these heights (the frame's runMs). */
  runMs: number;
}

export class Runner {
  private readonly batches: Batch[] = [];
  private readonly running = new Set<Run>();
  private pending = new Map<number, LeaseResults>();
  private flushTimer: NodeJS.Immediate | undefined;
  private send: Send | undefined;
  /** Bumped on every disconnect: a run from an older link reports nothing. */
  private link = 0;
  private pumping = false;
  private releasing = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handler: Handler,
    private readonly concurrency: number,
    private readonly log: Logger,
  ) {}

  get runningCount(): number {
    return this.running.size;
  }

  /** A link is up: results and releases go through `send` from now on. */
  connected(send: Send): void {
    this.send = send;
  }

  /**
   * The link dropped: the manager takes back every leased height at once, so running handlers
   * are aborted, buffered heights dropped and unsent results discarded.
   */
  disconnected(): void {
    this.send = undefined;
    this.link++;
    this.batches.length = 0;
    this.pending.clear();
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    this.abortRunning(new Error('worker disconnected'));
  }

  dispatch(frame: DispatchFrame): void {
    const { lease, queue, heights, attempts } = frame;
    const batch: Batch = { lease, queue, heights, attempts, next: 0 };
    if (this.releasing) {
      this.sendRelease([batch]);
      return;
    }
    this.log.debug(
      { lease: frame.lease, queue: frame.queue, count: frame.heights.length },
      'dispatch',
    );
    this.batches.push(batch);
    this.pump();
  }

  /** Aborts the named heights that run (their result is still sent) and drops buffered ones. */
  cancel(frame: CancelFrame): void {
    const heights = new Set(frame.heights);
    for (const run of this.running) {
      if (run.lease === frame.lease && heights.has(run.height)) {
        run.abort(new Error('cancelled by the manager'));
      }
    }
    for (const batch of this.batches) {
      if (batch.lease !== frame.lease) continue;
      const keep: number[] = [];
      const attempts: number[] = [];
      for (let i = batch.next; i < batch.heights.length; i++) {
        const height = batch.heights[i] as number;
        if (heights.has(height)) continue;
        keep.push(height);
        attempts.push(batch.attempts?.[i] ?? 1);
      }
      batch.heights = keep;
      batch.attempts = attempts;
      batch.next = 0;
    }
    this.dropEmptyBatches();
  }

  /** Shutdown: hands buffered heights back and from now on releases every dispatch at once. */
  releaseBuffered(): void {
    this.releasing = true;
    this.sendRelease(this.batches.splice(0));
  }

  abortRunning(reason: Error): void {
    for (const run of this.running) run.abort(reason);
  }

  /** Resolves once no handler runs. */
  idle(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Sends every collected result now, one frame per lease. */
  flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    const pending = this.pending;
    if (pending.size === 0) return;
    this.pending = new Map();
    const send = this.send;
    if (!send) return;
    for (const [lease, { done, failed, runMs: sum }] of pending) {
      const runMs = Math.round(sum * 1000) / 1000;
      if (done.length <= MAX_HEIGHTS_PER_FRAME && failed.length <= MAX_HEIGHTS_PER_FRAME) {
        send({ type: 'results', lease, done, failed, runMs });
        continue;
      }
      // One lease never holds more than a frame's worth; split anyway rather than be refused.
      for (let i = 0; i < Math.max(done.length, failed.length); i += MAX_HEIGHTS_PER_FRAME) {
        send({
          type: 'results',
          lease,
          done: done.slice(i, i + MAX_HEIGHTS_PER_FRAME),
          failed: failed.slice(i, i + MAX_HEIGHTS_PER_FRAME),
          runMs: i === 0 ? runMs : 0,
        });
      }
    }
  }

  private readonly flushSoon = (): void => this.flush();

  private pump(): void {
    // A handler that returns synchronously settles inside start(); the flag turns that
    // re-entry into another turn of this loop instead of a deeper stack.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.running.size < this.concurrency) {
        const batch = this.batches[0];
        if (!batch) break;
        const index = batch.next++;
        if (batch.next >= batch.heights.length) this.batches.shift();
        this.start(batch, index);
      }
    } finally {
      this.pumping = false;
    }
  }

  private start(batch: Batch, index: number): void {
    const height = batch.heights[index] as number;
    const attempt = batch.attempts?.[index] ?? 1;
    const run = new Run(batch.lease, batch.queue, height, attempt, this.link, this.log);
    this.running.add(run);
    let result: unknown;
    try {
      result = this.handler(height, run);
    } catch (error) {
      this.settle(run, error, true);
      return;
    }
    if (result !== null && typeof result === 'object' && 'then' in result) {
      try {
        (result as PromiseLike<void>).then(
          () => this.settle(run, undefined, false),
          (error: unknown) => this.settle(run, error, true),
        );
      } catch (error) {
        this.settle(run, error, true);
      }
    } else {
      this.settle(run, undefined, false);
    }
  }

  private settle(run: Run, error: unknown, failed: boolean): void {
    if (!this.running.delete(run)) return; // a thenable that settled twice
    if (run.link === this.link && this.send) {
      let results = this.pending.get(run.lease);
      if (!results) {
        results = { done: [], failed: [], runMs: 0 };
        this.pending.set(run.lease, results);
      }
      results.runMs += performance.now() - run.startedAt;
      if (failed) {
        const message = errorMessage(error);
        results.failed.push({ height: run.height, error: message });
        this.log.debug(
          { queue: run.queue, lease: run.lease, height: run.height, error: message },
          'height failed',
        );
      } else {
        results.done.push(run.height);
      }
      this.flushTimer ??= setImmediate(this.flushSoon);
    }
    if (this.running.size === 0 && this.idleWaiters.length > 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    this.pump();
  }

  private sendRelease(batches: Batch[]): void {
    const byLease = new Map<number, number[]>();
    for (const batch of batches) {
      const heights = byLease.get(batch.lease) ?? [];
      for (let i = batch.next; i < batch.heights.length; i++)
        heights.push(batch.heights[i] as number);
      byLease.set(batch.lease, heights);
    }
    const send = this.send;
    if (!send) return;
    for (const [lease, heights] of byLease) {
      for (let i = 0; i < heights.length; i += MAX_HEIGHTS_PER_FRAME) {
        send({ type: 'release', lease, heights: heights.slice(i, i + MAX_HEIGHTS_PER_FRAME) });
      }
    }
  }

  private dropEmptyBatches(): void {
    for (let i = this.batches.length - 1; i >= 0; i--) {
      const batch = this.batches[i] as Batch;
      if (batch.next >= batch.heights.length) this.batches.splice(i, 1);
    }
  }
}

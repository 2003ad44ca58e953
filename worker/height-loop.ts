/**
 * The height loop (docs/protocol.md, "Capacity and flow control"): a buffer of dispatched
 * heights, tip-lane leases first and otherwise in arrival order ("Lanes"), at most
 * `concurrency` handlers at once, results batched per lease and per event-loop turn.
 * This is the hot path of the S1 benchmark: no timer, log line or frame per height. Failed
 * heights are logged at warn through FailureLog (rate-limited), and one timer per worker, armed
 * per dispatch (worker/lease-watch.ts), notices handlers still running past their lease's deadline.
 */
import type { Logger } from '../shared/logger.js';
import {
  type BlockReport,
  type CancelFrame,
  type DispatchFrame,
  heightsIn,
  isHash,
  MAX_ITEMS_PER_FRAME,
  type WorkerFrame,
} from '../shared/protocol.js';
import { RangeSet } from '../shared/range-set.js';
import {
  type Batch,
  batchOf,
  dropHeights,
  insertionIndex,
  isExhausted,
  takeNext,
  unstarted,
  unstartedCount,
} from './batch.js';
import { type Failure, failureOf } from './failure.js';
import { FailureLog } from './failure-log.js';
import type { Handler } from './handler.js';
import { HandlerRun } from './handler-run.js';
import { LeaseWatch } from './lease-watch.js';
import { resultsFrames } from './results-frames.js';
import { RunningRuns } from './running-runs.js';

export type Send = (frame: WorkerFrame) => void;

/**
 * Longest that results wait while the buffer still holds plenty of heights to run. The refill
 * step (scheduleFlush) keeps the handlers fed, so this only bounds how late a success is
 * reported: long enough that a slow handler's results can wait for most of the buffer to start
 * (16 handlers of 36 ms start a buffer of 48 in about 108 ms, the first third before the wait
 * begins), short beside what anyone watching the progress notices.
 */
export const RESULTS_LINGER_MS = 100;

/**
 * Handler time the buffer must still hold for a step of results to wait for more (scheduleFlush):
 * the refill the frame asks for comes back within a round trip to the manager, a millisecond or
 * two, more on a busy or distant one. Slow handlers so send frames of most of the prefetch instead
 * of half of it, and the manager reads, refills and parses a third fewer of them.
 */
export const REFILL_LEAD_MS = 20;

/** Weight of each settled run in the mean handler time (an exponential moving average). */
const RUN_MS_WEIGHT = 0.1;

/**
 * Block reports per results frame: at the longest hashes a report is about 300 bytes of JSON, so
 * 20,000 stay near 6 MiB, well below the manager's 16 MiB frame limit.
 */
export { MAX_FAILURE_BYTES_PER_FRAME } from './results-frames.js';

export const MAX_HASHES_PER_FRAME = 20_000;

/**
 * Handlers started in one turn at most. Handlers that return at once would otherwise run a whole
 * dispatch of thousands of heights in one turn, and a frame that arrives meanwhile (a tip-lane
 * dispatch, a cancel) would wait for all of them; past this many, the loop goes on in the next
 * turn, after the socket is read.
 */
export const STARTS_PER_TURN = 512;

/**
 * What a handler returned, as a block report when it is `{hash, parentHash}` (two strings
 * within the protocol's limits); anything else is no report, so a handler that returns
 * something of its own still succeeds.
 */
function blockReportOf(height: number, value: unknown): BlockReport | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { hash, parentHash } = value as { hash?: unknown; parentHash?: unknown };
  if (!isHash(hash) || !isHash(parentHash)) return undefined;
  return { height, hash, parentHash };
}

interface LeaseResults {
  done: number[];
  failed: Failure[];
  /** Handler milliseconds summed over these heights (the frame's runMs). */
  runMs: number;
  /** Block hashes the handler returned, for heights that gave them (docs/chains.md). */
  hashes: BlockReport[];
}

export class HeightLoop {
  private readonly batches: Batch[] = [];
  private readonly running = new RunningRuns<HandlerRun>();
  private pending = new Map<number, LeaseResults>();
  private flushTimer: NodeJS.Immediate | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Heights dispatched and not started yet. */
  private buffered = 0;
  /** Heights settled since the last flush: the capacity the next results frames free. */
  private unsent = 0;
  /** Capacity freed per refill (half the prefetch, at least 1): see scheduleFlush. */
  private readonly refillStep: number;
  /** Mean handler time of the runs settled so far (RUN_MS_WEIGHT); none before the first. */
  private meanRunMs: number | undefined;
  private send: Send | undefined;
  /** Bumped on every disconnect: a run from an older link reports nothing. */
  private link = 0;
  private pumping = false;
  /** Set while the rest of a long pump waits for the next turn (STARTS_PER_TURN). */
  private pumpTimer: NodeJS.Immediate | undefined;
  private releasing = false;
  private idleWaiters: (() => void)[] = [];
  /** The welcome's leaseMs on the current link; 0 before any welcome. */
  private leaseMs = 0;
  /** When each batch's lease expires at the manager (performance.now(), from its arrival). */
  private readonly deadlines = new WeakMap<Batch, number>();
  private readonly leaseWatch: LeaseWatch<HandlerRun>;
  private readonly failures: FailureLog;
  /** What the module's setup resolved to: every run's ctx.state. */
  state: unknown;

  constructor(
    private readonly handler: Handler,
    private readonly concurrency: number,
    private readonly log: Logger,
    /** Heights the worker may hold beyond `concurrency` (BLOCKRUNNER_PREFETCH). */
    prefetch = 0,
  ) {
    this.failures = new FailureLog(log);
    this.refillStep = Math.max(1, Math.ceil(prefetch / 2));
    this.leaseWatch = new LeaseWatch({
      running: () => this.running,
      waitingDeadlines: () => this.batchDeadlines(),
      link: () => this.link,
      overdue: (run, now) =>
        this.log.warn(
          {
            queue: run.queue,
            height: run.height,
            attempt: run.attempt,
            lease: run.lease,
            leaseMs: this.leaseMs,
            runningMs: Math.round(now - run.startedAt),
          },
          'handler still running past its lease deadline: the manager counts the attempt as failed and runs the height again',
        ),
    });
  }

  get runningCount(): number {
    return this.running.size;
  }

  /**
   * A link is up: results and releases go through `send` from now on, and the leases it
   * grants last `leaseMs` (the welcome's).
   */
  connected(send: Send, leaseMs = 0): void {
    this.send = send;
    this.leaseMs = leaseMs;
  }

  /** Stop: the count of failures not logged is logged, and the lease timer cleared. */
  close(): void {
    this.failures.close();
    this.leaseWatch.stop();
  }

  /**
   * The link dropped: the manager takes back every leased height at once, so running handlers
   * are aborted, buffered heights dropped and unsent results discarded.
   */
  disconnected(): void {
    this.send = undefined;
    this.link++;
    this.batches.length = 0;
    this.buffered = 0;
    this.pending.clear();
    this.unsent = 0;
    this.clearFlushTimers();
    if (this.pumpTimer) clearImmediate(this.pumpTimer);
    this.pumpTimer = undefined;
    this.leaseWatch.stop();
    this.abortRunning(new Error('worker disconnected'));
  }

  dispatch(frame: DispatchFrame): void {
    const batch = batchOf(frame);
    if (this.releasing) {
      this.sendRelease([batch]);
      return;
    }
    this.log.debug(
      { lease: batch.lease, queue: batch.queue, ranges: batch.ranges.length },
      'dispatch',
    );
    // A tip-lane lease starts before the backfill already buffered (docs/protocol.md, "Lanes").
    this.batches.splice(insertionIndex(this.batches, batch), 0, batch);
    if (this.leaseMs > 0) {
      const deadline = performance.now() + this.leaseMs;
      this.deadlines.set(batch, deadline);
      this.leaseWatch.watch(deadline);
    }
    this.buffered += heightsIn(batch.ranges);
    this.pump();
  }

  /** Aborts the named heights that run (their result is still sent) and drops buffered ones. */
  cancel(frame: CancelFrame): void {
    const cancelled = RangeSet.from(frame.ranges);
    for (const run of this.running) {
      if (run.lease === frame.lease && cancelled.has(run.height)) {
        run.abort(new Error('cancelled by the manager'));
      }
    }
    for (const batch of this.batches) {
      if (batch.lease === frame.lease) dropHeights(batch, cancelled);
    }
    this.dropEmptyBatches();
    this.buffered = this.batches.reduce((sum, batch) => sum + unstartedCount(batch), 0);
  }

  /** Shutdown: hands buffered heights back and from now on releases every dispatch at once. */
  releaseBuffered(): void {
    this.releasing = true;
    this.buffered = 0;
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
    this.clearFlushTimers();
    this.unsent = 0;
    const pending = this.pending;
    if (pending.size === 0) return;
    this.pending = new Map();
    const send = this.send;
    if (!send) return;
    for (const [lease, results] of pending) {
      // A lease holds at most 100,000 heights, so its done ranges fit one frame.
      const done = RangeSet.ofHeights(results.done);
      for (const frame of resultsFrames(lease, { ...results, done })) send(frame);
    }
  }

  private readonly flushSoon = (): void => this.flush();

  private pump(): void {
    // A handler that returns synchronously settles inside start(); the flag turns that
    // re-entry into another turn of this loop instead of a deeper stack.
    if (this.pumping || this.pumpTimer) return;
    this.pumping = true;
    try {
      let started = 0;
      while (this.running.size < this.concurrency) {
        const batch = this.batches[0];
        if (!batch) break;
        if (started === STARTS_PER_TURN) {
          this.pumpTimer = setImmediate(this.pumpLater);
          break;
        }
        const { height, attempt } = takeNext(batch);
        if (isExhausted(batch)) this.batches.shift();
        this.buffered--;
        started++;
        this.start(batch, height, attempt);
      }
    } finally {
      this.pumping = false;
    }
  }

  private readonly pumpLater = (): void => {
    this.pumpTimer = undefined;
    this.pump();
  };

  private start(batch: Batch, height: number, attempt: number): void {
    const run = new HandlerRun(
      batch.lease,
      batch.queue,
      height,
      attempt,
      this.link,
      this.log,
      this.state,
      this.deadlines.get(batch) ?? Number.POSITIVE_INFINITY,
    );
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
        (result as PromiseLike<unknown>).then(
          (value) => this.settle(run, value, false),
          (error: unknown) => this.settle(run, error, true),
        );
      } catch (error) {
        this.settle(run, error, true);
      }
    } else {
      this.settle(run, result, false);
    }
  }

  /** `outcome` is the error when `failed`, else what the handler returned. */
  private settle(run: HandlerRun, outcome: unknown, failed: boolean): void {
    if (!this.running.delete(run)) return; // a thenable that settled twice
    if (run.link === this.link && this.send) {
      let results = this.pending.get(run.lease);
      if (!results) {
        results = { done: [], failed: [], runMs: 0, hashes: [] };
        this.pending.set(run.lease, results);
      }
      const runMs = performance.now() - run.startedAt;
      results.runMs += runMs;
      this.meanRunMs =
        this.meanRunMs === undefined
          ? runMs
          : this.meanRunMs + (runMs - this.meanRunMs) * RUN_MS_WEIGHT;
      this.unsent++;
      if (failed) {
        const failure = failureOf(run.height, outcome);
        results.failed.push(failure);
        this.failures.failed({
          queue: run.queue,
          height: run.height,
          attempt: run.attempt,
          lease: run.lease,
          err: failure.error,
          ...(failure.kind ? { kind: failure.kind } : {}),
        });
      } else {
        results.done.push(run.height);
        const report = blockReportOf(run.height, outcome);
        if (report) results.hashes.push(report);
      }
      // Hashes must travel in the frame of their heights' `done`, so a lease's results go out
      // before its hashes could push the frame past the manager's limit.
      if (results.hashes.length >= MAX_HASHES_PER_FRAME) this.flush();
      else this.scheduleFlush();
    }
    if (this.running.size === 0 && this.idleWaiters.length > 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    this.pump();
  }

  /**
   * Results go out in step with the refill they ask for (docs/protocol.md, "results"): on the
   * next turn once half the prefetch has settled since the last frame (the manager then sends
   * that much back as one lease, while the other half of the buffer keeps the handlers busy), or
   * at once when nothing is left to start; otherwise within RESULTS_LINGER_MS. Flushing at every
   * height once the buffer ran low made the manager refill one height per lease, and every later
   * frame then carried one height: frames, refills and commits per height instead of per step.
   * Past a step, results still wait while the buffer holds REFILL_LEAD_MS of handler time, so the
   * frames of slow handlers carry most of the prefetch; the buffer of fast ones never holds that
   * much, and they send at the step.
   */
  private scheduleFlush(): void {
    if (this.buffered === 0 || (this.unsent >= this.refillStep && !this.bufferCoversRefill())) {
      this.flushTimer ??= setImmediate(this.flushSoon);
    } else {
      this.lingerTimer ??= setTimeout(this.flushSoon, RESULTS_LINGER_MS);
    }
  }

  /** Whether the buffered heights keep every slot busy for REFILL_LEAD_MS more at least. */
  private bufferCoversRefill(): boolean {
    return (this.buffered / this.concurrency) * (this.meanRunMs ?? 0) >= REFILL_LEAD_MS;
  }

  private *batchDeadlines(): Iterable<number> {
    for (const batch of this.batches) {
      const deadline = this.deadlines.get(batch);
      if (deadline !== undefined) yield deadline;
    }
  }

  private clearFlushTimers(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.flushTimer = undefined;
    this.lingerTimer = undefined;
  }

  private sendRelease(batches: Batch[]): void {
    const byLease = new Map<number, RangeSet>();
    for (const batch of batches) {
      let heights = byLease.get(batch.lease);
      if (!heights) {
        heights = new RangeSet();
        byLease.set(batch.lease, heights);
      }
      for (const { from, to } of unstarted(batch)) heights.add(from, to);
    }
    const send = this.send;
    if (!send) return;
    for (const [lease, heights] of byLease) {
      if (heights.isEmpty) continue;
      const ranges = heights.toJSON();
      for (let i = 0; i < ranges.length; i += MAX_ITEMS_PER_FRAME) {
        send({ type: 'release', lease, ranges: ranges.slice(i, i + MAX_ITEMS_PER_FRAME) });
      }
    }
  }

  private dropEmptyBatches(): void {
    for (let i = this.batches.length - 1; i >= 0; i--) {
      if (isExhausted(this.batches[i] as Batch)) this.batches.splice(i, 1);
    }
  }
}

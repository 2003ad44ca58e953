/**
 * The range loop (docs/workers.md, "Range handlers"; docs/protocol.md, "Range handlers"): runs a
 * module's `handleRange` instead of a handler per height. Each dispatch's ranges are cut into
 * calls of at most the frame's `rangeSize` heights, at most `concurrency` calls run at once, and
 * results go back per lease, as the height loop's do.
 * A call that throws is split in halves, both run again at once with no attempt counted, down to
 * single heights; a single height that throws is an ordinary failed attempt, so a poison height
 * is dead-lettered alone while its neighbours finish. A RangeTooLargeError splits without
 * counting anything (to its `maxRange` when given) and tells the manager the size fallen back to.
 */
import type { Logger } from '../shared/logger.js';
import {
  type BlockReport,
  type CancelFrame,
  type DispatchFrame,
  dispatchOf,
  MAX_HASH_LENGTH,
  MAX_HEIGHTS_PER_FRAME,
  MAX_ITEMS_PER_FRAME,
} from '../shared/protocol.js';
import { RangeSet } from '../shared/range-set.js';
import { capacityOf, type WorkerConfig } from './config.js';
import { type Failure, failureOf } from './failure.js';
import { FailureLog } from './failure-log.js';
import type { HandlerContext, RangeHandler } from './handler.js';
import { errorMessage } from './handler-run.js';
import { MAX_HASHES_PER_FRAME, type Send } from './height-loop.js';
import { LeaseWatch, type WatchedRun } from './lease-watch.js';
import { resultsFrames } from './results-frames.js';
import { RunningRuns, type Slotted } from './running-runs.js';

/**
 * Heights a range worker may hold per slot (running and prefetched): hello capacity is
 * (BLOCKRUNNER_CONCURRENCY + BLOCKRUNNER_PREFETCH) times this, at most MAX_HEIGHTS_PER_FRAME.
 * A lease must run within BLOCKRUNNER_LEASE_MS: each slot's share is this many heights, that is
 * this many divided by the queue's rangeSize calls (docs/workers.md, "Range handlers").
 */
export const RANGE_HEIGHTS_PER_SLOT = 1_000;

export function rangeCapacityOf(config: WorkerConfig): number {
  return Math.min(MAX_HEIGHTS_PER_FRAME, capacityOf(config) * RANGE_HEIGHTS_PER_SLOT);
}

/** One call of the range handler: inclusive heights of one lease, all at one attempt. */
export interface RangeCall {
  lease: number;
  queue: string;
  from: number;
  to: number;
  attempt: number;
  /** When its lease expires at the manager (performance.now(), from the dispatch's arrival). */
  leaseDeadline: number;
  /** `tip` for a call of a tip-lane lease, queued before the backfill (docs/protocol.md). */
  lane?: 'tip';
}

/** `[from, to]` cut into consecutive pieces of at most `size` heights. */
export function cutRange(from: number, to: number, size: number): [number, number][] {
  const step = Math.max(1, Math.floor(size));
  const pieces: [number, number][] = [];
  for (let start = from; start <= to; start += step) {
    pieces.push([start, Math.min(to, start + step - 1)]);
  }
  return pieces;
}

/** What a failed call of more than one height becomes: its halves, the first one larger. */
export function halves(from: number, to: number): [number, number][] {
  if (from === to) return [[from, to]];
  const middle = from + Math.ceil((to - from + 1) / 2) - 1;
  return [
    [from, middle],
    [middle + 1, to],
  ];
}

/**
 * The size a refused call of `size` heights falls back to: the error's `maxRange` when it is a
 * whole number below `size`, else half of it (rounded up), never below 1.
 */
export function fallbackSize(size: number, maxRange: unknown): number {
  if (
    typeof maxRange === 'number' &&
    Number.isInteger(maxRange) &&
    maxRange >= 1 &&
    maxRange < size
  )
    return maxRange;
  return Math.max(1, Math.ceil(size / 2));
}

/** The reports of a range handler's answer that are valid and belong to its range. */
export function rangeReportsOf(from: number, to: number, value: unknown): BlockReport[] {
  if (!Array.isArray(value)) return [];
  const reports: BlockReport[] = [];
  for (const item of value as unknown[]) {
    if (item === null || typeof item !== 'object') continue;
    const { height, hash, parentHash } = item as Record<string, unknown>;
    if (typeof height !== 'number' || !Number.isInteger(height) || height < from || height > to)
      continue;
    if (typeof hash !== 'string' || hash.length === 0 || hash.length > MAX_HASH_LENGTH) continue;
    if (typeof parentHash !== 'string' || parentHash.length === 0) continue;
    if (parentHash.length > MAX_HASH_LENGTH) continue;
    reports.push({ height, hash, parentHash });
  }
  return reports;
}

/** One running call, which is also the handler's context. */
class RangeRun implements HandlerContext, WatchedRun, Slotted {
  private readonly controller = new AbortController();
  slot = -1;
  private logger: Logger | undefined;
  readonly startedAt = performance.now();
  /** Heights of this call the manager cancelled while it ran: not reported, not retried. */
  cancelled: RangeSet | undefined;
  overdue = false;

  constructor(
    readonly call: RangeCall,
    /** The loop's link generation when the call started. */
    readonly link: number,
    private readonly parentLog: Logger,
    readonly state: unknown,
  ) {}

  get queue(): string {
    return this.call.queue;
  }

  get leaseDeadline(): number {
    return this.call.leaseDeadline;
  }

  get attempt(): number {
    return this.call.attempt;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get log(): Logger {
    this.logger ??= this.parentLog.child({
      queue: this.call.queue,
      range: [this.call.from, this.call.to],
      attempt: this.call.attempt,
    });
    return this.logger;
  }

  abort(reason: Error): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }
}

interface LeaseResults {
  done: RangeSet;
  failed: Failure[];
  runMs: number;
  hashes: BlockReport[];
  /** The smallest size this lease's calls fell back to after a refusal. */
  rangeSize: number | undefined;
}

/** A refusal's size, for the calls of leases granted before the manager could know of it. */
interface Cap {
  size: number;
  /** The newest lease id seen when the refusal came: later leases follow their frame's size. */
  upToLease: number;
}

export class RangeLoop {
  /**
   * Calls not started yet, in order; split halves go to the front of their lane. Calls of
   * tip-lane leases wait in `tipQueued` and start before the backfill (docs/protocol.md, "Lanes").
   */
  private queued: RangeCall[] = [];
  private tipQueued: RangeCall[] = [];
  private readonly running = new RunningRuns<RangeRun>();
  private pending = new Map<number, LeaseResults>();
  private flushTimer: NodeJS.Immediate | undefined;
  private send: Send | undefined;
  private link = 0;
  private releasing = false;
  private idleWaiters: (() => void)[] = [];
  private readonly caps = new Map<string, Cap>();
  private newestLease = 0;
  private readonly failures: FailureLog;
  /** The welcome's leaseMs on the current link; 0 before any welcome. */
  private leaseMs = 0;
  private readonly leaseWatch: LeaseWatch<RangeRun>;
  /** What the module's setup resolved to: every call's ctx.state. */
  state: unknown;

  constructor(
    private readonly handler: RangeHandler,
    private readonly concurrency: number,
    private readonly log: Logger,
  ) {
    this.failures = new FailureLog(log);
    this.leaseWatch = new LeaseWatch({
      running: () => this.running,
      waitingDeadlines: () => [...this.tipQueued, ...this.queued].map((call) => call.leaseDeadline),
      link: () => this.link,
      overdue: (run, now) =>
        run.log.warn(
          {
            lease: run.call.lease,
            leaseMs: this.leaseMs,
            runningMs: Math.round(now - run.startedAt),
          },
          'handler still running past its lease deadline: the manager counts the attempt as failed and runs the range again',
        ),
    });
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** A link is up: results go through `send`, and the leases it grants last `leaseMs`. */
  connected(send: Send, leaseMs = 0): void {
    this.send = send;
    this.leaseMs = leaseMs;
  }

  close(): void {
    this.failures.close();
    this.leaseWatch.stop();
  }

  /** The link dropped: the manager took every leased height back. */
  disconnected(): void {
    this.send = undefined;
    this.link++;
    this.queued = [];
    this.tipQueued = [];
    this.pending.clear();
    this.caps.clear();
    this.newestLease = 0;
    this.clearFlushTimer();
    this.leaseWatch.stop();
    this.abortRunning(new Error('worker disconnected'));
  }

  dispatch(received: DispatchFrame): void {
    const frame = dispatchOf(received);
    if (this.releasing) {
      this.sendRelease(frame.ranges.map(([from, to]) => ({ lease: frame.lease, from, to })));
      return;
    }
    this.newestLease = Math.max(this.newestLease, frame.lease);
    const size = frame.rangeSize ?? 1;
    const leaseDeadline =
      this.leaseMs > 0 ? performance.now() + this.leaseMs : Number.POSITIVE_INFINITY;
    if (this.leaseMs > 0) this.leaseWatch.watch(leaseDeadline);
    const lane = frame.lane === 'tip' ? this.tipQueued : this.queued;
    const tip = frame.lane === 'tip' ? { lane: 'tip' as const } : {};
    frame.ranges.forEach(([from, to], index) => {
      const attempt = frame.attempts?.[index] ?? 1;
      for (const [a, b] of cutRange(from, to, size)) {
        const call = { lease: frame.lease, queue: frame.queue, from: a, to: b, attempt };
        lane.push({ ...call, leaseDeadline, ...tip });
      }
    });
    this.pump();
  }

  /** Aborts the calls that hold cancelled heights and drops the cancelled heights not started. */
  cancel(frame: CancelFrame): void {
    const cancelled = RangeSet.from(frame.ranges);
    for (const run of this.running) {
      const { lease, from, to } = run.call;
      if (lease !== frame.lease || cancelled.countWithin(from, to) === 0) continue;
      run.cancelled = cancelled;
      run.abort(new Error('cancelled by the manager'));
    }
    this.queued = this.withoutCancelled(this.queued, frame.lease, cancelled);
    this.tipQueued = this.withoutCancelled(this.tipQueued, frame.lease, cancelled);
  }

  private withoutCancelled(calls: RangeCall[], lease: number, cancelled: RangeSet): RangeCall[] {
    const kept: RangeCall[] = [];
    for (const call of calls) {
      if (call.lease !== lease) kept.push(call);
      else kept.push(...this.without(call, cancelled));
    }
    return kept;
  }

  /** Shutdown: hands queued heights back and from now on releases every dispatch at once. */
  releaseBuffered(): void {
    this.releasing = true;
    this.sendRelease([...this.tipQueued, ...this.queued]);
    this.queued = [];
    this.tipQueued = [];
  }

  abortRunning(reason: Error): void {
    for (const run of this.running) run.abort(reason);
  }

  idle(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Sends every collected result now, one frame per lease. */
  flush(): void {
    this.clearFlushTimer();
    const pending = this.pending;
    if (pending.size === 0) return;
    this.pending = new Map();
    const send = this.send;
    if (!send) return;
    for (const [lease, results] of pending) {
      for (const frame of resultsFrames(lease, results)) send(frame);
    }
  }

  private readonly flushSoon = (): void => this.flush();

  private pump(): void {
    while (this.running.size < this.concurrency) {
      const call = this.tipQueued.shift() ?? this.queued.shift();
      if (!call) break;
      const cap = this.caps.get(call.queue);
      if (cap && call.lease <= cap.upToLease && call.to - call.from + 1 > cap.size) {
        this.requeue(call, this.pieces(call, cutRange(call.from, call.to, cap.size)));
        continue;
      }
      this.start(call);
    }
  }

  private start(call: RangeCall): void {
    const run = new RangeRun(call, this.link, this.log, this.state);
    this.running.add(run);
    let result: unknown;
    try {
      result = this.handler({ from: call.from, to: call.to }, run);
    } catch (error) {
      // Settled on the next turn, so that a handler that always throws does not recurse.
      queueMicrotask(() => this.settle(run, error, true));
      return;
    }
    Promise.resolve(result).then(
      (value) => this.settle(run, value, false),
      (error: unknown) => this.settle(run, error, true),
    );
  }

  private resultsOf(lease: number): LeaseResults {
    let results = this.pending.get(lease);
    if (!results) {
      results = { done: new RangeSet(), failed: [], runMs: 0, hashes: [], rangeSize: undefined };
      this.pending.set(lease, results);
    }
    return results;
  }

  /** `outcome` is the error when `failed`, else what the handler returned. */
  private settle(run: RangeRun, outcome: unknown, failed: boolean): void {
    if (!this.running.delete(run)) return;
    if (run.link === this.link && this.send) {
      const { call } = run;
      const results = this.resultsOf(call.lease);
      results.runMs += performance.now() - run.startedAt;
      if (!failed) {
        results.done.add(call.from, call.to);
        for (const report of rangeReportsOf(call.from, call.to, outcome))
          results.hashes.push(report);
      } else if (run.cancelled) {
        // What the manager did not cancel runs again; the cancelled heights are its own.
        this.requeue(call, this.without(call, run.cancelled));
      } else {
        this.failed(run, outcome, results);
      }
      if (results.hashes.length >= MAX_HASHES_PER_FRAME) this.flush();
      else this.flushTimer ??= setImmediate(this.flushSoon);
    }
    if (this.running.size === 0 && this.idleWaiters.length > 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    this.pump();
  }

  private failed(run: RangeRun, thrown: unknown, results: LeaseResults): void {
    const { call } = run;
    const size = call.to - call.from + 1;
    const name = thrown instanceof Error ? thrown.name : undefined;
    if (size > 1 && !run.signal.aborted && name !== 'RateLimitedError') {
      if (name === 'RangeTooLargeError') {
        const fallback = fallbackSize(size, (thrown as { maxRange?: unknown }).maxRange);
        results.rangeSize = Math.min(results.rangeSize ?? fallback, fallback);
        const cap = this.caps.get(call.queue);
        this.caps.set(call.queue, {
          size: Math.min(fallback, cap?.size ?? fallback),
          upToLease: this.newestLease,
        });
        this.requeue(call, this.pieces(call, cutRange(call.from, call.to, fallback)));
        run.log.debug({ fallback }, 'range too large, split');
      } else {
        this.requeue(call, this.pieces(call, halves(call.from, call.to)));
        run.log.debug({ err: errorMessage(thrown) }, 'range failed, split in halves');
      }
      return;
    }
    // A single height, a rate-limited call or an aborted one: every height reports the error.
    for (let height = call.from; height <= call.to; height++) {
      const failure = failureOf(height, thrown);
      results.failed.push(failure);
      this.failures.failed({
        queue: call.queue,
        height,
        attempt: call.attempt,
        lease: call.lease,
        err: failure.error,
        ...(failure.kind ? { kind: failure.kind } : {}),
      });
    }
  }

  /** Puts the pieces of `call` at the front of its lane, to run next. */
  private requeue(call: RangeCall, pieces: RangeCall[]): void {
    (call.lane === 'tip' ? this.tipQueued : this.queued).unshift(...pieces);
  }

  private pieces(call: RangeCall, ranges: [number, number][]): RangeCall[] {
    return ranges.map(([from, to]) => ({ ...call, from, to }));
  }

  /** The call's heights outside `heights`, as calls. */
  private without(call: RangeCall, heights: RangeSet): RangeCall[] {
    const kept = RangeSet.from([[call.from, call.to]]).difference(heights);
    return this.pieces(
      call,
      [...kept.ranges()].map(([from, to]) => [from, to]),
    );
  }

  private clearFlushTimer(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
  }

  private sendRelease(calls: readonly { lease: number; from: number; to: number }[]): void {
    const byLease = new Map<number, RangeSet>();
    for (const { lease, from, to } of calls) {
      let heights = byLease.get(lease);
      if (!heights) {
        heights = new RangeSet();
        byLease.set(lease, heights);
      }
      heights.add(from, to);
    }
    const send = this.send;
    if (!send) return;
    for (const [lease, heights] of byLease) {
      const ranges = heights.toJSON();
      for (let i = 0; i < ranges.length; i += MAX_ITEMS_PER_FRAME) {
        send({ type: 'release', lease, ranges: ranges.slice(i, i + MAX_ITEMS_PER_FRAME) });
      }
    }
  }
}

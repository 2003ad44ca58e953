/**
 * Notices handler runs still going past their lease's deadline (docs/architecture.md, "Worker"): the
 * manager has counted the attempt as failed and will run those heights again, so a handler that
 * outlasts BLOCKRUNNER_LEASE_MS wastes its work, and the worker says so, once per run. A deadline
 * is counted from the dispatch's arrival, a little after the manager's grant. One timer, for the
 * earliest deadline of what runs or waits to run, re-armed when it fires; unref'd, so it never
 * keeps a worker alive.
 */

export interface WatchedRun {
  readonly leaseDeadline: number;
  /** The loop's link generation when the run started: a run of an older link is not watched. */
  readonly link: number;
  /** Set once the run was reported overdue. */
  overdue: boolean;
}

export interface LeaseWatchSource<R extends WatchedRun> {
  running(): Iterable<R>;
  /** Deadlines of dispatched heights not started yet. */
  waitingDeadlines(): Iterable<number>;
  link(): number;
  overdue(run: R, now: number): void;
}

export class LeaseWatch<R extends WatchedRun> {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly source: LeaseWatchSource<R>) {}

  /** A dispatch arrived with this deadline: the timer fires by it. */
  watch(deadline: number): void {
    this.timer ??= this.arm(deadline);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(deadline: number): NodeJS.Timeout {
    const timer = setTimeout(this.check, Math.max(0, deadline - performance.now()));
    timer.unref();
    return timer;
  }

  private readonly check = (): void => {
    this.timer = undefined;
    const now = performance.now();
    const link = this.source.link();
    let next = Number.POSITIVE_INFINITY;
    for (const run of this.source.running()) {
      if (run.overdue || run.link !== link) continue;
      if (run.leaseDeadline <= now) {
        run.overdue = true;
        this.source.overdue(run, now);
      } else {
        next = Math.min(next, run.leaseDeadline);
      }
    }
    // Heights not started past their deadline are the manager's to cancel: no re-arm for them.
    for (const deadline of this.source.waitingDeadlines()) {
      if (deadline > now) next = Math.min(next, deadline);
    }
    if (next !== Number.POSITIVE_INFINITY) this.timer = this.arm(next);
  };
}

/**
 * Warn lines for failed handler calls (docs/observability.md, "Logs"), at most
 * FAILURES_LOGGED_PER_SECOND per worker: a node that is down fails every height at once, and a
 * line per height would bury everything else. Failures past the limit are counted, and one line
 * says how many were not logged once the second is over (or at close()).
 */
import type { Logger } from '../shared/logger.js';

export const FAILURES_LOGGED_PER_SECOND = 10;
const WINDOW_MS = 1_000;

export interface FailureFields {
  queue: string;
  height: number;
  attempt: number;
  lease: number;
  err: string;
  /** `rate-limited`: the node said so; the manager counts no attempt for it. */
  kind?: 'rate-limited';
}

export class FailureLog {
  private windowStart = 0;
  private logged = 0;
  private suppressed = 0;
  /** Reports the suppressed count at the end of the window in which the first was suppressed. */
  private summaryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly perSecond = FAILURES_LOGGED_PER_SECOND,
    private readonly now: () => number = Date.now,
  ) {}

  failed(fields: FailureFields): void {
    const now = this.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.windowStart = now;
      this.logged = 0;
    }
    if (this.logged < this.perSecond) {
      this.logged++;
      this.log.warn(fields, 'handler failed');
      return;
    }
    this.suppressed++;
    if (!this.summaryTimer) {
      const left = Math.max(0, this.windowStart + WINDOW_MS - now);
      this.summaryTimer = setTimeout(() => this.report(), left);
      this.summaryTimer.unref();
    }
  }

  /** Says how many failures were not logged, if any, and clears the timer. */
  close(): void {
    this.report();
  }

  private report(): void {
    if (this.summaryTimer) clearTimeout(this.summaryTimer);
    this.summaryTimer = undefined;
    if (this.suppressed === 0) return;
    this.log.warn(
      { suppressed: this.suppressed, perSecond: this.perSecond },
      'more handlers failed than are logged per second: these were not logged',
    );
    this.suppressed = 0;
  }
}

// A queue's rate and ETA as the dashboard shows them (docs/dashboard.md, "Rate and ETA"): done
// heights per second over a sliding window of the snapshots the page received, a window that
// starts when the run does. Pure: no DOM, so test/manager/dashboard/progress-rate.test.ts runs
// it in Node. Its types are in progress-rate.d.ts beside it.

/** The window: rate over at most the last 20 s of snapshots. */
export const RATE_WINDOW_MS = 20_000;
/** No rate (and no ETA) until the window spans this much: one snapshot interval. */
export const MIN_RATE_SPAN_MS = 1_000;
/** Progress after this long without any starts a new run: the window restarts there. */
export const IDLE_RESTART_MS = 5_000;

export class RateWindow {
  constructor(windowMs = RATE_WINDOW_MS) {
    this.windowMs = windowMs;
    /** {at, done}, oldest first: `at` is the snapshot's server time in ms. */
    this.samples = [];
    /** When `done` last grew; undefined before any progress was seen. */
    this.lastProgressAt = undefined;
  }

  /** One snapshot's done count of the queue, at the snapshot's time `at` (ms). */
  add(at, done) {
    const last = this.samples.at(-1);
    // The same snapshot again (a reconnect sends the latest at once), or an older one.
    if (last && at <= last.at) return;
    // Fewer done than before: heights enqueued again by force, or the queue deleted and made
    // anew. Either way a new run.
    if (last && done < last.done) {
      this.samples = [];
      this.lastProgressAt = undefined;
    }
    const previous = this.samples.at(-1);
    if (previous && done > previous.done) {
      // The first progress seen, or the first after a pause: the run starts at the last
      // snapshot without progress, so one second in the rate is that second's.
      const idle =
        this.lastProgressAt === undefined || previous.at - this.lastProgressAt >= IDLE_RESTART_MS;
      if (idle) this.samples = [previous];
      this.lastProgressAt = at;
    }
    this.samples.push({ at, done });
    // Keep one sample at or before the window's start, so the window spans all of it.
    while (this.samples.length > 2 && this.samples[1].at <= at - this.windowMs)
      this.samples.shift();
  }

  /** Done heights per second over the window; null until it spans MIN_RATE_SPAN_MS. */
  perSecond() {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || last.at - first.at < MIN_RATE_SPAN_MS) return null;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }
}

/**
 * Seconds until `open` heights (pending, leased, retrying) are done at `perSecond`: 0 when
 * none is open, null when there is no rate to tell (none yet, or nothing moves).
 */
export function etaSeconds(open, perSecond) {
  if (open === 0) return 0;
  if (perSecond === null || !(perSecond > 0)) return null;
  return open / perSecond;
}

/**
 * Done heights per second over the last minute, kept in one-second buckets. A run that began
 * less than a minute ago is measured over its own time: the span starts at the first height
 * done after a minute without any (so the rate and the ETA that `status` derives from it are
 * right one second into a run, not diluted by the idle minute before it).
 */
const WINDOW_SECONDS = 60;
const WINDOW_MS = WINDOW_SECONDS * 1000;

export class RateMeter {
  private readonly buckets = new Float64Array(WINDOW_SECONDS);
  private readonly bucketSecond = new Float64Array(WINDOW_SECONDS).fill(-1);
  /** When the current run of activity began; undefined before the first height. */
  private activeSince: number | undefined;
  private lastRecord = Number.NEGATIVE_INFINITY;

  constructor(private readonly now: () => number = Date.now) {}

  record(count: number): void {
    const now = this.now();
    if (now - this.lastRecord > WINDOW_MS) this.activeSince = now;
    this.lastRecord = now;
    const second = Math.floor(now / 1000);
    const slot = second % WINDOW_SECONDS;
    if (this.bucketSecond[slot] !== second) {
      this.bucketSecond[slot] = second;
      this.buckets[slot] = 0;
    }
    this.buckets[slot] = (this.buckets[slot] ?? 0) + count;
  }

  /** Per second over the last minute, or since the current run began when that is shorter. */
  perSecond(): number {
    if (this.activeSince === undefined) return 0;
    const now = this.now();
    const second = Math.floor(now / 1000);
    let total = 0;
    for (let slot = 0; slot < WINDOW_SECONDS; slot++) {
      const at = this.bucketSecond[slot] ?? -1;
      if (at > second - WINDOW_SECONDS && at <= second) total += this.buckets[slot] ?? 0;
    }
    const span = Math.min(WINDOW_SECONDS, Math.max(1, (now - this.activeSince) / 1000));
    return Math.round((total / span) * 10) / 10;
  }
}

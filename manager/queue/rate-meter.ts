/** Done heights per second over the last minute, kept in one-second buckets. */
const WINDOW_SECONDS = 60;

export class RateMeter {
  private readonly buckets = new Float64Array(WINDOW_SECONDS);
  private readonly bucketSecond = new Float64Array(WINDOW_SECONDS).fill(-1);
  private readonly startedAt: number;

  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
  }

  record(count: number): void {
    const second = Math.floor(this.now() / 1000);
    const slot = second % WINDOW_SECONDS;
    if (this.bucketSecond[slot] !== second) {
      this.bucketSecond[slot] = second;
      this.buckets[slot] = 0;
    }
    this.buckets[slot] = (this.buckets[slot] ?? 0) + count;
  }

  /** Per second over the last minute, or over the uptime when that is shorter. */
  perSecond(): number {
    const now = this.now();
    const second = Math.floor(now / 1000);
    let total = 0;
    for (let slot = 0; slot < WINDOW_SECONDS; slot++) {
      const at = this.bucketSecond[slot] ?? -1;
      if (at > second - WINDOW_SECONDS && at <= second) total += this.buckets[slot] ?? 0;
    }
    const span = Math.min(WINDOW_SECONDS, Math.max(1, (now - this.startedAt) / 1000));
    return Math.round((total / span) * 10) / 10;
  }
}

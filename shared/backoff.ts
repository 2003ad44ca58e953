/**
 * Capped exponential backoff with "equal jitter", for one thing only: when a failed height is
 * due for its next attempt (manager/dispatch/dispatcher.ts; docs/api.md, `retrying`). That is a
 * time kept with the height, not a loop waiting on a timer. Every loop that retries (reconnects,
 * commits, the leader lock, crashed children) goes through shared/retry.ts instead, whose
 * policies name their own backoff.
 */

export interface BackoffOptions {
  /** Ceiling of the first attempt's delay, in ms. */
  baseMs: number;
  /** Largest ceiling, in ms, however many attempts failed. */
  maxMs: number;
  /** Growth of the ceiling per attempt. Default 2. */
  factor?: number;
}

/**
 * The delay before retrying after `attempt` failures (attempt >= 1), in whole ms.
 * The ceiling is min(maxMs, baseMs * factor^(attempt - 1)); the delay is "equal jitter":
 * uniform in [ceiling / 2, ceiling], so retries spread out yet never come sooner than half the
 * ceiling. A huge attempt gives the cap, never Infinity or NaN. `random` returns [0, 1).
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const { baseMs, maxMs, factor = 2 } = options;
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`attempt must be an integer >= 1, got ${attempt}`);
  }
  if (!(baseMs >= 0 && Number.isFinite(baseMs)) || !(maxMs >= 0 && Number.isFinite(maxMs))) {
    throw new RangeError(`baseMs and maxMs must be finite and >= 0, got ${baseMs} and ${maxMs}`);
  }
  if (!(factor >= 1 && Number.isFinite(factor))) {
    throw new RangeError(`factor must be finite and >= 1, got ${factor}`);
  }
  // factor ** huge is Infinity, and min() turns that into maxMs; baseMs 0 would make 0 * Infinity
  // NaN, hence the separate case.
  const ceiling = baseMs === 0 ? 0 : Math.min(maxMs, baseMs * factor ** (attempt - 1));
  const half = ceiling / 2;
  return Math.round(half + half * Math.min(1, Math.max(0, random())));
}

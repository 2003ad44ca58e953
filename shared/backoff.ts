/**
 * Capped exponential backoff with "equal jitter", for one thing only: when a failed height is
 * due for its next attempt (manager/dispatch/dispatcher.ts; docs/api.md, `retrying`). That is a
 * time kept with the height, not a loop waiting on a timer. Every loop that retries (reconnects,
 * commits, the leader lock, crashed children) goes through shared/retry.ts instead, whose
 * policies name their own backoff.
 */

import { retryDelay } from './retry.js';

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
  // The same formula as the retry policies' `equal` jitter: one implementation of the math.
  return retryDelay({ ...options, jitter: 'equal' }, attempt, random);
}

/**
 * Every loop of Blockrunner that retries goes through `retry()`, and every loop's backoff is
 * named in RETRY_POLICIES below: worker reconnects (worker/reconnect.ts), crashed children
 * (worker/supervisor.ts), commits (manager/store/write-behind.ts), the leader lock taken again
 * and the standby's wait for it (manager/store/leader-lock.ts). The delays they wait are the ones
 * docs/operations.md, docs/workers.md and docs/protocol.md describe: change both together.
 *
 * shared/backoff.ts's `backoffDelay` serves what is not a loop: when a failed height is due again
 * (manager/dispatch/dispatcher.ts; docs/api.md, `retrying`), a time kept with the height that the
 * dispatcher schedules by, no attempt retried in place.
 *
 * p-retry runs the attempts, numbers them, keeps the budget (`retries`) and stops on the
 * AbortSignal. What this wrapper adds:
 * - the delay is computed here and waited in p-retry's `onFailedAttempt` (with `minTimeout` 0
 *   p-retry sets no timer of its own), since p-retry does not report the delay it picks and the
 *   loops' log lines name it;
 * - `shouldRetry` is asked before that delay, so a loop that gives up does not wait first;
 * - every failure is retried unless `shouldRetry` says no: p-retry alone gives up on a TypeError,
 *   and a background loop must keep going or stop cleanly, never end on a bug in one attempt;
 * - an attempt that succeeded while the signal aborted counts as a success, since what it did
 *   (a commit, a lock taken) happened; p-retry alone would reject.
 * The signal is required: whoever aborts it (a stop, a close) ends the delay timer at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';

/**
 * How the delay after a failure spreads around step(n) = baseMs * factor^(n - 1), n >= 1 the
 * failures counted so far:
 * - `equal`: uniform in [c / 2, c], c = min(maxMs, step(n)): spread out, never sooner than half;
 * - `up-to-double`: min(maxMs, step(n) * a random 1..2), p-retry's `randomize`;
 * - `none`: min(maxMs, step(n)) exactly.
 */
export type Jitter = 'equal' | 'up-to-double' | 'none';

export interface RetryPolicy {
  /** step(1), in ms. */
  baseMs: number;
  /** Largest delay, in ms, however many attempts failed. */
  maxMs: number;
  /** Growth of the step per failure. Default 2. */
  factor?: number;
  /** Default `equal`. */
  jitter?: Jitter;
}

/** The backoff of every retrying loop, in one place. */
export const RETRY_POLICIES = {
  /** A worker's link to a manager: 100 ms doubling to 10 s, each delay times a random 1..2. */
  reconnect: { baseMs: 100, maxMs: 10_000, factor: 2, jitter: 'up-to-double' },
  /** A failed commit: up to 2 s between attempts (docs/operations.md). */
  commit: { baseMs: 50, maxMs: 2_000, factor: 2, jitter: 'equal' },
  /** The leader taking its lock again on a new connection: up to 5 s (docs/operations.md). */
  leaderLock: { baseMs: 100, maxMs: 5_000, factor: 2, jitter: 'equal' },
  /** A standby polling for the leader lock every second (docs/operations.md). */
  standby: { baseMs: 1_000, maxMs: 1_000, factor: 1, jitter: 'none' },
  /** A chain source's node failing (unreachable, 429, malformed): up to 30 s (docs/chains.md). */
  rpc: { baseMs: 200, maxMs: 30_000, factor: 2, jitter: 'equal' },
  /** A crashed child replaced after 100 ms doubling to 5 s, per child (docs/workers.md). */
  childRestart: { baseMs: 100, maxMs: 5_000, factor: 2, jitter: 'equal' },
} as const satisfies Record<string, RetryPolicy>;

/**
 * The delay, in whole ms, after `failures` failures (an integer >= 1) under `policy`. A huge
 * count gives the cap, never Infinity or NaN. `random` returns [0, 1).
 */
export function retryDelay(
  policy: RetryPolicy,
  failures: number,
  random: () => number = Math.random,
): number {
  const { baseMs, maxMs, factor = 2, jitter = 'equal' } = policy;
  if (!Number.isInteger(failures) || failures < 1) {
    throw new RangeError(`failures must be an integer >= 1, got ${failures}`);
  }
  if (!(baseMs >= 0 && Number.isFinite(baseMs)) || !(maxMs >= 0 && Number.isFinite(maxMs))) {
    throw new RangeError(`baseMs and maxMs must be finite and >= 0, got ${baseMs} and ${maxMs}`);
  }
  if (!(factor >= 1 && Number.isFinite(factor))) {
    throw new RangeError(`factor must be finite and >= 1, got ${factor}`);
  }
  // factor ** huge is Infinity, which min() caps; baseMs 0 would make 0 * Infinity NaN.
  const step = baseMs === 0 ? 0 : baseMs * factor ** (failures - 1);
  const r = Math.min(1, Math.max(0, random()));
  switch (jitter) {
    case 'equal': {
      const half = Math.min(maxMs, step) / 2;
      return Math.round(half + half * r);
    }
    case 'up-to-double':
      return Math.round(Math.min(maxMs, step * (1 + r)));
    case 'none':
      return Math.round(Math.min(maxMs, step));
  }
}

/** One failed attempt, as the hooks of `retry()` see it. */
export interface FailedAttempt {
  /** What the attempt threw (a thrown non-Error is wrapped in one). */
  error: Error;
  /** 1 for the first attempt of this run. */
  attemptNumber: number;
}

export interface RetryOptions {
  /** The backoff between attempts, one of RETRY_POLICIES in the product. */
  policy: RetryPolicy;
  /** Aborting it ends the run, a delay at once: `retry()` rejects with `signal.reason`. */
  signal: AbortSignal;
  /** Retries after the first attempt before giving up. Default Infinity: never gives up. */
  retries?: number;
  /** Asked first after each failure; false ends the run with the failure's error. Default true. */
  shouldRetry?: (failure: FailedAttempt) => boolean;
  /**
   * Which step of the policy this failure waits. Default `attemptNumber`: the failures of this
   * run. The supervisor counts a child's crashes within its window instead.
   */
  failures?: (failure: FailedAttempt) => number;
  /** Called for a failure that will be retried, with the delay about to be waited: to log it. */
  onFailedAttempt?: (failure: FailedAttempt & { delayMs: number }) => void;
  /** The delay timer does not keep the process alive. Default false. */
  unref?: boolean;
  /** For tests; default Math.random. */
  random?: () => number;
}

/** What an attempt threw, carried through p-retry so that p-retry never gives up on its own. */
class AttemptFailed extends Error {
  readonly failure: Error;
  constructor(thrown: unknown) {
    const failure = thrown instanceof Error ? thrown : new Error(`non-error thrown: ${thrown}`);
    super(failure.message, { cause: failure });
    this.failure = failure;
  }
}

const unwrap = <E>(error: E): E | Error => (error instanceof AttemptFailed ? error.failure : error);

/**
 * Calls `attempt` until it resolves, waiting `policy`'s delay after each failure; resolves with
 * what it resolved with. Rejects with `signal.reason` once the signal aborted, or with the last
 * failure's error once `retries` are spent or `shouldRetry` said no.
 */
export async function retry<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const { policy, signal, retries = Number.POSITIVE_INFINITY, unref = false } = options;
  let succeeded: { value: T } | undefined;
  try {
    return await pRetry(
      async (attemptNumber) => {
        try {
          const value = await attempt(attemptNumber);
          succeeded = { value };
          return value;
        } catch (error) {
          throw new AttemptFailed(error);
        }
      },
      {
        retries,
        signal,
        minTimeout: 0,
        onFailedAttempt: async (context) => {
          signal.throwIfAborted();
          const failure = { error: unwrap(context.error), attemptNumber: context.attemptNumber };
          if (context.retriesLeft <= 0 || !(options.shouldRetry?.(failure) ?? true)) {
            throw failure.error;
          }
          const failures = options.failures?.(failure) ?? failure.attemptNumber;
          const delayMs = retryDelay(policy, failures, options.random);
          options.onFailedAttempt?.({ ...failure, delayMs });
          // Rejects with signal.reason, as p-retry does, rather than the timer's AbortError.
          await sleep(delayMs, undefined, { signal, ref: !unref }).catch((error: unknown) => {
            signal.throwIfAborted();
            throw error;
          });
        },
      },
    );
  } catch (error) {
    if (succeeded) return succeeded.value;
    throw unwrap(error);
  }
}

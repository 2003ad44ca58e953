/**
 * The retry wrapper every retrying loop goes through, with tiny delays: the policies' delays, a
 * run that ends by success, by `shouldRetry`, by its budget or by its signal, and the failures
 * p-retry alone would not retry.
 */
import { describe, expect, it } from 'vitest';
import {
  type FailedAttempt,
  RETRY_POLICIES,
  type RetryPolicy,
  retry,
  retryDelay,
} from '../../shared/retry.js';

const tiny: RetryPolicy = { baseMs: 1, maxMs: 4 };
const slow: RetryPolicy = { baseMs: 60_000, maxMs: 60_000, jitter: 'none' };

/** An attempt that fails `failures` times (with what `fail` makes), then resolves `value`. */
function failing<T>(failures: number, value: T, fail: (n: number) => unknown = (n) => n) {
  const calls: number[] = [];
  const attempt = async (attemptNumber: number): Promise<T> => {
    calls.push(attemptNumber);
    if (calls.length <= failures) throw fail(calls.length);
    return value;
  };
  return { attempt, calls };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('retryDelay', () => {
  it('equal jitter: uniform in [ceiling / 2, ceiling], the ceiling doubling up to the cap', () => {
    const policy = { baseMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelay(policy, n, () => 0))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    expect([1, 2, 3, 4, 5].map((n) => retryDelay(policy, n, () => 0.999))).toEqual([
      100, 200, 400, 800, 1_000,
    ]);
  });

  it('up-to-double: the step times a random 1..2, capped', () => {
    const { reconnect } = RETRY_POLICIES;
    expect([1, 2, 3].map((n) => retryDelay(reconnect, n, () => 0))).toEqual([100, 200, 400]);
    expect(retryDelay(reconnect, 1, () => 0.5)).toBe(150);
    expect(retryDelay(reconnect, 7, () => 0)).toBe(6_400);
    expect(retryDelay(reconnect, 7, () => 0.999)).toBe(10_000);
  });

  it('none: the step exactly, capped; factor 1 is a fixed poll', () => {
    const policy: RetryPolicy = { baseMs: 10, maxMs: 50, factor: 3, jitter: 'none' };
    expect([1, 2, 3].map((n) => retryDelay(policy, n, () => 0.7))).toEqual([10, 30, 50]);
    expect([1, 2, 100].map((n) => retryDelay(RETRY_POLICIES.standby, n))).toEqual([
      1_000, 1_000, 1_000,
    ]);
  });

  it('gives the capped delay for a huge failure count, never Infinity or NaN', () => {
    for (const jitter of ['equal', 'up-to-double', 'none'] as const) {
      const policy = { baseMs: 50, maxMs: 2_000, jitter };
      const capped = retryDelay(policy, 40, () => 0.5);
      expect(capped).toBeGreaterThanOrEqual(1_000);
      expect(capped).toBeLessThanOrEqual(2_000);
      for (const failures of [1_025, 1e6, Number.MAX_SAFE_INTEGER]) {
        expect(retryDelay(policy, failures, () => 0.5)).toBe(capped);
      }
      expect(retryDelay({ baseMs: 0, maxMs: 100, jitter }, 1e6, () => 0.5)).toBe(0);
    }
  });

  it('keeps every policy within its documented cap', () => {
    const caps: Record<keyof typeof RETRY_POLICIES, number> = {
      reconnect: 10_000,
      commit: 2_000,
      leaderLock: 5_000,
      standby: 1_000,
      rpc: 30_000,
      childRestart: 5_000,
    };
    for (const [name, policy] of Object.entries(RETRY_POLICIES)) {
      for (let failures = 1; failures <= 40; failures++) {
        const delay = retryDelay(policy, failures, () => 0.999);
        expect(delay, name).toBeLessThanOrEqual(caps[name as keyof typeof caps]);
      }
    }
  });

  it('rejects a failure count below 1 and bad policies', () => {
    expect(() => retryDelay(tiny, 0)).toThrow(RangeError);
    expect(() => retryDelay(tiny, 1.5)).toThrow(RangeError);
    expect(() => retryDelay({ baseMs: -1, maxMs: 10 }, 1)).toThrow(RangeError);
    expect(() => retryDelay({ baseMs: 1, maxMs: Number.POSITIVE_INFINITY }, 1)).toThrow(RangeError);
    expect(() => retryDelay({ baseMs: 1, maxMs: 10, factor: 0.5 }, 1)).toThrow(RangeError);
  });
});

describe('retry', () => {
  it('retries until the attempt resolves, reporting each failure with the delay it waits', async () => {
    const { attempt, calls } = failing(3, 'done', (n) => new Error(`failure ${n}`));
    const seen: Array<FailedAttempt & { delayMs: number; at: number }> = [];
    const result = await retry(attempt, {
      policy: { baseMs: 8, maxMs: 20 },
      signal: new AbortController().signal,
      random: () => 0,
      onFailedAttempt: (failure) => seen.push({ ...failure, at: performance.now() }),
    });
    const finished = performance.now();
    expect(result).toBe('done');
    expect(calls).toEqual([1, 2, 3, 4]);
    expect(seen.map((f) => [f.attemptNumber, f.error.message, f.delayMs])).toEqual([
      [1, 'failure 1', 4],
      [2, 'failure 2', 8],
      [3, 'failure 3', 10],
    ]);
    // The three delays were waited: from the first report to the end at least 4 + 8 + 10 ms.
    expect(finished - (seen[0]?.at as number)).toBeGreaterThanOrEqual(4 + 8 + 10 - 2);
  });

  it('retries what p-retry alone gives up on: TypeErrors and non-errors', async () => {
    const errors: Error[] = [];
    const { attempt, calls } = failing(2, 7, (n) => (n === 1 ? new TypeError('bug') : 'text'));
    const result = await retry(attempt, {
      policy: tiny,
      signal: new AbortController().signal,
      onFailedAttempt: ({ error }) => errors.push(error),
    });
    expect(result).toBe(7);
    expect(calls).toHaveLength(3);
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(errors[1]?.message).toContain('text');
  });

  it('gives up with the failure when shouldRetry says no, without waiting first', async () => {
    const failure = new Error('for good');
    const reported: number[] = [];
    const started = performance.now();
    await expect(
      retry(
        async (n) => {
          throw n === 2 ? failure : new Error('passing');
        },
        {
          policy: { baseMs: 10, maxMs: 10, jitter: 'none' },
          signal: new AbortController().signal,
          shouldRetry: ({ error }) => error !== failure,
          onFailedAttempt: ({ attemptNumber }) => reported.push(attemptNumber),
        },
      ),
    ).rejects.toBe(failure);
    expect(reported).toEqual([1]);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('gives up with the last failure once `retries` are spent', async () => {
    const { attempt, calls } = failing(10, 'never', (n) => new Error(`failure ${n}`));
    const reported: number[] = [];
    await expect(
      retry(attempt, {
        policy: tiny,
        signal: new AbortController().signal,
        retries: 2,
        onFailedAttempt: ({ attemptNumber }) => reported.push(attemptNumber),
      }),
    ).rejects.toThrow('failure 3');
    expect(calls).toEqual([1, 2, 3]);
    expect(reported).toEqual([1, 2]);
  });

  it('takes the step of the delay from `failures` when given', async () => {
    const delays: number[] = [];
    await retry(failing(2, null).attempt, {
      policy: { baseMs: 2, maxMs: 100, jitter: 'none' },
      signal: new AbortController().signal,
      failures: () => 3,
      onFailedAttempt: ({ delayMs }) => delays.push(delayMs),
    });
    expect(delays).toEqual([8, 8]);
  });

  it('an abort ends a delay at once, rejecting with the reason, and nothing runs after', async () => {
    const controller = new AbortController();
    const { attempt, calls } = failing(Number.POSITIVE_INFINITY, null);
    const reason = new Error('closing');
    const run = retry(attempt, {
      policy: slow,
      signal: controller.signal,
      onFailedAttempt: () => controller.abort(reason),
    });
    const started = performance.now();
    await expect(run).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(calls).toEqual([1]);
  });

  it('does not start once aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('already stopped'));
    const { attempt, calls } = failing(0, 1);
    await expect(retry(attempt, { policy: tiny, signal: controller.signal })).rejects.toThrow(
      'already stopped',
    );
    expect(calls).toEqual([]);
  });

  it('an attempt in flight at the abort: its failure ends the run, its success stands', async () => {
    const reason = new Error('stop');
    const reported: number[] = [];

    const failingRun = new AbortController();
    const failure = deferred<void>();
    const failed = retry(() => failure.promise, {
      policy: tiny,
      signal: failingRun.signal,
      onFailedAttempt: ({ attemptNumber }) => reported.push(attemptNumber),
    });
    failingRun.abort(reason);
    failure.reject(new Error('connection refused'));
    await expect(failed).rejects.toBe(reason);
    expect(reported).toEqual([]);

    const succeedingRun = new AbortController();
    const success = deferred<string>();
    const succeeded = retry(() => success.promise, {
      policy: tiny,
      signal: succeedingRun.signal,
    });
    succeedingRun.abort(reason);
    success.resolve('committed');
    await expect(succeeded).resolves.toBe('committed');
  });

  it('rejects with a throw from a hook, ending the run', async () => {
    const { attempt, calls } = failing(5, null);
    await expect(
      retry(attempt, {
        policy: tiny,
        signal: new AbortController().signal,
        onFailedAttempt: () => {
          throw new Error('logger broke');
        },
      }),
    ).rejects.toThrow('logger broke');
    expect(calls).toEqual([1]);
  });
});

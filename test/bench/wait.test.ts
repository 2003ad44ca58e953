import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../bench/wait.js';

describe('waitUntil', () => {
  it('resolves with the first value that is neither undefined nor false', async () => {
    let probes = 0;
    const value = await waitUntil(() => ++probes === 3 && 'ready', {
      timeoutMs: 5_000,
      intervalMs: 1,
      message: 'the third probe',
    });
    expect(value).toBe('ready');
    expect(probes).toBe(3);
  });

  it('asks a pause function with the time waited so far, growing, before each next probe', async () => {
    const asked: number[] = [];
    let probes = 0;
    await waitUntil(() => ++probes === 4, {
      timeoutMs: 5_000,
      intervalMs: (elapsedMs) => {
        asked.push(elapsedMs);
        return 2;
      },
      message: 'the fourth probe',
    });
    expect(asked).toHaveLength(3);
    expect(asked[0]).toBeGreaterThanOrEqual(0);
    for (let i = 1; i < asked.length; i++) {
      expect(asked[i] as number).toBeGreaterThanOrEqual((asked[i - 1] as number) + 1);
    }
  });

  it('times out with the message read at the timeout, not when the wait began', async () => {
    let seen = 0;
    const failure = await waitUntil(
      () => {
        seen++;
        return false;
      },
      { timeoutMs: 30, intervalMs: 5, message: () => `${seen} probes` },
    ).catch((error: Error) => error);
    expect(seen).toBeGreaterThan(1);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe(`timed out after 30 ms waiting for ${seen} probes`);
  });

  it('stops at once when a probe throws', async () => {
    await expect(
      waitUntil(
        () => {
          throw new Error('the process died');
        },
        { timeoutMs: 5_000, message: 'never' },
      ),
    ).rejects.toThrow('the process died');
  });
});

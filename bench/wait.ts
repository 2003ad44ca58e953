/** Waiting for a condition another process makes true, with a deadline and a reason on failure. */
import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs: number;
  /**
   * Pause between two probes: a number, or a function of the time since the wait began, for
   * probes that should come sparse while the end is far. Default 20.
   */
  intervalMs?: number | ((elapsedMs: number) => number);
  /** What was awaited, in words, for the timeout error; a function reads it at the timeout. */
  message: string | (() => string);
}

/**
 * Calls `probe` until it returns a value other than undefined or false. A probe that throws
 * stops the wait at once: probes throw for what will not get better (a process that died).
 */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs, intervalMs = 20, message }: WaitOptions,
): Promise<T> {
  const started = performance.now();
  const deadline = started + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    const now = performance.now();
    if (now >= deadline) {
      const awaited = typeof message === 'function' ? message() : message;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${awaited}`);
    }
    await delay(typeof intervalMs === 'function' ? intervalMs(now - started) : intervalMs);
  }
}

/** Waiting for a condition another process makes true, with a deadline and a reason on failure. */
import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs: number;
  /** Pause between two probes. Default 20. */
  intervalMs?: number;
  /** What was awaited, in words, for the timeout error. */
  message: string;
}

/**
 * Calls `probe` until it returns a value other than undefined or false. A probe that throws
 * stops the wait at once: probes throw for what will not get better (a process that died).
 */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs, intervalMs = 20, message }: WaitOptions,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    }
    await delay(intervalMs);
  }
}

/**
 * Polling with a deadline, for conditions another process makes true (a height done, a worker
 * gone). Tests wait for the condition itself rather than sleeping for a guessed time.
 */

export interface WaitOptions {
  /** How long to keep probing before giving up. */
  timeoutMs: number;
  /** Pause between two probes. Default 25. */
  intervalMs?: number;
  /** What was awaited, in words: the first part of the error on timeout. */
  message: string;
}

/**
 * Calls `probe` until it returns a truthy value and resolves with that value. A probe that
 * throws is retried like one that returns nothing; on the deadline the error names `message`
 * and carries the last value or error the probe gave, which usually says why.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs, intervalMs = 25, message }: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: { value: unknown } | { error: unknown } | undefined;
  let probes = 0;
  for (;;) {
    probes += 1;
    try {
      const value = await probe();
      if (value) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, left)));
  }
  const lastText =
    last === undefined
      ? 'nothing'
      : 'error' in last
        ? `error ${describe(last.error)}`
        : `value ${preview(last.value)}`;
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${message} (${probes} probes; last: ${lastText})`,
    { cause: last !== undefined && 'error' in last ? last.error : undefined },
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : preview(error);
}

function preview(value: unknown): string {
  let text: string;
  try {
    text = value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > 500 ? `${text.slice(0, 500)}...` : text;
}

/**
 * A test-local stand-in for an RPC provider with a rate limit (test/fixtures/
 * rate-limited-provider.mjs), run as a process of its own on 127.0.0.1 so that the times it
 * records are not delayed by the test runner's work: 200, or 429 once `limit` calls were
 * accepted within the last second. `collect()` reads what it recorded; the other methods work
 * on that.
 */
import { fileURLToPath } from 'node:url';
import { spawnTracked, type TrackedProcess } from './processes.js';
import { waitFor } from './wait.js';

const SCRIPT = fileURLToPath(new URL('../fixtures/rate-limited-provider.mjs', import.meta.url));

export interface ProviderCall {
  /** Epoch milliseconds, sub-millisecond (performance.timeOrigin + performance.now()). */
  at: number;
  status: 200 | 429;
}

export class RateLimitedProvider {
  calls: ProviderCall[] = [];
  url = '';
  private process: TrackedProcess | undefined;

  constructor(private readonly limit: number) {}

  async start(): Promise<void> {
    const tracked = spawnTracked(
      process.execPath,
      [SCRIPT],
      { TEST_PROVIDER_LIMIT: String(this.limit) },
      'rate-limited provider',
    );
    this.process = tracked;
    const port = await waitFor(
      () => {
        for (const line of tracked.logs()) {
          const match = /^provider listening (\d+)$/.exec(line);
          if (match) return match[1];
        }
        return undefined;
      },
      { timeoutMs: 10_000, message: 'the provider to listen' },
    );
    this.url = `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    await this.process?.stop('SIGTERM', 5_000);
  }

  /** Reads every call the provider recorded so far. */
  async collect(): Promise<void> {
    const response = await fetch(`${this.url}/__calls`);
    this.calls = (await response.json()) as ProviderCall[];
  }

  /** Forgets every call so far (a warm-up that is not measured). */
  async reset(): Promise<void> {
    await fetch(`${this.url}/__reset`, { method: 'POST' });
    this.calls = [];
  }

  /** The most calls (any answer) within any window of `windowMs` between `from` and `to`. */
  busiestWindow(from = 0, to = Number.POSITIVE_INFINITY, windowMs = 1_000): number {
    const times = this.calls.map((call) => call.at).filter((at) => at >= from && at <= to);
    let best = 0;
    let first = 0;
    for (let last = 0; last < times.length; last++) {
      while ((times[last] as number) - (times[first] as number) >= windowMs) first++;
      best = Math.max(best, last - first + 1);
    }
    return best;
  }

  count(status: 200 | 429, from = 0, to = Number.POSITIVE_INFINITY): number {
    return this.calls.filter((call) => call.status === status && call.at >= from && call.at <= to)
      .length;
  }

  /** Calls per second since `start` as `second: accepted+rejected`, for assertion messages. */
  describe(start: number): string {
    const seconds = new Map<number, [number, number]>();
    for (const call of this.calls) {
      const second = Math.floor((call.at - start) / 1000);
      const counts = seconds.get(second) ?? [0, 0];
      counts[call.status === 200 ? 0 : 1]++;
      seconds.set(second, counts);
    }
    const parts = [...seconds].map(([second, [ok, limited]]) => `${second}s: ${ok}+${limited}`);
    return `calls per second (accepted+429): ${parts.join(', ')}`;
  }
}

/**
 * A test-local stand-in for an RPC provider with a rate limit: an HTTP server on 127.0.0.1 that
 * answers 200, or 429 once `limit` calls were accepted within the last second (a sliding
 * window), and records when every call arrived.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProviderCall {
  at: number;
  status: 200 | 429;
}

export class RateLimitedProvider {
  readonly calls: ProviderCall[] = [];
  private readonly accepted: number[] = [];
  private server: Server | undefined;
  url = '';

  constructor(private readonly limit: number) {}

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const at = performance.now();
      while (this.accepted.length > 0 && (this.accepted[0] as number) <= at - 1_000)
        this.accepted.shift();
      const status = this.accepted.length >= this.limit ? 429 : 200;
      if (status === 200) this.accepted.push(at);
      this.calls.push({ at, status });
      request.resume();
      response.writeHead(status, { 'content-type': 'text/plain' }).end(String(status));
    });
    this.server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** Forgets every call so far (a warm-up that is not measured). */
  reset(): void {
    this.calls.length = 0;
    this.accepted.length = 0;
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

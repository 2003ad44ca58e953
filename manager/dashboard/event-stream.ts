/**
 * Server-Sent Events for the dashboard (docs/dashboard.md): one timer, started by the first
 * client and stopped with the last, builds a snapshot once per tick and writes the same text
 * to every client, so the cost is per tick, never per height or per client query.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../../shared/logger.js';

export interface EventStreamOptions {
  /** What each tick sends; called once per tick whatever the number of clients. */
  snapshot: () => unknown;
  intervalMs: number;
  log: Logger;
}

/** EventSource reconnects this long after the stream ends (a manager restart). */
const RECONNECT_MS = 1_000;

export class EventStream {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: EventStreamOptions) {}

  get clientCount(): number {
    return this.clients.size;
  }

  /** Takes over a response (already hijacked from Fastify) and streams to it until it closes. */
  add(response: ServerResponse): void {
    if (this.closed) {
      response.writeHead(503, { 'content-type': 'text/plain' }).end('stopping');
      return;
    }
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Proxies such as nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
      // The socket closes with the stream: a client that stopped reading without closing
      // (a cancelled fetch) would otherwise hold the server's close for the keep-alive time.
      connection: 'close',
    });
    response.write(`retry: ${RECONNECT_MS}\n\n`);
    this.clients.add(response);
    response.on('close', () => {
      this.clients.delete(response);
      if (this.clients.size === 0) this.stopTimer();
    });
    const text = this.render();
    if (text !== undefined) response.write(text);
    this.timer ??= setInterval(() => this.tick(), this.options.intervalMs);
  }

  /** Ends every stream and the timer: called before the HTTP server closes. */
  close(): void {
    this.closed = true;
    this.stopTimer();
    for (const response of this.clients) response.end();
    this.clients.clear();
  }

  private tick(): void {
    const text = this.render();
    if (text === undefined) return;
    for (const response of this.clients) {
      // A client that does not read its stream gets no more until it drains: memory stays flat.
      if (!response.writableNeedDrain) response.write(text);
    }
  }

  private render(): string | undefined {
    try {
      return `data: ${JSON.stringify(this.options.snapshot())}\n\n`;
    } catch (error) {
      this.options.log.error({ err: error }, 'dashboard snapshot failed');
      return undefined;
    }
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * A JSON-RPC proxy between a manager's chain source and anvil, for fault tests: on 127.0.0.1,
 * port 0 (kept across `refuse`), forwarding every call until told otherwise. Modes:
 * - `forward`: each request goes to the node, the answer comes back as it is;
 * - `refuse`: nothing listens on the port and open connections are cut (ECONNREFUSED);
 * - `429`: every request is answered 429 with `Retry-After: 1`;
 * - `garbage`: every request is answered 200 with a body that is not JSON.
 * In `forward` mode, `stall` holds the calls it matches unanswered (a node that hangs on them)
 * until `releaseStalled()` forwards them or `close()` cuts them, and `fail` answers the calls
 * it matches with 503 (a node that fails some requests). Every proxy started is registered so
 * that `closeAllProxies()` in an `afterEach` leaves nothing listening.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type ProxyMode = 'forward' | 'refuse' | '429' | 'garbage';

/** One JSON-RPC call as the proxy saw it. */
export interface RpcCall {
  method: string;
  params: unknown[];
}

export interface RpcProxy {
  /** `http://127.0.0.1:<port>`: what the source's url should be. */
  readonly url: string;
  readonly mode: ProxyMode;
  setMode(mode: ProxyMode): Promise<void>;
  /** Calls for which `match` holds are held unanswered from now on; undefined stops that. */
  stall(match: ((call: RpcCall) => boolean) | undefined): void;
  /** How many calls are held by `stall` right now. */
  readonly stalled: number;
  /** Forwards the held calls now and stops holding new ones. */
  releaseStalled(): void;
  /** Calls for which `match` holds are answered 503 from now on; undefined stops that. */
  fail(match: ((call: RpcCall) => boolean) | undefined): void;
  /** Requests answered (or refused at the socket) per mode, calls held and calls failed. */
  readonly counts: Record<ProxyMode | 'stalled' | 'failed', number>;
  close(): Promise<void>;
}

const open = new Set<RpcProxy>();

export async function startRpcProxy(targetUrl: string): Promise<RpcProxy> {
  let mode: ProxyMode = 'forward';
  let stallMatch: ((call: RpcCall) => boolean) | undefined;
  let failMatch: ((call: RpcCall) => boolean) | undefined;
  const held = new Set<() => void>();
  const sockets = new Set<Socket>();
  const counts: Record<ProxyMode | 'stalled' | 'failed', number> = {
    forward: 0,
    refuse: 0,
    '429': 0,
    garbage: 0,
    stalled: 0,
    failed: 0,
  };
  let closed = false;

  const server: Server = createServer((request, response) => {
    void handle(request, response).catch(() => response.destroy());
  });
  server.on('connection', (socket) => {
    // In refuse mode the listener is closed; a connection accepted just before that is cut.
    if (mode === 'refuse') {
      counts.refuse++;
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    if (mode === '429') {
      counts['429']++;
      response.writeHead(429, { 'retry-after': '1', 'content-type': 'text/plain' });
      response.end('rate limited');
      return;
    }
    if (mode === 'garbage') {
      counts.garbage++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"jsonrpc":"2.0","id":1,"result":{"number":');
      return;
    }
    if (failMatch && matches(failMatch, body)) {
      counts.failed++;
      response.writeHead(503, { 'content-type': 'text/plain' });
      response.end('unavailable');
      return;
    }
    if (stallMatch && matches(stallMatch, body)) {
      counts.stalled++;
      await new Promise<void>((resolve) => {
        held.add(resolve);
        response.once('close', () => {
          held.delete(resolve);
          resolve();
        });
      });
      if (closed || response.destroyed) return;
    }
    counts.forward++;
    const answer = await fetch(targetUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await answer.text();
    response.writeHead(answer.status, { 'content-type': 'application/json' });
    response.end(text);
  }

  const port = await listen(server, 0);
  const url = `http://127.0.0.1:${port}`;

  const proxy: RpcProxy = {
    url,
    get mode() {
      return mode;
    },
    async setMode(next) {
      if (next === mode) return;
      const previous = mode;
      mode = next;
      if (next === 'refuse') {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        });
      } else if (previous === 'refuse') {
        await listen(server, port);
      }
    },
    stall(match) {
      stallMatch = match;
    },
    get stalled() {
      return held.size;
    },
    releaseStalled() {
      stallMatch = undefined;
      for (const resolve of [...held]) resolve();
      held.clear();
    },
    fail(match) {
      failMatch = match;
    },
    counts,
    async close() {
      if (closed) return;
      closed = true;
      open.delete(proxy);
      for (const resolve of [...held]) resolve();
      held.clear();
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  open.add(proxy);
  return proxy;
}

/** For `afterEach`: closes every proxy still open. */
export async function closeAllProxies(): Promise<void> {
  await Promise.all([...open].map((proxy) => proxy.close()));
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      text += chunk;
    });
    request.on('end', () => resolve(text));
    request.on('error', reject);
  });
}

function matches(match: (call: RpcCall) => boolean, body: string): boolean {
  try {
    const parsed = JSON.parse(body) as { method?: unknown; params?: unknown };
    if (typeof parsed.method !== 'string') return false;
    return match({
      method: parsed.method,
      params: Array.isArray(parsed.params) ? parsed.params : [],
    });
  } catch {
    return false;
  }
}

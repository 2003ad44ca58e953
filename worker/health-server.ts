/**
 * The worker's probes on BLOCKRUNNER_HEALTH_PORT (docs/deployment.md, "Kubernetes"): a worker
 * serves no HTTP otherwise, so a container platform needs this to tell a live worker from a
 * hung one and a linked worker from one still looking for its manager.
 *
 * - `GET /healthz`: 200 `{"status":"ok"}` while the process runs its event loop.
 * - `GET /readyz`: 200 `{"status":"ready"}` while a welcomed link to a manager is open, 503
 *   `{"status":"not ready"}` otherwise. Only a leading manager welcomes workers, and a link
 *   silent for 2.5 heartbeats is dropped (worker/link.ts), so "ready" means a leader was heard
 *   from within that time.
 *
 * Anything else is 404; only GET and HEAD are answered. Plain node:http: two fixed answers need
 * no framework.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../shared/errors.js';

export interface HealthServer {
  /** The port it listens on (the one asked for, or the one chosen for port 0). */
  readonly port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

export interface HealthServerOptions {
  port: number;
  /** Whether the worker is linked to a manager now. */
  ready(): boolean;
}

/** Listens on every address of the host; rejects with a ConfigError when the port is taken. */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, body: Record<string, string>): void => {
      const text = JSON.stringify(body);
      response.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-store',
      });
      response.end(request.method === 'HEAD' ? undefined : text);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(405, { status: 'method not allowed' });
    } else if (path === '/healthz') {
      send(200, { status: 'ok' });
    } else if (path === '/readyz') {
      const ready = options.ready();
      send(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
    } else {
      send(404, { status: 'not found' });
    }
  });
  // Probes come every few seconds: no connection should keep a stopping worker alive.
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        new ConfigError(
          `invalid configuration: BLOCKRUNNER_HEALTH_PORT: cannot listen on ${options.port} (${error.code ?? error.message})`,
          { cause: error },
        ),
      );
    };
    server.once('error', onError);
    // No host: the unspecified address, IPv6 and IPv4 where the host has both, as kubelet
    // probes the pod's own address.
    server.listen(options.port, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

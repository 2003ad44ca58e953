/**
 * A tiny manager for worker tests: a real `ws` server on 127.0.0.1, port 0, that records every
 * frame and lets a test refuse upgrades, skip the welcome, dispatch, cancel and close.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import {
  type ManagerFrame,
  PROTOCOL_VERSION,
  parseFrame,
  type WorkerFrame,
  workerFrameSchema,
} from '../../shared/protocol.js';
import { waitFor as waitUntil } from '../helpers/wait.js';

export interface FakeConnection {
  socket: WebSocket;
  request: IncomingMessage;
  frames: WorkerFrame[];
  openedAt: number;
  closedAt: number | undefined;
  close: { code: number; reason: string } | undefined;
  send(frame: ManagerFrame): void;
}

export interface FakeManagerOptions {
  /** Answer the upgrade with this HTTP status instead of accepting it (per attempt number, 1-based). */
  refuse?: (attempt: number) => number | undefined;
  /** Send welcome on hello. Default true. */
  welcome?: boolean;
  /** Called on hello instead of the welcome. */
  onHello?: (connection: FakeConnection) => void;
  /** The welcome's heartbeatMs: the worker drops a link silent for 2.5 of them. Default 15000. */
  heartbeatMs?: number;
}

export class FakeManager {
  readonly connections: FakeConnection[] = [];
  /** performance.now() of every upgrade request, accepted or not. */
  readonly attempts: number[] = [];
  /** Frames from the worker that failed the protocol's schema: a test expects none. */
  readonly badFrames: string[] = [];
  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(options: FakeManagerOptions = {}): Promise<FakeManager> {
    let manager: FakeManager | undefined;
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: '/v1/ws',
      perMessageDeflate: false,
      verifyClient: (_info, callback) => {
        const attempt = (manager as FakeManager).attempts.push(performance.now());
        const status = options.refuse?.(attempt);
        if (status === undefined) callback(true);
        else callback(false, status, `refused by the fake manager: ${status}`);
      },
    });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    manager = new FakeManager(server, `ws://127.0.0.1:${port}/v1/ws`);
    const self = manager;
    server.on('connection', (socket, request) => {
      const connection: FakeConnection = {
        socket,
        request,
        frames: [],
        openedAt: performance.now(),
        closedAt: undefined,
        close: undefined,
        send: (frame) => socket.send(JSON.stringify(frame)),
      };
      self.connections.push(connection);
      socket.on('message', (data) => {
        const parsed = parseFrame(workerFrameSchema, data.toString());
        if (!parsed.ok) {
          self.badFrames.push(parsed.close.reason);
          return;
        }
        connection.frames.push(parsed.frame);
        if (parsed.frame.type !== 'hello') return;
        if (options.onHello) options.onHello(connection);
        else if (options.welcome !== false) {
          connection.send({
            type: 'welcome',
            protocol: PROTOCOL_VERSION,
            workerId: `w${self.connections.length}`,
            leaseMs: 30_000,
            heartbeatMs: options.heartbeatMs ?? 15_000,
          });
        }
      });
      socket.on('close', (code, reason) => {
        connection.closedAt = performance.now();
        connection.close = { code, reason: reason.toString() };
      });
    });
    return manager;
  }

  /** Resolves with connection number `index` (0-based) once it said hello. */
  async connection(index: number, timeoutMs = 5_000): Promise<FakeConnection> {
    await waitFor(() => this.connections[index]?.frames.some((f) => f.type === 'hello'), timeoutMs);
    return this.connections[index] as FakeConnection;
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise<void>((resolve, reject) =>
      this.server.close((error) => (error ? reject(error) : resolve())),
    );
  }
}

/**
 * Polls `condition` until it holds; fails with `what` after the deadline. The worker tests' short
 * form of test/helpers/wait.ts's waitFor, which does the polling.
 */
export async function waitFor(
  condition: () => boolean | undefined,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  await waitUntil(condition, { timeoutMs, intervalMs: 5, message: what });
}

export function framesOf<T extends WorkerFrame['type']>(
  connection: FakeConnection,
  type: T,
): Extract<WorkerFrame, { type: T }>[] {
  return connection.frames.filter((f): f is Extract<WorkerFrame, { type: T }> => f.type === type);
}

/** A promise the test settles when it wants (graphile-worker's deferred). */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A logger that keeps its lines, so tests can check what was logged. */
export function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

export { WebSocket };

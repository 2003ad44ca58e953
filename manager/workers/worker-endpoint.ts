/**
 * The worker endpoint at /v1/ws (docs/protocol.md). Upgrades are checked before any frame:
 * wrong path 404, bad token 401, not the leader or stopping 503. Every frame is validated;
 * a malformed one closes the link with 4400 and a short reason. Pings find half-open links.
 * Every refusal and close comes from the catalogue in shared/errors.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import {
  type UpgradeRefusalCode,
  upgradeRefusals,
  type WsClose,
  wsClose,
} from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import {
  type HelloFrame,
  PROTOCOL_VERSION,
  parseFrame,
  workerFrameSchema,
} from '../../shared/protocol.js';
import type { WorkerLink } from '../dispatch/dispatcher.js';
import { tokenMatches } from '../http/tokens.js';
import type { ManagerStatus } from '../role.js';

export const WS_PATH = '/v1/ws';
/** Frames above this are refused with close code 1009 (by ws); 100,000 heights fit in ~1.7 MB. */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;
const HELLO_TIMEOUT_MS = 10_000;

export interface WorkerEndpointOptions {
  status: ManagerStatus;
  workerToken: string | undefined;
  heartbeatMs: number;
  log: Logger;
}

interface Connection {
  alive: boolean;
  link?: WorkerLink;
}

interface Refusal {
  code: UpgradeRefusalCode;
  detail: string;
}

/** Answers a refused upgrade: the catalogue's status, and a body of one line, `<code>: <detail>`. */
function refuse(socket: Duplex, { code, detail }: Refusal): void {
  const { status, text } = upgradeRefusals[code];
  const body = `${code}: ${detail}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export class WorkerEndpoint {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
  });
  private readonly connections = new Map<WebSocket, Connection>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    server: Server,
    private readonly options: WorkerEndpointOptions,
  ) {
    server.on('upgrade', (request, socket, head) => this.upgrade(request, socket, head));
    this.heartbeat = setInterval(() => this.ping(), options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Closes every link (1001) and stops the heartbeat. */
  close(): void {
    clearInterval(this.heartbeat);
    const { code, reason } = wsClose('BR_WS_GOING_AWAY', 'manager stopping');
    for (const ws of this.connections.keys()) ws.close(code, reason);
    this.wss.close();
  }

  get size(): number {
    return this.connections.size;
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const refusal = this.refusal(request);
    if (refusal) {
      refuse(socket, refusal);
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws));
  }

  /**
   * Why an upgrade is refused, checked before any frame. ws itself refuses a handshake that is
   * not valid (BR_UPGRADE_BAD_HANDSHAKE, BR_UPGRADE_METHOD_NOT_ALLOWED) after these checks.
   */
  private refusal(request: IncomingMessage): Refusal | undefined {
    const path = new URL(request.url ?? '/', 'http://manager').pathname;
    const { workerToken, status, log } = this.options;
    if (path !== WS_PATH)
      return {
        code: 'BR_UPGRADE_NOT_FOUND',
        detail: `no WebSocket endpoint at ${path}; use ${WS_PATH}`,
      };
    if (workerToken !== undefined && !tokenMatches(request.headers.authorization, workerToken)) {
      log.warn({ remote: request.socket.remoteAddress }, 'worker refused: missing or wrong token');
      return {
        code: 'BR_UPGRADE_UNAUTHORIZED',
        detail: 'missing or wrong worker token (Authorization: Bearer <token>)',
      };
    }
    if (!status.acceptsWorkers()) {
      return {
        code: 'BR_UPGRADE_NOT_LEADER',
        detail: `manager is ${status.role}, not taking workers`,
      };
    }
    return undefined;
  }

  private accept(ws: WebSocket): void {
    const connection: Connection = { alive: true };
    this.connections.set(ws, connection);
    const helloTimer = setTimeout(() => {
      const { code, reason } = wsClose('BR_WS_HELLO_TIMEOUT', 'no hello frame');
      ws.close(code, reason);
    }, HELLO_TIMEOUT_MS);
    ws.on('pong', () => {
      connection.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      connection.alive = true;
      const problem = this.onMessage(ws, connection, data.toString(), isBinary);
      if (problem) ws.close(problem.code, problem.reason);
      else if (connection.link) clearTimeout(helloTimer);
    });
    ws.on('error', (error) =>
      this.options.log.warn({ err: error, worker: connection.link?.name }, 'worker link error'),
    );
    ws.on('close', (code, reason) => {
      clearTimeout(helloTimer);
      this.connections.delete(ws);
      const link = connection.link;
      if (!link) return;
      this.options.status.leader?.dispatcher.disconnect(link);
      this.options.status.leader?.chains.reverts.disconnected(link);
      this.options.log.info(
        { worker: link.name, workerId: link.id, code, reason: reason.toString() },
        'worker disconnected',
      );
    });
  }

  /** Handles one frame; gives the close code and reason when the frame breaks the protocol. */
  private onMessage(
    ws: WebSocket,
    connection: Connection,
    text: string,
    isBinary: boolean,
  ): WsClose | undefined {
    if (isBinary) return wsClose('BR_WS_BAD_FRAME', 'binary frames are not accepted');
    const parsed = parseFrame(workerFrameSchema, text);
    if (!parsed.ok) return parsed.close;
    const frame = parsed.frame;
    if (!connection.link) {
      if (frame.type !== 'hello')
        return wsClose('BR_WS_BAD_FRAME', 'the first frame must be hello');
      return this.welcome(ws, connection, frame);
    }
    const leader = this.options.status.leader;
    const dispatcher = leader?.dispatcher;
    if (frame.type === 'hello') return wsClose('BR_WS_BAD_FRAME', 'hello sent twice');
    if (frame.type === 'results') {
      if (frame.doneDeltas && !connection.link.deltas)
        return wsClose('BR_WS_BAD_FRAME', 'doneDeltas: the hello did not say deltas');
      dispatcher?.onResults(connection.link, frame);
    } else if (frame.type === 'release') dispatcher?.onRelease(connection.link, frame);
    else leader?.chains.reverts.onReverted(connection.link, frame);
    return undefined;
  }

  private welcome(ws: WebSocket, connection: Connection, hello: HelloFrame): WsClose | undefined {
    if (hello.protocol !== PROTOCOL_VERSION) {
      return wsClose(
        'BR_WS_UNSUPPORTED_PROTOCOL',
        `worker speaks ${hello.protocol}, manager ${PROTOCOL_VERSION}`,
      );
    }
    const dispatcher = this.options.status.leader?.dispatcher;
    if (!dispatcher) return wsClose('BR_WS_GOING_AWAY', 'manager not leading');
    const link: WorkerLink = {
      id: randomUUID(),
      name: hello.name,
      queues: [...new Set(hello.queues)],
      capacity: hello.capacity,
      connectedAt: new Date(),
      held: 0,
      done: 0,
      failed: 0,
      deltas: hello.deltas === true,
      send: (frame) => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
      },
    };
    connection.link = link;
    link.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      workerId: link.id,
      leaseMs: this.leaseMs(),
      heartbeatMs: this.options.heartbeatMs,
    });
    this.options.log.info(
      {
        worker: link.name,
        workerId: link.id,
        queues: link.queues,
        capacity: link.capacity,
        deltas: link.deltas,
      },
      'worker connected',
    );
    dispatcher.connect(link);
    this.options.status.leader?.chains.reverts.connected();
    return undefined;
  }

  private leaseMs(): number {
    return this.options.status.leaseMs;
  }

  private ping(): void {
    for (const [ws, connection] of this.connections) {
      if (!connection.alive) {
        this.options.log.warn(
          { worker: connection.link?.name },
          'worker silent past the heartbeat; dropping it',
        );
        ws.terminate();
        continue;
      }
      connection.alive = false;
      ws.ping();
    }
  }
}

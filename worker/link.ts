/**
 * One WebSocket link to a manager (docs/protocol.md): open, say hello, wait for welcome,
 * then pass frames on until the link closes. A watchdog drops a half-open link: once welcomed,
 * the manager pings every heartbeat, so silence for 2.5 heartbeats means it is gone
 * (docs/protocol.md, "Heartbeats"). Before the welcome the same limit bounds the handshake.
 */
import WebSocket from 'ws';
import { LinkError, type WsClose, wsClose } from '../shared/errors.js';
import {
  type CancelFrame,
  type DispatchFrame,
  type HelloFrame,
  managerFrameSchema,
  parseFrame,
  type RevertFrame,
  type WelcomeFrame,
  type WorkerFrame,
} from '../shared/protocol.js';

/** Silence tolerated on a welcomed link, in the manager's heartbeats (docs/protocol.md). */
export const SILENT_HEARTBEATS = 2.5;

/** Dispatch frames carry up to 100,000 heights; leave ample room above that. */
const MAX_PAYLOAD = 64 * 1024 * 1024;
/** How long a close handshake may take before the socket is destroyed. */
const CLOSE_TIMEOUT_MS = 2_000;

export interface LinkEnd {
  code: number;
  reason: string;
  /** Set when this side gave up on the link (bad frame, silence, socket error). */
  error: Error | undefined;
}

export interface Link {
  readonly welcome: WelcomeFrame;
  readonly closed: Promise<LinkEnd>;
  send(frame: WorkerFrame): void;
  /** Closes with a code and reason of the catalogue (wsClose). */
  close(close: WsClose): void;
}

export interface LinkOptions {
  url: string;
  token: string | undefined;
  hello: HelloFrame;
  /** Silence after which the link is dropped: 2.5 × BLOCKRUNNER_HEARTBEAT_MS. */
  silenceMs: number;
  /** Aborting it destroys a link still connecting; a welcomed link is closed by its owner. */
  signal: AbortSignal;
  /** Called as the welcome arrives, before any later frame is handed to onFrame. */
  onWelcome(link: Link): void;
  onFrame(frame: DispatchFrame | CancelFrame | RevertFrame): void;
  /** Called as a welcomed link closes. */
  onClose(end: LinkEnd): void;
}

/** Resolves once the manager welcomed us; rejects with a LinkError when that did not happen. */
export function openLink(options: LinkOptions): Promise<Link> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    // Until the welcome, the worker's own setting; then the manager's heartbeat, which it pings at.
    let silenceMs = options.silenceMs;
    if (signal.aborted) {
      reject(new LinkError('worker stopping'));
      return;
    }
    const clientOptions: WebSocket.ClientOptions & { closeTimeout: number } = {
      perMessageDeflate: false,
      maxPayload: MAX_PAYLOAD,
      closeTimeout: CLOSE_TIMEOUT_MS, // ws 8.19+; missing from @types/ws
      ...(options.token ? { headers: { Authorization: `Bearer ${options.token}` } } : {}),
    };
    let socket: WebSocket;
    try {
      socket = new WebSocket(options.url, clientOptions);
    } catch (error) {
      reject(new LinkError(`cannot connect: ${(error as Error).message}`, {}, { cause: error }));
      return;
    }

    let welcomed = false;
    let welcome: WelcomeFrame | undefined;
    let failure: Error | undefined;
    let resolveClosed: (end: LinkEnd) => void = () => {};
    const closed = new Promise<LinkEnd>((done) => {
      resolveClosed = done;
    });
    /** Gives up on the link: closes it with `close`, or without a close frame. */
    const fail = (error: Error, close?: WsClose): void => {
      failure ??= error;
      if (close === undefined) socket.terminate();
      else socket.close(close.code, close.reason);
    };

    /** The TCP (or TLS) socket under the WebSocket, from the upgrade's response. */
    let transport: { cork(): void; uncork(): void } | undefined;
    socket.on('upgrade', (response) => {
      transport = response.socket;
    });
    let corked = false;
    const uncork = (): void => {
      corked = false;
      transport?.uncork();
    };
    const link: Link = {
      get welcome() {
        return welcome as WelcomeFrame;
      },
      closed,
      send(frame) {
        if (socket.readyState !== WebSocket.OPEN) return;
        // The frames of one turn (a flush's results, one frame per lease) leave in one write:
        // one read for the manager, so one refill, and one wake-up instead of one per frame
        // (docs/protocol.md, "results").
        if (!corked && transport) {
          corked = true;
          transport.cork();
          process.nextTick(uncork);
        }
        socket.send(JSON.stringify(frame));
      },
      close({ code, reason }) {
        socket.close(code, reason);
      },
    };

    // One timer per link, re-armed for the remaining time rather than per message.
    let lastSeen = Date.now();
    let watchdog: NodeJS.Timeout | undefined;
    const watch = (delay: number): void => {
      watchdog = setTimeout(() => {
        const silent = Date.now() - lastSeen;
        if (silent < silenceMs) return watch(silenceMs - silent);
        const what = welcomed ? 'no ping or message from the manager' : 'no welcome';
        fail(new LinkError(`${what} for ${silent} ms`));
      }, delay);
    };
    watch(silenceMs);

    const onAbort = (): void => fail(new LinkError('worker stopping'));
    signal.addEventListener('abort', onAbort, { once: true });

    socket.on('unexpected-response', (_request, response) => {
      // A refused upgrade (401 bad token, 400, 503 while the manager shuts down): keep the
      // status and the start of the body, which says why.
      const status = response.statusCode ?? 0;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (body.length < 200) body += chunk;
      });
      const done = (): void => {
        const reason = body.trim().slice(0, 200);
        fail(
          new LinkError(`upgrade refused: HTTP ${status}${reason ? ` ${reason}` : ''}`, {
            status,
            reason,
          }),
        );
      };
      response.on('end', done);
      response.on('error', done);
    });
    socket.on('open', () => socket.send(JSON.stringify(options.hello)));
    socket.on('ping', () => {
      if (welcomed) lastSeen = Date.now();
    });
    socket.on('message', (data: WebSocket.RawData) => {
      lastSeen = Date.now();
      const parsed = parseFrame(managerFrameSchema, data.toString());
      if (!parsed.ok) {
        fail(new LinkError(`manager sent a bad frame: ${parsed.close.reason}`), parsed.close);
        return;
      }
      const frame = parsed.frame;
      if (frame.type === 'welcome') {
        if (welcomed) {
          const close = wsClose('BR_WS_BAD_FRAME', 'welcome twice');
          fail(new LinkError(`manager sent a bad frame: ${close.reason}`), close);
          return;
        }
        welcomed = true;
        welcome = frame;
        silenceMs = SILENT_HEARTBEATS * frame.heartbeatMs;
        clearTimeout(watchdog);
        watch(silenceMs);
        signal.removeEventListener('abort', onAbort);
        options.onWelcome(link);
        resolve(link);
      } else if (welcomed) {
        options.onFrame(frame);
      } else {
        const close = wsClose('BR_WS_BAD_FRAME', `expected welcome, got ${frame.type}`);
        fail(new LinkError(`manager sent a bad frame: ${close.reason}`), close);
      }
    });
    socket.on('error', (error) => {
      failure ??= new LinkError(error.message, {}, { cause: error });
    });
    socket.on('close', (code, reasonBuffer) => {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', onAbort);
      const reason = reasonBuffer.toString();
      if (welcomed) {
        const end = { code, reason, error: failure };
        options.onClose(end);
        resolveClosed(end);
      } else {
        reject(
          failure ??
            new LinkError(`manager closed the link: ${code}${reason ? ` ${reason}` : ''}`, {
              closeCode: code,
              reason,
            }),
        );
      }
    });
  });
}

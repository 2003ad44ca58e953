/**
 * `eth_subscribe("newHeads")` over a WebSocket, kept up with backoff (docs/chains.md): each
 * notification is validated and handed on as a block header. While the subscription is down
 * the source follower polls; `onState` tells it which.
 */
import { WebSocket } from 'ws';
import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import { RETRY_POLICIES, retry } from '../../shared/retry.js';
import { type BlockHeader, displayRpcUrl } from './evm-rpc.js';

const notificationSchema = z.object({
  method: z.literal('eth_subscription'),
  params: z.object({
    result: z.object({
      number: z.string().regex(/^0x[0-9a-fA-F]{1,16}$/),
      hash: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
      parentHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
    }),
  }),
});

const subscribedSchema = z.object({ id: z.literal(1), result: z.string() });

export interface NewHeadsOptions {
  url: string;
  log: Logger;
  signal: AbortSignal;
  onHead: (head: BlockHeader) => void;
  onState: (subscribed: boolean) => void;
}

/** A notification bigger than this is not a block header. */
const MAX_NOTIFICATION_BYTES = 1024 * 1024;

export class NewHeadsSubscription {
  private socket: WebSocket | undefined;

  constructor(private readonly options: NewHeadsOptions) {
    void this.keepSubscribed();
  }

  close(): void {
    this.socket?.terminate();
  }

  private async keepSubscribed(): Promise<void> {
    const { signal, log, url } = this.options;
    while (!signal.aborted) {
      try {
        await retry(() => this.subscribeOnce(), {
          policy: RETRY_POLICIES.rpc,
          signal,
          onFailedAttempt: ({ error, attemptNumber, delayMs }) => {
            if (attemptNumber === 1 || attemptNumber % 10 === 0)
              log.warn(
                { url: displayRpcUrl(url), retryInMs: delayMs, err: (error as Error).message },
                'newHeads subscription down; polling meanwhile',
              );
          },
        });
      } catch {
        // Aborted: the loop ends.
      }
    }
  }

  /** Resolves when a subscription that worked ends; rejects when it could not be made. */
  private subscribeOnce(): Promise<void> {
    const { url, signal, onHead, onState } = this.options;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, {
        maxPayload: MAX_NOTIFICATION_BYTES,
        handshakeTimeout: 10_000,
      });
      this.socket = socket;
      let subscribed = false;
      let subscribedAt = 0;
      const onAbort = () => socket.terminate();
      signal.addEventListener('abort', onAbort, { once: true });
      socket.on('open', () => {
        socket.send(
          JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }),
        );
      });
      socket.on('message', (data) => {
        let json: unknown;
        try {
          json = JSON.parse(data.toString());
        } catch {
          socket.terminate();
          return;
        }
        if (!subscribed) {
          if (!subscribedSchema.safeParse(json).success) {
            socket.terminate();
            return;
          }
          subscribed = true;
          subscribedAt = Date.now();
          onState(true);
          return;
        }
        const note = notificationSchema.safeParse(json);
        if (!note.success) return;
        const { number, hash, parentHash } = note.data.params.result;
        onHead({
          height: Number.parseInt(number, 16),
          hash: hash.toLowerCase(),
          parentHash: parentHash.toLowerCase(),
        });
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        signal.removeEventListener('abort', onAbort);
        if (subscribed) onState(false);
        // It worked for a while: subscribe again at once, with a fresh attempt count. One that
        // ends as soon as it starts is a failure, so backoff applies.
        if (subscribed && Date.now() - subscribedAt > 1_000) resolve();
        else
          reject(
            new Error(
              subscribed
                ? 'newHeads subscription ended at once'
                : 'could not subscribe to newHeads',
            ),
          );
      });
    });
  }
}

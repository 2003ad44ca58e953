/**
 * Follows an evm node's head for one queue (docs/chains.md, "Following a head"): asks for the
 * newest block every `pollMs`, or takes `newHeads` from a WebSocket subscription when the URL is
 * ws:// or wss:// (polling over HTTP at the same address while the subscription is down).
 * A node that fails (unreachable, 429, malformed answers) is retried with backoff and reported
 * through `onStatus`; nothing it does can throw out of this loop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../shared/logger.js';
import { RETRY_POLICIES, retry } from '../../shared/retry.js';
import type { SourceConfig } from './chain-types.js';
import { type BlockHeader, displayRpcUrl, type EvmRpc, RpcError } from './evm-rpc.js';
import { NewHeadsSubscription } from './new-heads.js';

export type SourceState = 'starting' | 'following' | 'unreachable' | 'rate_limited' | 'failing';

export interface SourceStatus {
  state: SourceState;
  /** The last failure, while the node fails; null once it answers again. */
  lastError: string | null;
  /** Whether heads arrive by subscription right now (ws:// sources). */
  subscribed: boolean;
}

export interface SourceFollowerOptions {
  queue: string;
  source: SourceConfig;
  rpc: EvmRpc;
  log: Logger;
  /** Called with each head seen; awaited before the next poll. */
  onHead: (head: BlockHeader) => Promise<void>;
  onStatus: (status: SourceStatus) => void;
}

export class SourceFollower {
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;
  private subscription: NewHeadsSubscription | undefined;
  private status: SourceStatus = { state: 'starting', lastError: null, subscribed: false };
  /** Heads from the subscription wait here for the loop, which handles one at a time. */
  private wakeUp: (() => void) | undefined;
  private latestPushed: BlockHeader | undefined;

  constructor(private readonly options: SourceFollowerOptions) {
    const url = options.source.url ?? '';
    if (url.startsWith('ws://') || url.startsWith('wss://')) {
      this.subscription = new NewHeadsSubscription({
        url,
        log: options.log,
        signal: this.abort.signal,
        onHead: (head) => {
          this.latestPushed = head;
          this.wakeUp?.();
        },
        onState: (subscribed) => this.report({ subscribed }),
      });
    }
    this.done = this.loop();
  }

  /** Stops polling and the subscription; resolves once the loop has ended. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.wakeUp?.();
    this.subscription?.close();
    await this.done;
  }

  private async loop(): Promise<void> {
    const { signal } = this.abort;
    const { log, queue, source } = this.options;
    log.info({ queue, url: displayRpcUrl(source.url ?? '') }, 'following the chain head');
    while (!signal.aborted) {
      try {
        await retry(() => this.pollOnce(), {
          policy: RETRY_POLICIES.rpc,
          signal,
          onFailedAttempt: ({ error, attemptNumber, delayMs }) => {
            const rpcError = error instanceof RpcError ? error : undefined;
            const state: SourceState =
              rpcError?.kind === 'unreachable' || rpcError?.kind === 'timeout'
                ? 'unreachable'
                : rpcError?.kind === 'rate_limited'
                  ? 'rate_limited'
                  : 'failing';
            const message = error instanceof Error ? error.message : String(error);
            this.report({ state, lastError: message });
            // One line when the node starts failing, then one per ten attempts.
            if (attemptNumber === 1 || attemptNumber % 10 === 0)
              log.warn(
                { queue, attempt: attemptNumber, retryInMs: delayMs, err: message },
                'chain source failing',
              );
          },
        });
        await this.waitNext();
      } catch (error) {
        if (signal.aborted) break;
        // Not expected: every failure is retried. Never a hot loop, never a silent end.
        log.error({ queue, err: error }, 'chain source loop failed; starting over');
        await sleep(RETRY_POLICIES.rpc.maxMs, undefined, { signal }).catch(() => {});
      }
    }
  }

  private async pollOnce(): Promise<void> {
    const pushed = this.latestPushed;
    this.latestPushed = undefined;
    const head = pushed ?? (await this.options.rpc.head(this.abort.signal));
    if (this.status.state !== 'following') {
      if (this.status.lastError !== null)
        this.options.log.info({ queue: this.options.queue }, 'chain source answers again');
      this.report({ state: 'following', lastError: null });
    }
    await this.options.onHead(head);
  }

  /** Until the next poll is due, or a subscribed head arrives. */
  private async waitNext(): Promise<void> {
    if (this.abort.signal.aborted || this.latestPushed) return;
    const subscribed = this.status.subscribed;
    // Subscribed, a poll now and then still checks the head (a missed notification).
    const wait = subscribed
      ? Math.max(this.options.source.pollMs, 10_000)
      : this.options.source.pollMs;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, wait);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
    this.wakeUp = undefined;
  }

  private report(change: Partial<SourceStatus>): void {
    this.status = { ...this.status, ...change };
    this.options.onStatus(this.status);
  }
}

/**
 * Follows an evm node's head for one queue (docs/chains.md, "Following a head"): asks for the
 * newest block every `pollMs`, or takes `newHeads` from a WebSocket subscription when the URL is
 * ws:// or wss:// (polling over HTTP at the same address while the subscription is down).
 * A node that fails (unreachable, 429, malformed answers) is retried with backoff and reported
 * through `onStatus`; nothing it does can throw out of this loop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RpcError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { RETRY_POLICIES, retry } from '../../shared/retry.js';
import type { SourceConfig } from './chain-types.js';
import { type BlockHeader, displayRpcUrl, type EvmRpc } from './evm-rpc.js';
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
  /** Polls failed in a row, across retry runs (a Retry-After starts a new run): for the log. */
  private failures = 0;

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
          // A node that says when to come back (429 with Retry-After) is asked again then, not
          // after the backoff that the outage has grown meanwhile: the catch below waits.
          shouldRetry: ({ error }) => retryAfterOf(error) === undefined,
          onFailedAttempt: ({ error, delayMs }) => this.failed(error, delayMs),
        });
        await this.waitNext();
      } catch (error) {
        if (signal.aborted) break;
        const retryAfterMs = retryAfterOf(error);
        if (retryAfterMs !== undefined && error instanceof RpcError) {
          this.failed(error, retryAfterMs);
          await sleep(retryAfterMs, undefined, { signal }).catch(() => {});
          continue;
        }
        // Not expected: every failure is retried. Never a hot loop, never a silent end.
        log.error({ queue, err: error }, 'chain source loop failed; starting over');
        await sleep(RETRY_POLICIES.rpc.maxMs, undefined, { signal }).catch(() => {});
      }
    }
  }

  /** A poll failed; the next one comes in `delayMs`. */
  private failed(error: Error, delayMs: number): void {
    const rpcError = error instanceof RpcError ? error : undefined;
    const state: SourceState =
      rpcError?.kind === 'unreachable' || rpcError?.kind === 'timeout'
        ? 'unreachable'
        : rpcError?.kind === 'rate_limited'
          ? 'rate_limited'
          : 'failing';
    this.report({ state, lastError: error.message });
    this.failures++;
    // One line when the node starts failing, then one per ten attempts.
    if (this.failures === 1 || this.failures % 10 === 0)
      this.options.log.warn(
        {
          queue: this.options.queue,
          attempt: this.failures,
          retryInMs: delayMs,
          err: error.message,
        },
        'chain source failing',
      );
  }

  private async pollOnce(): Promise<void> {
    const pushed = this.latestPushed;
    this.latestPushed = undefined;
    const head = pushed ?? (await this.options.rpc.head(this.abort.signal));
    this.failures = 0;
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

/** How long a node asked to be left alone (Retry-After), kept within the rpc backoff's bounds. */
function retryAfterOf(error: unknown): number | undefined {
  if (!(error instanceof RpcError) || error.retryAfterMs === undefined) return undefined;
  const { baseMs, maxMs } = RETRY_POLICIES.rpc;
  return Math.min(maxMs, Math.max(baseMs, error.retryAfterMs));
}

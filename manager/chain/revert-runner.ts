/**
 * Runs the handlers' `revert` for an orphaned range (docs/chains.md, "Reorganisations"): a
 * `revert` frame to one worker that serves the queue, answered by `reverted`. Retried like a
 * height: on another worker when the link drops or the lease time passes, after backoff when
 * the handler fails, until it succeeds or `maxAttempts` failures.
 */
import { RevertFailedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { RevertedFrame } from '../../shared/protocol.js';
import { retry } from '../../shared/retry.js';
import type { WorkerLink } from '../dispatch/dispatcher.js';

export interface RevertRunnerOptions {
  /** Links connected now. */
  links: () => Iterable<WorkerLink>;
  log: Logger;
  /** How long a worker may take to answer. */
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

interface InFlight {
  link: WorkerLink;
  settle: (outcome: { ok: true } | { ok: false; error: string; counted: boolean }) => void;
}

export class RevertRunner {
  private nextId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly linkWaiters = new Set<() => void>();
  private closed = false;

  constructor(private readonly options: RevertRunnerOptions) {}

  /**
   * Resolves once a worker reverted [from, to] of `queue`; rejects with RevertFailedError after
   * maxAttempts failed attempts, or when `signal` aborts (the manager stops, the queue is gone).
   */
  async run(queue: string, from: number, to: number, signal: AbortSignal): Promise<void> {
    const { log, maxAttempts, retryBaseMs, retryMaxMs } = this.options;
    let failedOn: WorkerLink | undefined;
    let failures = 0;
    // Retried like a height: the same backoff as a failed height's next attempt.
    const policy = { baseMs: retryBaseMs, maxMs: retryMaxMs, jitter: 'equal' } as const;
    try {
      await retry(
        async () => {
          // A link that dropped, or a stop, costs no attempt: go on with another worker.
          for (;;) {
            const link = await this.linkFor(queue, signal, failedOn);
            const outcome = await this.attempt(link, queue, from, to, signal);
            if (outcome.ok) return;
            failedOn = link;
            signal.throwIfAborted();
            if (outcome.counted) throw new Error(outcome.error);
          }
        },
        {
          policy,
          signal,
          retries: maxAttempts - 1,
          shouldRetry: () => !this.closed,
          onFailedAttempt: ({ error, attemptNumber }) => {
            failures = attemptNumber;
            log.warn(
              { queue, from, to, attempt: attemptNumber, err: (error as Error).message },
              'revert failed',
            );
          },
        },
      );
    } catch (error) {
      if (signal.aborted || this.closed) throw error;
      throw new RevertFailedError(
        `revert of ${from}..${to} failed ${Math.max(failures + 1, maxAttempts)} times: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** A `reverted` frame arrived. */
  onReverted(link: WorkerLink, frame: RevertedFrame): void {
    const entry = this.inFlight.get(frame.revert);
    if (!entry || entry.link !== link) return;
    entry.settle(
      frame.error === undefined ? { ok: true } : { ok: false, error: frame.error, counted: true },
    );
  }

  /** A worker connected: a revert waiting for one may go. */
  connected(): void {
    for (const wake of this.linkWaiters) wake();
  }

  /** A worker left: its revert in flight goes to another one, with no attempt counted. */
  disconnected(link: WorkerLink): void {
    for (const entry of this.inFlight.values())
      if (entry.link === link)
        entry.settle({ ok: false, error: 'worker disconnected', counted: false });
  }

  close(): void {
    this.closed = true;
    for (const entry of this.inFlight.values())
      entry.settle({ ok: false, error: 'manager stopping', counted: false });
    for (const wake of this.linkWaiters) wake();
  }

  private attempt(
    link: WorkerLink,
    queue: string,
    from: number,
    to: number,
    signal: AbortSignal,
  ): Promise<{ ok: true } | { ok: false; error: string; counted: boolean }> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => entry.settle({ ok: false, error: 'no answer within the lease time', counted: true }),
        this.options.timeoutMs,
      );
      const onAbort = () => entry.settle({ ok: false, error: 'aborted', counted: false });
      const entry: InFlight = {
        link,
        settle: (outcome) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.inFlight.delete(id);
          resolve(outcome);
        },
      };
      this.inFlight.set(id, entry);
      signal.addEventListener('abort', onAbort, { once: true });
      link.send({ type: 'revert', revert: id, queue, from, to });
    });
  }

  /** A connected link serving `queue`, not `avoid` if another one does; waits for one if none. */
  private async linkFor(
    queue: string,
    signal: AbortSignal,
    avoid?: WorkerLink,
  ): Promise<WorkerLink> {
    for (;;) {
      if (this.closed) throw new Error('manager stopping');
      signal.throwIfAborted();
      // Another worker than the one that just failed, when there is one.
      let fallback: WorkerLink | undefined;
      for (const link of this.options.links()) {
        if (!link.queues.includes(queue)) continue;
        if (link !== avoid) return link;
        fallback = link;
      }
      if (fallback) return fallback;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.linkWaiters.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.linkWaiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }
}

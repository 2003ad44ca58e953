/**
 * The one write path to PostgreSQL. Memory changes first (dispatch never waits for a disk),
 * and everything recorded while a commit runs goes into the next one: group commit, one
 * transaction per few milliseconds whatever the rate (docs/architecture.md, "Write-behind").
 * A failed commit is retried with capped backoff and nothing recorded is dropped meanwhile,
 * until the database answers again or a stop gives up on it.
 */
import type pg from 'pg';
import type { Logger } from '../../shared/logger.js';
import { RETRY_POLICIES, retry } from '../../shared/retry.js';
import { checkOut } from './check-out.js';
import type { ChunkLayouts, ChunkWrite } from './chunk-layout.js';
import type { Fence } from './leader-lock.js';
import { QueueWrites, type WriteBatch } from './pending-writes.js';
import { commitBatch } from './queue-sql.js';

/** What the write-behind reports, once per commit. */
export interface CommitMetrics {
  committed(batch: WriteBatch, durationMs: number): void;
  commitFailed(): void;
}

export interface WriteBehindOptions {
  pool: pg.Pool;
  /** The leader lock session commits must check; undefined while it is being taken again. */
  fence: () => Fence | undefined;
  log: Logger;
  /** Which rows of queue_chunks each commit writes; told of every commit that went through. */
  chunks: ChunkLayouts;
  /** Applies a committed batch to memory (successes become done). */
  onCommitted: (batch: WriteBatch) => void;
  metrics?: CommitMetrics;
  /**
   * Commit through a named prepared statement (parsed once per connection). False when the pool
   * goes through a transaction-mode pooler, whose server sessions change under a connection
   * (docs/deployment.md, "Managed PostgreSQL and poolers").
   */
  prepared?: boolean;
}

/**
 * Least time from the start of one commit to the start of the next while someone waits for its
 * answer (an enqueue, a requeue, a reorganisation: `committed()`). Under steady load a commit
 * takes a millisecond or two; without this floor the log would commit back to back, hundreds of
 * times a second, and PostgreSQL and the manager would spend a core on it. A log idle for this
 * long commits at once.
 */
export const COMMIT_INTERVAL_MS = 10;

/**
 * The same floor while nobody waits: results only, whose commit no request answers on. Each
 * commit costs the manager and PostgreSQL about the same whatever it carries, so a longer
 * interval makes a commit carry several of a slow handler's results frames instead of one or
 * two: at 100 ms rather than 50, S5 made half the commits and its manager used a third less CPU
 * (docs/performance.md). A `committed()` call during the wait cuts it to COMMIT_INTERVAL_MS.
 */
export const UNAWAITED_COMMIT_INTERVAL_MS = 100;

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

export class WriteBehind {
  private open: WriteBatch = new Map();
  private openWaiters: Waiter[] = [];
  private running = false;
  private lastCommitStart = Number.NEGATIVE_INFINITY;
  /** Set when a stop gives up on the database: the retry loop ends, waiters are rejected. */
  private abandoned: Error | undefined;
  /** Aborted with `abandoned`: ends the commit retry loop, its backoff wait included. */
  private readonly stopped = new AbortController();
  /** False while commits fail; readiness reports it. */
  healthy = true;
  private readonly metrics: CommitMetrics | undefined;
  /** Queues deleted and not made again: what is recorded for them goes nowhere (forget()). */
  private readonly forgotten = new Set<string>();
  /** Ends the commit slot's wait early: someone now waits for the commit (`committed()`). */
  private hurry: (() => void) | undefined;
  /** Set by `soon()`: the batch being filled goes at the short interval, like an awaited one. */
  private urgent = false;

  constructor(private readonly options: WriteBehindOptions) {
    this.metrics = options.metrics;
  }

  /** The writes of `queue` in the batch being filled; recording into it schedules a commit. */
  forQueue(queue: string): QueueWrites {
    // A late writer of a deleted queue (a reorganisation in progress) must not make it again.
    if (this.forgotten.has(queue)) return new QueueWrites();
    let writes = this.open.get(queue);
    if (!writes) {
      writes = new QueueWrites();
      this.open.set(queue, writes);
    }
    this.schedule();
    return writes;
  }

  /**
   * The queue is deleted (DELETE /v1/queues/:queue): drops what is recorded for it and not yet
   * committing, and records nothing for it any more until `revive`. A commit already running
   * keeps its writes: `committed()` waits for it.
   */
  forget(queue: string): void {
    this.open.delete(queue);
    this.forgotten.add(queue);
  }

  /** A queue of this name is made again: its writes are recorded from now on. */
  revive(queue: string): void {
    this.forgotten.delete(queue);
  }

  /** Resolves once everything recorded so far is committed. */
  committed(): Promise<void> {
    if (this.abandoned) return Promise.reject(this.abandoned);
    if (this.open.size === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.openWaiters.push({ resolve, reject });
      this.schedule();
      this.hurry?.();
    });
  }

  /**
   * What is recorded is worth committing at the short interval though nobody waits for it: a
   * queue has just recorded its last results (the dispatcher calls this when one drains), and
   * whoever watches its progress sees the end within COMMIT_INTERVAL_MS instead of
   * UNAWAITED_COMMIT_INTERVAL_MS. Once per drain, so it costs no commits under load.
   */
  soon(): void {
    if (this.open.size === 0) return;
    this.urgent = true;
    this.hurry?.();
  }

  /** Commits what is recorded, giving up after `timeoutMs` (the writes are then lost). */
  async close(timeoutMs: number): Promise<void> {
    const timer = setTimeout(() => {
      this.abandon(new Error(`gave up committing after ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      await this.committed();
    } finally {
      clearTimeout(timer);
      this.abandon(new Error('stopped'));
    }
  }

  private abandon(error: Error): void {
    this.abandoned ??= error;
    this.stopped.abort(this.abandoned);
  }

  private schedule(): void {
    if (this.running || this.abandoned) return;
    this.running = true;
    setImmediate(() => void this.run());
  }

  private async run(): Promise<void> {
    let waiters: Waiter[] = [];
    try {
      while (this.open.size > 0 || this.openWaiters.length > 0) {
        // What arrives while this waits joins the same commit.
        if (this.open.size > 0) await this.commitSlot();
        const batch = this.open;
        waiters = this.openWaiters;
        this.open = new Map();
        this.openWaiters = [];
        this.urgent = false;
        if (batch.size > 0) {
          this.lastCommitStart = performance.now();
          await this.commitWithRetry(batch);
        }
        for (const waiter of waiters) waiter.resolve();
        waiters = [];
      }
    } catch (error) {
      this.options.log.error({ err: error }, 'stopping with writes not committed');
      for (const waiter of [...waiters, ...this.openWaiters]) waiter.reject(error as Error);
      this.openWaiters = [];
    } finally {
      this.running = false;
    }
  }

  /**
   * Resolves once the commit interval has passed since the last commit started:
   * COMMIT_INTERVAL_MS while someone waits for the commit or after `soon()`, else
   * UNAWAITED_COMMIT_INTERVAL_MS (cut short by a `committed()` or `soon()` call).
   */
  private async commitSlot(): Promise<void> {
    // A timer may fire a fraction of a millisecond early by this clock: check again.
    for (;;) {
      const interval =
        this.openWaiters.length > 0 || this.urgent
          ? COMMIT_INTERVAL_MS
          : UNAWAITED_COMMIT_INTERVAL_MS;
      const wait = this.lastCommitStart + interval - performance.now();
      if (wait <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.hurry?.(), Math.ceil(wait));
        this.hurry = () => {
          clearTimeout(timer);
          this.hurry = undefined;
          resolve();
        };
      });
    }
  }

  /**
   * Every failure is retried: if leadership is really gone, LeaderLock.onLost stops us. Only a
   * stop that gives up (`abandon`) ends the loop, rejecting with `abandoned`.
   */
  private async commitWithRetry(batch: WriteBatch): Promise<void> {
    // Planned once: a retry sends the same rows, so an attempt that committed but whose answer
    // was lost is repeated exactly (queue-sql.ts), never planned again over rows it made.
    const chunks = this.options.chunks.plan(batch);
    const durationMs = await retry(() => this.commit(batch, chunks), {
      policy: RETRY_POLICIES.commit,
      signal: this.stopped.signal,
      onFailedAttempt: ({ error, delayMs }) => {
        this.healthy = false;
        this.metrics?.commitFailed();
        this.options.log.error({ err: error, retryInMs: delayMs }, 'commit failed; retrying');
      },
    });
    // After the retries, not inside them: a batch already committed is never committed again.
    this.options.chunks.applied(chunks);
    this.healthy = true;
    this.options.onCommitted(batch);
    this.metrics?.committed(batch, durationMs);
  }

  /** One attempt at committing `batch`; resolves with its duration in ms. */
  private async commit(batch: WriteBatch, chunks: ChunkWrite[]): Promise<number> {
    const fence = this.options.fence();
    if (!fence) throw new Error('waiting for the leader lock');
    const started = performance.now();
    // A checked-out client reports a killed connection as an 'error' event, not only
    // through the query: without a listener that event would end the process.
    const ignore = () => {};
    const client = await checkOut(this.options.pool, ignore);
    try {
      await commitBatch(client, batch, chunks, fence, { prepared: this.options.prepared ?? false });
    } catch (error) {
      // A broken connection must not go back to the pool. It keeps the listener: while it
      // closes, the server's message that it was terminated can still arrive as an 'error'.
      client.release(error as Error);
      throw error;
    }
    client.off('error', ignore);
    client.release();
    return performance.now() - started;
  }
}

/**
 * The one write path to PostgreSQL. Memory changes first (dispatch never waits for a disk),
 * and everything recorded while a commit runs goes into the next one: group commit, one
 * transaction per few milliseconds whatever the rate (DESIGN "Storage"). A failed commit is
 * retried with capped backoff and nothing recorded is dropped meanwhile.
 */
import type pg from 'pg';
import { backoffDelay } from '../shared/backoff.js';
import type { Logger } from '../shared/logger.js';
import { QueueWrites, type WriteBatch } from './queue-writes.js';
import { commitBatch, LeadershipLostError } from './store.js';

export interface WriteBehindOptions {
  pool: pg.Pool;
  fence: { lockKey: number; leaderPid: number };
  log: Logger;
  /** Applies a committed batch to memory (successes become done). */
  onCommitted: (batch: WriteBatch) => void;
  /** Leadership is gone: the manager must stop. */
  onLeadershipLost: (error: Error) => void;
}

export class WriteBehind {
  private open: WriteBatch = new Map();
  private openWaiters: (() => void)[] = [];
  private running = false;
  private closed = false;
  private failures = 0;
  /** True while the last commit failed; readiness reports it. */
  healthy = true;
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly options: WriteBehindOptions) {}

  /** The writes of `queue` in the batch being filled; recording into it schedules a commit. */
  forQueue(queue: string): QueueWrites {
    let writes = this.open.get(queue);
    if (!writes) {
      writes = new QueueWrites();
      this.open.set(queue, writes);
    }
    this.schedule();
    return writes;
  }

  /** Resolves once everything recorded so far is committed. */
  committed(): Promise<void> {
    if (this.open.size === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      this.openWaiters.push(resolve);
      this.schedule();
    });
  }

  /** Commits what is recorded, then refuses more work. */
  async close(): Promise<void> {
    await this.committed();
    this.closed = true;
    await this.idle;
  }

  private schedule(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.idle = new Promise((resolve) => setImmediate(() => this.run().finally(resolve)));
  }

  private async run(): Promise<void> {
    try {
      while (this.open.size > 0 || this.openWaiters.length > 0) {
        const batch = this.open;
        const waiters = this.openWaiters;
        this.open = new Map();
        this.openWaiters = [];
        if (batch.size > 0) await this.commitWithRetry(batch);
        for (const resolve of waiters) resolve();
      }
    } catch (error) {
      this.options.onLeadershipLost(error as Error);
    } finally {
      this.running = false;
    }
  }

  private async commitWithRetry(batch: WriteBatch): Promise<void> {
    for (;;) {
      try {
        const client = await this.options.pool.connect();
        try {
          await commitBatch(client, batch, this.options.fence);
        } finally {
          client.release();
        }
        this.failures = 0;
        this.healthy = true;
        this.options.onCommitted(batch);
        return;
      } catch (error) {
        if (error instanceof LeadershipLostError) throw error;
        this.failures++;
        this.healthy = false;
        const delay = backoffDelay(this.failures, { baseMs: 50, maxMs: 5_000 });
        this.options.log.error({ err: error, retryInMs: delay }, 'commit failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

/**
 * Writes queues' effective range sizes behind the dispatcher (manager/store/settings-sql.ts,
 * migrations/005_effective_range_size.sql), so that a restarted manager starts each queue at the
 * size its workers' nodes served. One statement at a time, and the latest size of a queue wins:
 * a burst of changes costs a write per queue, not per change. A failed write is logged and left:
 * the size is a hint, and the next change writes it again.
 */
import type { Logger } from '../../shared/logger.js';

/** Writes one queue's size (null: its rangeSize); false when nothing was written (fence lost). */
export type SaveRangeSize = (queue: string, size: number | null) => Promise<boolean>;

export class RangeSizeWriter {
  private readonly due = new Map<string, number | null>();
  private running: Promise<void> | undefined;

  constructor(
    private readonly save: SaveRangeSize,
    private readonly log: Logger,
  ) {}

  record(queue: string, size: number | null): void {
    this.due.set(queue, size);
    this.running ??= this.run();
  }

  /** Resolves once everything recorded so far is written, or has failed. */
  async flushed(): Promise<void> {
    while (this.running) await this.running;
  }

  private async run(): Promise<void> {
    try {
      for (const [queue, size] of this.due) {
        this.due.delete(queue);
        try {
          if (!(await this.save(queue, size)))
            this.log.debug({ queue, size }, 'effective range size not written: not leading');
        } catch (error) {
          this.log.warn({ err: error, queue, size }, 'effective range size not written');
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}

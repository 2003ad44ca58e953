/**
 * The handler runs in progress, held as a Set would hold them but without a Set's cost on the
 * hot path. A loop's Set lives as long as the worker, so V8 moves it to the old generation, and
 * a Set there rebuilds its hash table in the old generation as adds and deletes churn through
 * it. At the rate of a fast handler that filled the old generation at hundreds of MB a second
 * and cost a full garbage collection, a pause of 4 to 10 ms, about every 200 ms (S4 of
 * docs/performance.md). Here each run knows its index, and a delete moves the last run into it:
 * no allocation at all once the array has grown to the concurrency.
 */

export interface Slotted {
  /** Index in its RunningRuns, or -1 while it is in none. */
  slot: number;
}

export class RunningRuns<R extends Slotted> implements Iterable<R> {
  private readonly runs: (R | undefined)[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(run: R): void {
    run.slot = this.count;
    this.runs[this.count++] = run;
  }

  /** Removes `run`; false when it is not here (a thenable that settled twice). */
  delete(run: R): boolean {
    const slot = run.slot;
    if (slot < 0 || this.runs[slot] !== run) return false;
    const last = this.runs[--this.count] as R;
    this.runs[slot] = last;
    last.slot = slot;
    this.runs[this.count] = undefined;
    run.slot = -1;
    return true;
  }

  /** A snapshot: aborting or settling a run while iterating does not skip another. */
  [Symbol.iterator](): Iterator<R> {
    return (this.runs.slice(0, this.count) as R[])[Symbol.iterator]();
  }
}

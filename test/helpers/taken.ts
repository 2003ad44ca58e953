/** A queue's take (manager/queue/queue-state.ts) read as `[from, to]` pairs, for assertions. */
import type { Taken } from '../../manager/queue/queue-state.js';
import { pairsOfFlat } from '../../shared/range-flat.js';

export function rangesOf(taken: Taken): [number, number][] {
  return pairsOfFlat(taken.flat);
}

/** The take with its ranges as pairs: `{ ranges, attempts, count }`. */
export function pairsView({ flat, ...rest }: Taken) {
  return { ranges: pairsOfFlat(flat), ...rest };
}

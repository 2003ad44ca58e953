/** Fails a set share of attempts at random, for retry and dead-letter tests. */
import type { Handler } from '../handler.js';

export function createFlakyHandler(rate: number, random: () => number = Math.random): Handler {
  return async () => {
    if (random() < rate) throw new Error('flaky: simulated failure');
  };
}

/** Used as a module path: fails half the attempts. */
export default createFlakyHandler(0.5);

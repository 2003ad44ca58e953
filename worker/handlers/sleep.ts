/** Sleeps a fixed time per height, for overhead benchmarks (docs/performance.md, S3). */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Handler } from '../handler.js';

export function createSleepHandler(ms: number): Handler {
  return async (_height, ctx) => {
    // Rejects at once when the signal fires (cancel, disconnect, shutdown timeout).
    await sleep(ms, undefined, { signal: ctx.signal });
  };
}

/** Used as a module path (BLOCKRUNNER_HANDLER=dist/worker/handlers/sleep.js): 10 ms. */
export default createSleepHandler(10);

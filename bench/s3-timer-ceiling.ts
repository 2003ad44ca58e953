/**
 * S3's ceiling (docs/performance.md): a bare Node process running BENCH_LOOPS loops of
 * `await setTimeout(BENCH_SLEEP_MS)` until BENCH_HEIGHTS sleeps are done, nothing else. What it
 * achieves is the machine's own timer ceiling for the same work; S3 compares Blockrunner with it.
 * Prints `bench-ceiling {"heights","elapsedMs"}` and exits.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export const CEILING_LINE_PREFIX = 'bench-ceiling ';

async function main(): Promise<void> {
  const loops = Number(process.env.BENCH_LOOPS);
  const sleepMs = Number(process.env.BENCH_SLEEP_MS);
  const heights = Number(process.env.BENCH_HEIGHTS);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (next < heights) {
        next++;
        await sleep(sleepMs);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  process.stdout.write(`${CEILING_LINE_PREFIX}${JSON.stringify({ heights, elapsedMs })}\n`);
}

if (process.env.BENCH_LOOPS) await main();

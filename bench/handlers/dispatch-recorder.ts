/**
 * A worker handler for S4: prints when each height reached the handler, on the worker's stdout,
 * as `bench-dispatch {"queue","height","attempt","at"}`. `at` is `monotonicMs()`, the machine's
 * monotonic clock in ms, which the bench, on the same machine, compares with when it sent the
 * enqueue request.
 * Loaded by path (BLOCKRUNNER_HANDLER), so it depends on nothing of Blockrunner's.
 * With BENCH_RECORD_FROM=H it records only heights from H up and does nothing for the others, so
 * the same workers can run a noop backfill below H and timed tip heights above it.
 */

export const DISPATCH_LINE_PREFIX = 'bench-dispatch ';

export interface DispatchRecord {
  queue: string;
  height: number;
  attempt: number;
  at: number;
}

const recordFrom = Number(process.env.BENCH_RECORD_FROM ?? 0);

export default function recordDispatch(
  height: number,
  ctx: { readonly queue: string; readonly attempt: number },
): void {
  if (height < recordFrom) return;
  const at = monotonicMs();
  const record: DispatchRecord = { queue: ctx.queue, height, attempt: ctx.attempt, at };
  // Synchronous on a pipe under Linux, so lines are never lost or interleaved.
  process.stdout.write(`${DISPATCH_LINE_PREFIX}${JSON.stringify(record)}\n`);
}

/**
 * CLOCK_MONOTONIC in ms, which every process of the machine reads alike. Not
 * performance.timeOrigin + performance.now(): timeOrigin is the wall clock when the process
 * started, and the wall clock drifts from the monotonic one while NTP corrects it, so two
 * processes started minutes apart disagree by a fraction of a millisecond (in a full bench
 * run, S4's tip heights reached the handler 0.35 ms "before" their request at the median).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The record on a line of the worker's output, or undefined for any other line. */
export function parseDispatchLine(line: string): DispatchRecord | undefined {
  if (!line.startsWith(DISPATCH_LINE_PREFIX)) return undefined;
  return JSON.parse(line.slice(DISPATCH_LINE_PREFIX.length)) as DispatchRecord;
}

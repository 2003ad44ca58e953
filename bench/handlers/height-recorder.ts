/**
 * A worker handler for S7: runs the handler module named by BENCH_RECORDED_HANDLER (the
 * evm-blocks example) and prints, per height, when that handler started and when it ended, on
 * the worker's stdout, as `bench-height {"queue","height","attempt","startedAt","finishedAt",
 * "hash","ok"}`; its `revert` likewise as `bench-revert {"from","to","startedAt","finishedAt"}`.
 * Times are performance.timeOrigin + performance.now(), as in dispatch-recorder.ts: the bench,
 * on the same machine and clock, compares them with when it saw each block appear on the node.
 * Loaded by path (BLOCKRUNNER_HANDLER), so it depends on nothing of Blockrunner's.
 */
import { pathToFileURL } from 'node:url';

export const HEIGHT_LINE_PREFIX = 'bench-height ';
export const REVERT_LINE_PREFIX = 'bench-revert ';

export interface HeightRecord {
  queue: string;
  height: number;
  attempt: number;
  startedAt: number;
  finishedAt: number;
  /** The block hash the handler returned; null when it failed. */
  hash: string | null;
  ok: boolean;
}

export interface RevertRecord {
  from: number;
  to: number;
  startedAt: number;
  finishedAt: number;
}

interface Context {
  readonly queue: string;
  readonly attempt: number;
  readonly signal: AbortSignal;
}

interface RecordedModule {
  default: (height: number, ctx: Context) => Promise<{ hash: string; parentHash: string }>;
  revert?: (range: { from: number; to: number }, ctx: unknown) => Promise<void>;
}

/** Loaded at the first call, so that the bench can import the parsers below without it. */
let recorded: Promise<RecordedModule> | undefined;

function load(): Promise<RecordedModule> {
  const path = process.env.BENCH_RECORDED_HANDLER;
  if (!path) throw new Error('BENCH_RECORDED_HANDLER: the path of the handler module to record');
  recorded ??= import(pathToFileURL(path).href) as Promise<RecordedModule>;
  return recorded;
}

export default async function recordHeight(
  height: number,
  ctx: Context,
): Promise<{ hash: string; parentHash: string }> {
  const startedAt = now();
  let hash: string | null = null;
  try {
    const block = await (await load()).default(height, ctx);
    hash = block.hash;
    return block;
  } finally {
    const record: HeightRecord = {
      queue: ctx.queue,
      height,
      attempt: ctx.attempt,
      startedAt,
      finishedAt: now(),
      hash,
      ok: hash !== null,
    };
    // Synchronous on a pipe under Linux, so lines are never lost or interleaved.
    process.stdout.write(`${HEIGHT_LINE_PREFIX}${JSON.stringify(record)}\n`);
  }
}

export async function revert(range: { from: number; to: number }, ctx: unknown): Promise<void> {
  const startedAt = now();
  await (await load()).revert?.(range, ctx);
  const record: RevertRecord = { ...range, startedAt, finishedAt: now() };
  process.stdout.write(`${REVERT_LINE_PREFIX}${JSON.stringify(record)}\n`);
}

/** The record on a line of the worker's output, or undefined for any other line. */
export function parseHeightLine(line: string): HeightRecord | undefined {
  if (!line.startsWith(HEIGHT_LINE_PREFIX)) return undefined;
  return JSON.parse(line.slice(HEIGHT_LINE_PREFIX.length)) as HeightRecord;
}

export function parseRevertLine(line: string): RevertRecord | undefined {
  if (!line.startsWith(REVERT_LINE_PREFIX)) return undefined;
  return JSON.parse(line.slice(REVERT_LINE_PREFIX.length)) as RevertRecord;
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

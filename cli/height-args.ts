/**
 * Heights and ranges as typed on the command line: `7`, `100..200` (inclusive). Pure, so the
 * rules are unit-tested (test/cli/height-args.test.ts) rather than found out against a manager.
 */
import { ConfigError } from '../shared/errors.js';

export interface HeightRange {
  from: number;
  to: number;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

const MAX_HEIGHT = BigInt(Number.MAX_SAFE_INTEGER);

/** One height: plain digits, 0 to 2^53-1. */
export function parseHeight(text: string): Checked<number> {
  if (/^\d+$/.test(text)) {
    // BigInt, because Number() silently rounds what lies beyond 2^53-1.
    if (BigInt(text) > MAX_HEIGHT) {
      return { ok: false, problem: `heights go up to ${Number.MAX_SAFE_INTEGER} (2^53-1)` };
    }
    return { ok: true, value: Number(text) };
  }
  if (/^-\d/.test(text)) return { ok: false, problem: 'heights cannot be negative' };
  if (/^\d*\.\d*$/.test(text) && text !== '.') {
    return { ok: false, problem: 'heights are whole numbers' };
  }
  if (text === '') return { ok: false, problem: 'empty height' };
  return { ok: false, problem: 'expected a height like 7 or a range like 100..200' };
}

/** One argument: a height or an inclusive range `a..b` with a <= b. */
export function parseHeightArg(arg: string): Checked<HeightRange> {
  const parts = arg.split('..');
  if (parts.length === 1) {
    const height = parseHeight(arg);
    return height.ok ? { ok: true, value: { from: height.value, to: height.value } } : height;
  }
  if (parts.length !== 2) {
    return { ok: false, problem: 'expected a height like 7 or a range like 100..200' };
  }
  const [fromText = '', toText = ''] = parts;
  const from = parseHeight(fromText);
  if (!from.ok) return { ok: false, problem: `range start: ${from.problem}` };
  const to = parseHeight(toText);
  if (!to.ok) return { ok: false, problem: `range end: ${to.problem}` };
  if (from.value > to.value) {
    return {
      ok: false,
      problem: `the range starts above its end (ranges are inclusive and go up: ${toText}..${fromText})`,
    };
  }
  return { ok: true, value: { from: from.value, to: to.value } };
}

/**
 * Every argument checked, then merged into the fewest sorted ranges. A bad argument is a
 * ConfigError naming it (the CLI exits 2, like any usage error).
 */
export function parseHeightArgs(args: readonly string[]): HeightRange[] {
  if (args.length === 0) {
    throw new ConfigError('no heights given: pass heights or ranges, e.g. 0..9999 42');
  }
  const ranges: HeightRange[] = [];
  for (const arg of args) {
    const parsed = parseHeightArg(arg);
    if (!parsed.ok) throw new ConfigError(`bad height "${arg}": ${parsed.problem}`);
    ranges.push(parsed.value);
  }
  return mergeRanges(ranges);
}

/** Sorts and joins overlapping and adjacent ranges: [7..7, 1..5, 6..6] -> [1..7]. */
export function mergeRanges(ranges: readonly HeightRange[]): HeightRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from || a.to - b.to);
  const merged: HeightRange[] = [];
  for (const range of sorted) {
    const last = merged.at(-1);
    if (last !== undefined && range.from <= last.to + 1) {
      last.to = Math.max(last.to, range.to);
    } else {
      merged.push({ from: range.from, to: range.to });
    }
  }
  return merged;
}

/** The argument that parses back to `range`: `7` or `100..200`. */
export function formatRange(range: HeightRange): string {
  return range.from === range.to ? String(range.from) : `${range.from}..${range.to}`;
}

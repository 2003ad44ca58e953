/**
 * Conversion between RangeSet (inclusive ranges) and PostgreSQL's int8multirange text form,
 * which is canonical as half-open ranges: {[0,100),[200,301)}.
 */
import { RangeSet, type RangeSetBuilder } from '../../shared/range-set.js';

export function toMultirange(set: RangeSet): string {
  // Digits written into one buffer, read back as one string: a part string per range, or a
  // string grown range by range, cost a sparse commit several times the text in garbage.
  const out = Buffer.allocUnsafe(2 + set.rangeCount * MAX_RANGE_CHARS);
  let n = 0;
  out[n++] = OPEN_BRACE;
  set.forEachRange((from, to) => {
    if (n > 1) out[n++] = COMMA;
    out[n++] = OPEN_BRACKET;
    n = writeDigits(out, n, from);
    out[n++] = COMMA;
    n = writeDigits(out, n, to + 1);
    out[n++] = CLOSE_PAREN;
  });
  out[n++] = CLOSE_BRACE;
  return out.toString('latin1', 0, n);
}

/** `[`, `,`, `)` and two numbers of at most 16 digits (2^53 has 16). */
const MAX_RANGE_CHARS = 36;

/** Writes `value` (a non-negative safe integer) in decimal at `at`; returns the next index. */
function writeDigits(out: Buffer, at: number, value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  let rest = value;
  for (let i = at + digits - 1; i >= at; i--) {
    out[i] = ZERO + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return at + digits;
}

const RANGE = /([[(])(-?\d*),(-?\d*)([\])])/g;

export function fromMultirange(text: string): RangeSet {
  const ranges: [number, number][] = [];
  // Anything but PostgreSQL's canonical text would lose heights silently: refuse it.
  if (!/^\{(\s*[[(]-?\d*\s*,\s*-?\d*[\])]\s*(,\s*[[(]-?\d*\s*,\s*-?\d*[\])]\s*)*)?\}$/.test(text))
    throw new Error(`not an int8multirange: ${text.slice(0, 100)}`);
  for (const match of text.matchAll(RANGE)) {
    const [, open, lower, upper, close] = match;
    if (lower === '' || upper === '') throw new Error(`unbounded range in ${text}`);
    const from = Number(lower) + (open === '(' ? 1 : 0);
    const to = Number(upper) - (close === ')' ? 1 : 0);
    if (from <= to) ranges.push([from, to]);
  }
  return RangeSet.from(ranges);
}

const OPEN_BRACE = 123; // {
const CLOSE_BRACE = 125; // }
const OPEN_BRACKET = 91; // [
const CLOSE_PAREN = 41; // )
const COMMA = 44;
const ZERO = 48;
const NINE = 57;

/**
 * Appends the ranges of an int8multirange in PostgreSQL's canonical text form of int8 ranges
 * (`{[0,100),[200,301)}`) to `out`, in one pass over the characters: loading a queue of a
 * million gaps reads its rows this way (queue-loader.ts). Anything else is refused.
 */
export function appendMultirange(out: RangeSetBuilder, text: string): void {
  const fail = () => new Error(`not a canonical int8multirange: ${text.slice(0, 100)}`);
  const n = text.length;
  if (n < 2 || text.charCodeAt(0) !== OPEN_BRACE || text.charCodeAt(n - 1) !== CLOSE_BRACE)
    throw fail();
  let i = 1;
  const number = (): number => {
    const begin = i;
    let value = 0;
    for (let c = text.charCodeAt(i); c >= ZERO && c <= NINE; c = text.charCodeAt(++i))
      value = value * 10 + (c - ZERO);
    if (i === begin || i - begin > 16) throw fail();
    return value;
  };
  while (i < n - 1) {
    if (text.charCodeAt(i) !== OPEN_BRACKET) throw fail();
    i++;
    const from = number();
    if (text.charCodeAt(i) !== COMMA) throw fail();
    i++;
    const end = number();
    if (text.charCodeAt(i) !== CLOSE_PAREN || end <= from) throw fail();
    i++;
    out.add(from, end - 1);
    if (i < n - 1) {
      if (text.charCodeAt(i) !== COMMA) throw fail();
      i++;
      if (i >= n - 1) throw fail();
    }
  }
}

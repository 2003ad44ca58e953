/**
 * Conversion between RangeSet (inclusive ranges) and PostgreSQL's int8multirange text form,
 * which is canonical as half-open ranges: {[0,100),[200,301)}.
 */
import { RangeSet, type RangeSetBuilder } from '../../shared/range-set.js';

export function toMultirange(set: RangeSet): string {
  // Digits written into one buffer, read back as one string: a part string per range, or a
  // string grown range by range, cost a sparse commit several times the text in garbage.
  const out = Buffer.allocUnsafe(maxChars(set));
  const n = writeMultirange(out, 0, set);
  return out.toString('latin1', 0, n);
}

/**
 * The sets as one PostgreSQL array literal of their int8multirange texts, `{"{[0,10)}","{}"}`,
 * for an `$n::int8multirange[]` parameter, written into one buffer: a string per set, which
 * `pg` then quotes and joins into the array literal, held a sparse commit's text three times.
 * The texts hold no quote or backslash, so quoting each is enough.
 */
export function toMultirangeArray(sets: readonly RangeSet[]): string {
  let size = 2;
  for (const set of sets) size += maxChars(set) + 3;
  const out = Buffer.allocUnsafe(size);
  let n = 0;
  out[n++] = OPEN_BRACE;
  for (let k = 0; k < sets.length; k++) {
    if (k > 0) out[n++] = COMMA;
    out[n++] = QUOTE;
    n = writeMultirange(out, n, sets[k] as RangeSet);
    out[n++] = QUOTE;
  }
  out[n++] = CLOSE_BRACE;
  return out.toString('latin1', 0, n);
}

/** Writes the text of `set` at `at`; returns the next index. */
function writeMultirange(out: Buffer, at: number, set: RangeSet): number {
  let n = at;
  out[n++] = OPEN_BRACE;
  set.forEachRange((from, to) => {
    if (n > at + 1) out[n++] = COMMA;
    out[n++] = OPEN_BRACKET;
    n = writeDigits(out, n, from);
    out[n++] = COMMA;
    n = writeDigits(out, n, to + 1);
    out[n++] = CLOSE_PAREN;
  });
  out[n++] = CLOSE_BRACE;
  return n;
}

/**
 * At most how many characters the text of `set` takes: `[`, `,`, `)` and a separator per
 * range, and two numbers of at most the digits of its highest bound (a buffer sized for 2^53
 * would be twice a sparse queue's text).
 */
function maxChars(set: RangeSet): number {
  const top = set.max();
  if (top === undefined) return 2;
  return 2 + set.rangeCount * (4 + 2 * digitsOf(top + 1));
}

function digitsOf(value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/** Writes `value` (a non-negative safe integer) in decimal at `at`; returns the next index. */
function writeDigits(out: Buffer, at: number, value: number): number {
  const digits = digitsOf(value);
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
const QUOTE = 34; // "
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

/**
 * Conversion between RangeSet (inclusive ranges) and PostgreSQL's int8multirange text form,
 * which is canonical as half-open ranges: {[0,100),[200,301)}.
 */
import { RangeSet } from '../../shared/range-set.js';

export function toMultirange(set: RangeSet): string {
  const parts: string[] = [];
  for (const [from, to] of set.ranges()) parts.push(`[${from},${to + 1})`);
  return `{${parts.join(',')}}`;
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

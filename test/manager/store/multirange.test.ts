/**
 * RangeSet <-> int8multirange text, checked against itself and against PostgreSQL: what the
 * store writes must read back as the same set, and what PostgreSQL computes (unions and
 * differences in the queue SQL) must read back as what RangeSet computes.
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fromMultirange,
  toMultirange,
  toMultirangeArray,
} from '../../../manager/store/multirange.js';
import { RangeSet } from '../../../shared/range-set.js';

const TOP = Number.MAX_SAFE_INTEGER - 1;

/** Heights near 0, near the top of the domain, and anywhere between. */
const height = fc.oneof(
  fc.integer({ min: 0, max: 200 }),
  fc.integer({ min: TOP - 200, max: TOP }),
  fc.integer({ min: 0, max: TOP }),
);

const rangeSet = fc
  .array(fc.tuple(height, height), { maxLength: 12 })
  .map((pairs) =>
    RangeSet.from(pairs.map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a]))),
  );

describe('toMultirange / fromMultirange', () => {
  it('round-trips any range set', () => {
    fc.assert(
      fc.property(rangeSet, (set) => {
        const back = fromMultirange(toMultirange(set));
        expect(back.toJSON()).toEqual(set.toJSON());
      }),
      { numRuns: 1_000 },
    );
  });

  it('writes the empty set as {} and reads {} back as empty', () => {
    expect(toMultirange(new RangeSet())).toBe('{}');
    expect(fromMultirange('{}').isEmpty).toBe(true);
  });

  it('writes half-open ranges, the form PostgreSQL prints', () => {
    const set = RangeSet.from([
      [0, 99],
      [200, 300],
      [TOP, TOP],
    ]);
    expect(toMultirange(set)).toBe(`{[0,100),[200,301),[${TOP},${TOP + 1})}`);
  });

  it('reads closed and open bounds alike', () => {
    expect(fromMultirange('{[1,3],(5,9)}').toJSON()).toEqual([
      [1, 3],
      [6, 8],
    ]);
    expect(fromMultirange('{(0,4],[7,8)}').toJSON()).toEqual([
      [1, 4],
      [7, 7],
    ]);
    // Touching pieces merge; a piece with nothing in it adds nothing.
    expect(fromMultirange('{[1,3),[3,5)}').toJSON()).toEqual([[1, 4]]);
    expect(fromMultirange('{(1,2)}').isEmpty).toBe(true);
  });

  it('rejects unbounded ranges', () => {
    expect(() => fromMultirange('{[1,)}')).toThrow(/unbounded/);
    expect(() => fromMultirange('{(,5]}')).toThrow(/unbounded/);
    expect(() => fromMultirange('{(,)}')).toThrow(/unbounded/);
    expect(() => fromMultirange('{[0,3),[10,)}')).toThrow(/unbounded/);
  });
});

describe('against PostgreSQL', () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({
      connectionString:
        process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      connectionTimeoutMillis: 5_000,
    });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
  });

  it("reads PostgreSQL's canonical text of the bound forms", async () => {
    const { rows } = await client.query<{ text: string }>(
      `SELECT '{[1,3],(5,9)}'::int8multirange::text AS text`,
    );
    expect(rows[0]?.text).toBe('{[1,4),[6,9)}');
    expect(fromMultirange(rows[0]?.text ?? '').equals(fromMultirange('{[1,3],(5,9)}'))).toBe(true);
    const empty = await client.query<{ text: string }>(`SELECT '{}'::int8multirange::text AS text`);
    expect(empty.rows[0]?.text).toBe('{}');
  });

  it('writes what PostgreSQL accepts and prints back unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(rangeSet, async (set) => {
        const text = toMultirange(set);
        const { rows } = await client.query<{ text: string }>(
          'SELECT $1::int8multirange::text AS text',
          [text],
        );
        const printed = rows[0]?.text ?? '';
        expect(printed).toBe(text);
        expect(fromMultirange(printed).toJSON()).toEqual(set.toJSON());
      }),
      { numRuns: 200 },
    );
  });

  it('agrees with PostgreSQL on union, difference and intersection', async () => {
    await fc.assert(
      fc.asyncProperty(rangeSet, rangeSet, async (a, b) => {
        const { rows } = await client.query<{ union: string; minus: string; both: string }>(
          `SELECT ($1::int8multirange + $2::int8multirange)::text AS union,
                  ($1::int8multirange - $2::int8multirange)::text AS minus,
                  ($1::int8multirange * $2::int8multirange)::text AS both`,
          [toMultirange(a), toMultirange(b)],
        );
        const row = rows[0];
        expect(row).toBeDefined();
        if (!row) return;
        expect(fromMultirange(row.union).toJSON()).toEqual(a.union(b).toJSON());
        expect(fromMultirange(row.minus).toJSON()).toEqual(a.difference(b).toJSON());
        expect(fromMultirange(row.both).toJSON()).toEqual(a.intersection(b).toJSON());
        expect(row.union).toBe(toMultirange(a.union(b)));
      }),
      { numRuns: 200 },
    );
  });

  it('writes an array of sets that PostgreSQL reads back as those sets, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(rangeSet, { maxLength: 5 }), async (sets) => {
        const { rows } = await client.query<{ text: string }>(
          'SELECT unnest($1::int8multirange[])::text AS text',
          [toMultirangeArray(sets)],
        );
        expect(rows.map((row) => row.text)).toEqual(sets.map((set) => toMultirange(set)));
      }),
      { numRuns: 100 },
    );
  });

  it('sizes its buffer by the highest bound: a set of one big height and of many small ones', () => {
    const many = RangeSet.ofHeights(Array.from({ length: 1000 }, (_, i) => 2 * i));
    const text = toMultirangeArray([many, RangeSet.from([[TOP, TOP]]), new RangeSet()]);
    expect(text).toBe(`{"${toMultirange(many)}","{[${TOP},${TOP + 1})}","{}"}`);
  });
});

/**
 * migrations/003_queue_chunks.sql on a database built by the migrations before it: whatever
 * sets the queues rows held (dense, sparse, empty, done inside enqueued or not), the queue_chunks
 * rows hold exactly the same sets, each row within its span and of a bounded size, and a manager
 * loads the same sets from them.
 */
import fc from 'fast-check';
import type pg from 'pg';
import { afterEach, expect, inject, it } from 'vitest';
import { loadMigrations, migrate } from '../../../manager/store/migrate.js';
import { loadQueueStates } from '../../../manager/store/queue-loader.js';
import { RangeSet } from '../../../shared/range-set.js';
import {
  databaseUrl,
  dropDatabase,
  openPool,
  uniqueDatabaseName,
  withAdminClient,
} from '../../helpers/database.js';

const adminUrl = inject('databaseUrl');
const made: { name: string; pool: pg.Pool }[] = [];

afterEach(async () => {
  for (const { name, pool } of made.splice(0)) {
    await pool.end();
    await dropDatabase(adminUrl, name);
  }
});

async function databaseBefore003(): Promise<pg.Pool> {
  const name = uniqueDatabaseName('blockrunner_test_');
  await withAdminClient(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  const pool = openPool(databaseUrl(adminUrl, name), 2);
  made.push({ name, pool });
  await migrate(
    pool,
    undefined,
    loadMigrations().filter((migration) => migration.id < 3),
  );
  return pool;
}

/** A set from runs of (gap, length): dense when gaps are 0, isolated heights when lengths are 0. */
const rangeSet = fc
  .record({
    start: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000_000 })),
    runs: fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 3 })), {
      maxLength: 1_200,
    }),
    tail: fc.option(fc.integer({ min: 1, max: 99_999_999 }), { nil: undefined }),
  })
  .map(({ start, runs, tail }) => {
    const set = new RangeSet();
    let at = start;
    for (const [gap, length] of runs) {
      set.add(at, at + length);
      at += length + gap + 1;
    }
    if (tail !== undefined) set.add(at, at + tail);
    return set;
  });

function multirange(set: RangeSet): string {
  return `{${set
    .toJSON()
    .map(([a, b]) => `[${a},${b + 1})`)
    .join(',')}}`;
}

it('keeps every queue’s sets exactly', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(rangeSet, rangeSet), { minLength: 1, maxLength: 4 }),
      async (queues) => {
        const pool = await databaseBefore003();
        const names = queues.map((_, i) => `q${i}`);
        for (const [i, [enqueued, done]] of queues.entries()) {
          await pool.query(
            'INSERT INTO queues (name, enqueued, done) VALUES ($1, $2::int8multirange, $3::int8multirange)',
            [names[i], multirange(enqueued), multirange(done)],
          );
        }
        await migrate(pool);

        const { rows } = await pool.query<{ name: string; enqueued: string; done: string }>(
          'SELECT name, enqueued::text AS enqueued, done::text AS done FROM queue_sets ORDER BY name',
        );
        expect(rows).toEqual(
          queues.map(([enqueued, done], i) => ({
            name: names[i],
            enqueued: multirange(enqueued),
            done: multirange(done),
          })),
        );
        // Each row within its span, and a few hundred ranges at most.
        const { rows: outside } = await pool.query(
          `SELECT queue, lo FROM (
             SELECT *, lead(lo) OVER (PARTITION BY queue ORDER BY lo) AS next FROM queue_chunks
           ) c
           WHERE lower(enqueued) < lo OR upper(enqueued) > next OR lower(done) < lo OR upper(done) > next
             OR (SELECT count(*) FROM unnest(enqueued)) > 257 OR (SELECT count(*) FROM unnest(done)) > 257`,
        );
        expect(outside).toEqual([]);
        const loaded = await loadQueueStates(pool);
        for (const [i, [enqueued, done]] of queues.entries()) {
          const state = loaded.queues.get(names[i] as string);
          expect(state?.enqueued.toJSON()).toEqual(enqueued.toJSON());
          expect(state?.done.toJSON()).toEqual(done.toJSON());
        }
        for (const { name, pool: open } of made.splice(0)) {
          await open.end();
          await dropDatabase(adminUrl, name);
        }
      },
    ),
    { numRuns: 12 },
  );
});

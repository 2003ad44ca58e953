// @ts-check
/**
 * A handler of your own, with a dependency of its own (`pg`), packaged as an image built FROM
 * the Blockrunner image (README.md beside this file, Dockerfile, compose.handler.yml). For each
 * height it records, in one PostgreSQL row per height, which queue ran it, on which attempt and
 * when; replace the body of `handleHeight` with your indexing.
 *
 * Written by height: a height that runs again (Blockrunner delivers at least once) replaces
 * its row instead of adding one, so the table holds one row per height done.
 *
 * The life cycle (docs/workers.md): `setup` runs once per worker process before the first
 * height and opens the pool; what it returns is `ctx.state` in every call; `close` ends it at
 * the worker's stop.
 */
import pg from 'pg';

/**
 * What Blockrunner passes with each height (docs/workers.md).
 * @typedef {object} HandlerContext
 * @property {string} queue
 * @property {number} attempt 1 on the first attempt of this height.
 * @property {AbortSignal} signal Fires when the height is cancelled or the worker shuts down.
 * @property {pg.Pool} state What setup returned: the pool.
 */

const TABLE_SQL = `CREATE TABLE IF NOT EXISTS custom_heights (
  height bigint PRIMARY KEY,
  queue text NOT NULL,
  attempt integer NOT NULL,
  indexed_at timestamptz NOT NULL DEFAULT now()
)`;

/**
 * Opens the pool and creates the table, once per process, before the first height. A setup that
 * throws stops the worker with one line (exit 1): a missing database is a deployment error.
 * @returns {Promise<pg.Pool>}
 */
export async function setup() {
  const url = process.env.HANDLER_DATABASE_URL;
  if (url === undefined || url.trim() === '') {
    throw new Error(
      'HANDLER_DATABASE_URL is not set: the PostgreSQL database this handler writes to',
    );
  }
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // An idle client that errors (the server restarted) must not crash the worker.
  pool.on('error', () => {});
  try {
    await pool.query(TABLE_SQL);
  } catch (error) {
    await pool.end();
    throw new Error(`cannot create custom_heights: ${/** @type {Error} */ (error).message}`);
  }
  return pool;
}

/**
 * @param {number} height
 * @param {HandlerContext} ctx
 */
export default async function handleHeight(height, ctx) {
  ctx.signal.throwIfAborted();
  await ctx.state.query(
    `INSERT INTO custom_heights (height, queue, attempt) VALUES ($1::bigint, $2::text, $3::integer)
     ON CONFLICT (height) DO UPDATE
       SET queue = EXCLUDED.queue, attempt = EXCLUDED.attempt, indexed_at = now()`,
    [height, ctx.queue, ctx.attempt],
  );
}

/**
 * Heights a reorganisation orphaned: their rows go, and run again.
 * @param {{ from: number, to: number }} range
 * @param {{ state: pg.Pool }} ctx
 */
export async function revert({ from, to }, ctx) {
  await ctx.state.query(
    'DELETE FROM custom_heights WHERE height BETWEEN $1::bigint AND $2::bigint',
    [from, to],
  );
}

/**
 * At the worker's stop: end the pool.
 * @param {pg.Pool} pool
 */
export async function close(pool) {
  await pool.end();
}

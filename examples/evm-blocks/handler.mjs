// @ts-check
/**
 * A Blockrunner handler that indexes EVM blocks and their transactions into PostgreSQL
 * (README.md beside this file). Plain JavaScript so that Node runs it as it is: copy this folder,
 * `npm install pg`, and point BLOCKRUNNER_HANDLER at this file.
 *
 * Per height: fetch the block with its transactions over JSON-RPC, replace that height's rows in
 * one transaction, and return the block's hash and parent hash, from which Blockrunner notices a
 * reorganisation. Everything is written by height, so running a height again (Blockrunner
 * delivers at least once) leaves the same rows as running it once.
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';

/**
 * What Blockrunner passes with each height (the README's "Your handler").
 * @typedef {object} HandlerContext
 * @property {string} [queue]
 * @property {number} [attempt] 1 on the first attempt of this height.
 * @property {AbortSignal} signal Fires when the height is cancelled or the worker shuts down.
 * @property {Log} [log]
 */

/**
 * The few methods of Blockrunner's pino logger this module calls.
 * @typedef {object} Log
 * @property {(fields: object, message: string) => void} info
 * @property {(fields: object, message: string) => void} warn
 */

/**
 * @typedef {object} Config
 * @property {string} databaseUrl EVM_BLOCKS_DATABASE_URL
 * @property {string} rpcUrl EVM_RPC_URL
 * @property {number} rpcTimeoutMs EVM_RPC_TIMEOUT_MS
 */

/** @typedef {Config & { pool: pg.Pool }} State */

/**
 * @typedef {object} Transaction
 * @property {string} hash
 * @property {number} index
 * @property {string} from
 * @property {string | null} to
 * @property {string} value Wei, in decimal.
 * @property {string} gas
 * @property {number} inputSize
 * @property {string | null} inputSelector
 */

/**
 * @typedef {object} Block
 * @property {number} number
 * @property {string} hash
 * @property {string} parentHash
 * @property {number} timestamp Seconds since the epoch.
 * @property {string} gasUsed
 * @property {string} miner
 * @property {Transaction[]} transactions
 */

/** Where the node is when EVM_RPC_URL is unset: a local node (anvil, geth --dev) on its port. */
const DEFAULT_RPC_URL = 'http://127.0.0.1:8545';
/** Longest wait for one JSON-RPC answer when EVM_RPC_TIMEOUT_MS is unset. */
const DEFAULT_RPC_TIMEOUT_MS = 10_000;
const HASH = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const QUANTITY = /^0x[0-9a-fA-F]{1,64}$/;

/** Set by the first `setup` (or the first height, if nothing called `setup`); one per process. */
/** @type {Promise<State> | undefined} */
let ready;

/**
 * Reads the configuration from `env`, opens the pool and creates the tables (schema.sql) when
 * they do not exist. Called again, it waits for the first call; after a failure, the next call
 * tries again.
 * @param {{ log?: Log }} [ctx]
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {Promise<void>}
 */
export async function setup(ctx = {}, env = process.env) {
  await configured(ctx, env);
}

/**
 * Indexes block `height`: replaces its rows with what the node has at that height now.
 * @param {number} height
 * @param {HandlerContext} ctx
 * @returns {Promise<{ hash: string, parentHash: string }>}
 */
export default async function indexBlock(height, ctx) {
  if (!Number.isSafeInteger(height) || height < 0) {
    throw new Error(`evm-blocks: height must be a non-negative integer, got ${height}`);
  }
  const state = await configured(ctx);
  const block = await fetchBlock(state, height, ctx.signal);
  await writeBlock(state.pool, block, ctx.signal);
  return { hash: block.hash, parentHash: block.parentHash };
}

/**
 * Deletes the rows of heights `from`..`to`: Blockrunner calls it for a range that a
 * reorganisation orphaned, before it indexes those heights again.
 * @param {{ from: number, to: number }} range
 * @param {Partial<HandlerContext>} [ctx]
 * @returns {Promise<void>}
 */
export async function revert({ from, to }, ctx = {}) {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from) {
    throw new Error(`evm-blocks: cannot revert heights ${from}..${to}`);
  }
  const { pool } = await configured(ctx);
  ctx.signal?.throwIfAborted();
  // The transactions go with their blocks (ON DELETE CASCADE, schema.sql).
  const { rowCount } = await pool.query(
    'DELETE FROM evm_blocks WHERE number BETWEEN $1::bigint AND $2::bigint',
    [from, to],
  );
  ctx.log?.info({ from, to, blocks: rowCount }, 'evm-blocks: reverted');
}

/**
 * Ends the pool. A later `setup` or height opens a new one.
 * @returns {Promise<void>}
 */
export async function close() {
  const current = ready;
  ready = undefined;
  const state = await current?.catch(() => undefined);
  await state?.pool.end();
}

/**
 * The state of the first `setup`, started now if there was none: the worker may not call
 * `setup`, and then the heights that arrive together all wait for one setup.
 * @param {{ log?: Log }} ctx
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {Promise<State>}
 */
function configured(ctx, env = process.env) {
  if (ready === undefined) {
    const opening = open(ctx, env);
    ready = opening;
    opening.catch(() => {
      if (ready === opening) ready = undefined;
    });
  }
  return ready;
}

/**
 * @param {{ log?: Log }} ctx
 * @param {NodeJS.ProcessEnv} env
 * @returns {Promise<State>}
 */
async function open(ctx, env) {
  const config = readConfig(env);
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    connectionTimeoutMillis: 10_000,
  });
  // An idle connection that breaks is dropped by the pool; without a listener it would crash
  // the worker.
  pool.on('error', (error) => {
    ctx.log?.warn({ err: error }, 'evm-blocks: an idle PostgreSQL connection failed');
  });
  try {
    await createTables(pool);
  } catch (error) {
    await pool.end().catch(() => {});
    throw new Error(
      `evm-blocks: cannot create the tables of schema.sql in EVM_BLOCKS_DATABASE_URL: ${messageOf(error)}`,
      { cause: error },
    );
  }
  return { ...config, pool };
}

/**
 * Every problem at once, each naming its variable. Values are not echoed: URLs often carry a
 * password or an API key.
 * @param {NodeJS.ProcessEnv} env
 * @returns {Config}
 */
function readConfig(env) {
  const problems = [];
  const databaseUrl = env.EVM_BLOCKS_DATABASE_URL ?? '';
  if (databaseUrl === '') {
    problems.push(
      'EVM_BLOCKS_DATABASE_URL is required: the PostgreSQL database to write the blocks to (postgres://user:password@host:5432/database)',
    );
  }
  const rpcUrl = env.EVM_RPC_URL || DEFAULT_RPC_URL;
  if (!/^https?:\/\//i.test(rpcUrl) || !URL.canParse(rpcUrl)) {
    problems.push('EVM_RPC_URL must be an http:// or https:// URL of a JSON-RPC node');
  }
  const timeoutText = env.EVM_RPC_TIMEOUT_MS || String(DEFAULT_RPC_TIMEOUT_MS);
  const rpcTimeoutMs = Number(timeoutText);
  if (!/^[0-9]+$/.test(timeoutText) || rpcTimeoutMs < 1) {
    problems.push(`EVM_RPC_TIMEOUT_MS must be a positive whole number of milliseconds`);
  }
  if (problems.length > 0) throw new Error(`evm-blocks: ${problems.join('; ')}`);
  return Object.freeze({ databaseUrl, rpcUrl, rpcTimeoutMs });
}

/** @param {pg.Pool} pool */
async function createTables(pool) {
  const schema = await readFile(new URL('./schema.sql', import.meta.url), 'utf8');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Workers starting together would race each other's CREATE TABLE IF NOT EXISTS, which is
    // not atomic; the lock makes them take turns.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('evm-blocks schema.sql'))");
    await client.query(schema);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * @param {Config} config
 * @param {number} height
 * @param {AbortSignal} signal
 * @returns {Promise<Block>}
 */
async function fetchBlock(config, height, signal) {
  const raw = await rpc(config, 'eth_getBlockByNumber', [`0x${height.toString(16)}`, true], signal);
  if (raw === null) {
    // Only for the message: how far the node is, which tells "not yet" from "wrong node".
    const head = await rpc(config, 'eth_blockNumber', [], signal).then(Number, () => undefined);
    throw new Error(
      `evm-blocks: the node at EVM_RPC_URL (${hostOf(config.rpcUrl)}) has no block ${height} yet (its head is ${head ?? 'unknown'})`,
    );
  }
  return parseBlock(raw, height);
}

/**
 * One JSON-RPC call, given up when `signal` fires or after EVM_RPC_TIMEOUT_MS.
 * @param {Config} config
 * @param {string} method
 * @param {unknown[]} params
 * @param {AbortSignal} signal
 * @returns {Promise<any>}
 */
async function rpc(config, method, params, signal) {
  const where = `EVM_RPC_URL (${hostOf(config.rpcUrl)})`;
  const timeout = AbortSignal.timeout(config.rpcTimeoutMs);
  let response;
  let text;
  try {
    response = await fetch(config.rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      signal: AbortSignal.any([signal, timeout]),
    });
    text = await response.text();
  } catch (error) {
    if (signal.aborted) throw cancelled(method, signal);
    if (timeout.aborted) {
      throw new Error(
        `evm-blocks: ${where} did not answer ${method} within ${config.rpcTimeoutMs} ms`,
        {
          cause: error,
        },
      );
    }
    throw new Error(`evm-blocks: cannot reach ${where} for ${method}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  if (!response.ok) {
    throw new Error(`evm-blocks: ${where} answered ${method} with HTTP ${response.status}`);
  }
  /** @type {{ result?: unknown, error?: { code?: number, message?: string } }} */
  let answer;
  try {
    answer = JSON.parse(text);
  } catch (error) {
    throw new Error(`evm-blocks: ${where} answered ${method} with something that is not JSON`, {
      cause: error,
    });
  }
  if (answer.error) {
    throw new Error(
      `evm-blocks: ${method} failed at ${where}: ${answer.error.message} (JSON-RPC error ${answer.error.code})`,
    );
  }
  return answer.result ?? null;
}

/**
 * Checks the fields this module stores and converts them: hex quantities become decimal strings
 * (wei exceeds a JavaScript number) and hashes lower case, so that rows compare as text.
 * @param {any} raw
 * @param {number} height
 * @returns {Block}
 */
function parseBlock(raw, height) {
  const at = `block ${height}`;
  if (quantity(raw?.number, `${at}: number`) !== BigInt(height)) {
    throw new Error(`evm-blocks: asked for block ${height}, the node sent block ${raw.number}`);
  }
  if (!Array.isArray(raw.transactions)) {
    throw new Error(`evm-blocks: ${at} has no transaction list`);
  }
  return {
    number: height,
    hash: matching(raw.hash, HASH, `${at}: hash`),
    parentHash: matching(raw.parentHash, HASH, `${at}: parentHash`),
    timestamp: Number(quantity(raw.timestamp, `${at}: timestamp`)),
    gasUsed: quantity(raw.gasUsed, `${at}: gasUsed`).toString(),
    miner: matching(raw.miner, ADDRESS, `${at}: miner`),
    transactions: raw.transactions.map((/** @type {any} */ tx, /** @type {number} */ i) => {
      const where = `${at}, transaction ${i}`;
      if (typeof tx !== 'object' || tx === null) {
        throw new Error(
          `evm-blocks: ${where} is a hash, not an object: ask with full transactions`,
        );
      }
      const input = typeof tx.input === 'string' ? tx.input : '0x';
      return {
        hash: matching(tx.hash, HASH, `${where}: hash`),
        index: Number(quantity(tx.transactionIndex, `${where}: transactionIndex`)),
        from: matching(tx.from, ADDRESS, `${where}: from`),
        to: tx.to == null ? null : matching(tx.to, ADDRESS, `${where}: to`),
        value: quantity(tx.value, `${where}: value`).toString(),
        gas: quantity(tx.gas, `${where}: gas`).toString(),
        inputSize: Math.floor((input.length - 2) / 2),
        inputSelector: input.length >= 10 ? input.slice(0, 10).toLowerCase() : null,
      };
    }),
  };
}

/**
 * Replaces the rows of `block.number` with `block`, in one transaction: deleting first also
 * removes transactions that an earlier version of this height had and this one has not.
 * @param {pg.Pool} pool
 * @param {Block} block
 * @param {AbortSignal} signal
 */
async function writeBlock(pool, block, signal) {
  const client = await pool.connect();
  /** @type {Error | undefined} */
  let broken;
  try {
    await client.query('BEGIN');
    await client.query('DELETE FROM evm_blocks WHERE number = $1::bigint', [block.number]);
    await client.query(
      `INSERT INTO evm_blocks (number, hash, parent_hash, timestamp, tx_count, gas_used, miner)
       VALUES ($1::bigint, $2::text, $3::text, to_timestamp($4::bigint), $5::integer, $6::bigint, $7::text)`,
      [
        block.number,
        block.hash,
        block.parentHash,
        block.timestamp,
        block.transactions.length,
        block.gasUsed,
        block.miner,
      ],
    );
    if (block.transactions.length > 0) {
      const txs = block.transactions;
      // ON CONFLICT: a reorganisation can move a transaction to another height, and this one may
      // run before the old height is reverted or run again; the transaction follows its block.
      await client.query(
        `INSERT INTO evm_transactions
           (hash, block_number, tx_index, from_address, to_address, value, gas, input_size, input_selector)
         SELECT t.hash, $1::bigint, t.tx_index, t.from_address, t.to_address, t.value, t.gas,
                t.input_size, t.input_selector
           FROM unnest($2::text[], $3::integer[], $4::text[], $5::text[], $6::numeric[],
                       $7::bigint[], $8::integer[], $9::text[])
             AS t(hash, tx_index, from_address, to_address, value, gas, input_size, input_selector)
         ON CONFLICT (hash) DO UPDATE SET
           block_number = EXCLUDED.block_number, tx_index = EXCLUDED.tx_index,
           from_address = EXCLUDED.from_address, to_address = EXCLUDED.to_address,
           value = EXCLUDED.value, gas = EXCLUDED.gas, input_size = EXCLUDED.input_size,
           input_selector = EXCLUDED.input_selector`,
        [
          block.number,
          txs.map((tx) => tx.hash),
          txs.map((tx) => tx.index),
          txs.map((tx) => tx.from),
          txs.map((tx) => tx.to),
          txs.map((tx) => tx.value),
          txs.map((tx) => tx.gas),
          txs.map((tx) => tx.inputSize),
          txs.map((tx) => tx.inputSelector),
        ],
      );
    }
    // A height cancelled meanwhile is not committed: Blockrunner counts it as not done.
    if (signal.aborted) throw cancelled(`writing block ${block.number}`, signal);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch((/** @type {Error} */ rollbackError) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    // A connection whose ROLLBACK failed is in an unknown state: the pool discards it.
    client.release(broken);
  }
}

/**
 * @param {string} what
 * @param {AbortSignal} signal
 */
function cancelled(what, signal) {
  return new Error(`evm-blocks: ${what} cancelled (${messageOf(signal.reason)})`, {
    cause: signal.reason,
  });
}

/**
 * @param {unknown} value
 * @param {string} what
 * @returns {bigint}
 */
function quantity(value, what) {
  if (typeof value !== 'string' || !QUANTITY.test(value)) {
    throw new Error(`evm-blocks: ${what} is not a hex quantity: ${JSON.stringify(value)}`);
  }
  return BigInt(value);
}

/**
 * @param {unknown} value
 * @param {RegExp} pattern
 * @param {string} what
 * @returns {string}
 */
function matching(value, pattern, what) {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new Error(`evm-blocks: ${what} is malformed: ${JSON.stringify(value)}`);
  }
  return value.toLowerCase();
}

/** @param {string} url */
function hostOf(url) {
  return URL.canParse(url) ? new URL(url).host : 'unparsable URL';
}

/** @param {unknown} error */
function messageOf(error) {
  if (!(error instanceof Error)) return String(error);
  // fetch() says only "fetch failed"; the reason (ECONNREFUSED, ...) is its cause.
  const cause = /** @type {{ code?: string, message?: string } | undefined} */ (error.cause);
  return cause?.code ? `${error.message} (${cause.code})` : error.message;
}

-- The tables of the evm-blocks example handler (README.md beside this file). handler.mjs runs
-- this file at setup, from every worker that starts: each statement must stay safe to run
-- again on a database that already has the tables.

-- One row per height, written by the handler run of that height.
CREATE TABLE IF NOT EXISTS evm_blocks (
  number bigint PRIMARY KEY,
  hash text NOT NULL,
  parent_hash text NOT NULL,
  timestamp timestamptz NOT NULL,
  tx_count integer NOT NULL,
  gas_used bigint NOT NULL,
  miner text NOT NULL
);

-- Deleting a block deletes its transactions: a height is replaced or reverted with one DELETE.
CREATE TABLE IF NOT EXISTS evm_transactions (
  hash text PRIMARY KEY,
  block_number bigint NOT NULL REFERENCES evm_blocks (number) ON DELETE CASCADE,
  tx_index integer NOT NULL,
  from_address text NOT NULL,
  -- NULL for a contract creation.
  to_address text,
  -- Wei: up to 2^256 - 1, 78 digits.
  value numeric(78, 0) NOT NULL,
  gas bigint NOT NULL,
  -- Bytes of calldata, and its first 4 (a contract call's method selector) when it has as many.
  input_size integer NOT NULL,
  input_selector text
);

CREATE INDEX IF NOT EXISTS evm_transactions_block_number ON evm_transactions (block_number);

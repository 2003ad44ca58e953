/**
 * The evm-blocks example handler (examples/evm-blocks/) against a real anvil and a real
 * PostgreSQL database: its rows equal the node's blocks, a height run again or after a reorg
 * holds what the node has now, `revert` removes exactly its range, and a height that the node
 * does not have, that is cancelled, or whose node does not answer writes nothing.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../shared/logger.js';
import { packageRoot } from '../../shared/package-root.js';
import { type Anvil, startAnvil, stopAllAnvils } from '../helpers/anvil.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

interface BlockLink {
  hash: string;
  parentHash: string;
}

interface Context {
  queue: string;
  attempt: number;
  signal: AbortSignal;
  log: ReturnType<typeof createLogger>;
}

/** The exports of handler.mjs, which is plain JavaScript: imported by URL, typed here. */
interface EvmBlocksModule {
  default(height: number, ctx: Context): Promise<BlockLink>;
  setup(ctx?: Partial<Context>, env?: NodeJS.ProcessEnv): Promise<void>;
  revert(range: { from: number; to: number }, ctx?: Partial<Context>): Promise<void>;
  close(): Promise<void>;
}

const log = createLogger({ level: 'silent', name: 'evm-blocks-test' });

let anvil: Anvil;
let db: TestDatabase;
let handler: EvmBlocksModule;
let env: NodeJS.ProcessEnv;

function context(signal = new AbortController().signal): Context {
  return { queue: 'default', attempt: 1, signal, log };
}

async function indexRange(from: number, to: number): Promise<BlockLink[]> {
  const links: BlockLink[] = [];
  for (let height = from; height <= to; height++) {
    links.push(await handler.default(height, context()));
  }
  return links;
}

/** Mines one block per entry of `transfers`, with that many transfers in it. */
async function mineWithTransfers(transfers: number[]): Promise<number> {
  let head = await anvil.blockNumber();
  for (const count of transfers) {
    for (let i = 0; i < count; i++) await anvil.sendTransfer({ value: BigInt(1_000 + i) });
    head = await anvil.mine(1);
  }
  return head;
}

interface BlockRow {
  number: string;
  hash: string;
  parent_hash: string;
  timestamp: string;
  tx_count: number;
  gas_used: string;
  miner: string;
}

async function blockRows(from: number, to: number): Promise<BlockRow[]> {
  const { rows } = await db.pool.query<BlockRow>(
    `SELECT number::text, hash, parent_hash, extract(epoch FROM timestamp)::bigint::text AS timestamp,
            tx_count, gas_used::text, miner
       FROM evm_blocks WHERE number BETWEEN $1::bigint AND $2::bigint ORDER BY number`,
    [from, to],
  );
  return rows;
}

async function transactionHashes(height: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ hash: string }>(
    'SELECT hash FROM evm_transactions WHERE block_number = $1::bigint ORDER BY tx_index',
    [height],
  );
  return rows.map((row) => row.hash);
}

async function counts(): Promise<{ blocks: number; transactions: number }> {
  const { rows } = await db.pool.query<{ blocks: number; transactions: number }>(
    `SELECT (SELECT count(*) FROM evm_blocks)::int AS blocks,
            (SELECT count(*) FROM evm_transactions)::int AS transactions`,
  );
  const [row] = rows;
  if (!row) throw new Error('no counts');
  return row;
}

/** Every row of heights `from`..`to` holds what the node has at that height now. */
async function expectRowsMatchNode(from: number, to: number) {
  const rows = await blockRows(from, to);
  expect(rows.map((row) => Number(row.number))).toEqual(
    Array.from({ length: to - from + 1 }, (_, i) => from + i),
  );
  for (const row of rows) {
    const height = Number(row.number);
    const block = await anvil.block(height, true);
    if (!block) throw new Error(`anvil has no block ${height}`);
    expect(row).toEqual({
      number: String(height),
      hash: block.hash,
      parent_hash: block.parentHash,
      timestamp: BigInt(block.timestamp).toString(),
      tx_count: block.transactions.length,
      gas_used: BigInt(block.gasUsed).toString(),
      miner: block.miner.toLowerCase(),
    });
    expect(await transactionHashes(height)).toEqual(block.transactions.map((tx) => tx.hash));
  }
}

beforeAll(async () => {
  [anvil, db] = await Promise.all([startAnvil(), createTestDatabase()]);
  env = { EVM_RPC_URL: anvil.url, EVM_BLOCKS_DATABASE_URL: db.url };
  const url = pathToFileURL(join(packageRoot(), 'examples', 'evm-blocks', 'handler.mjs')).href;
  handler = (await import(url)) as EvmBlocksModule;
});

beforeEach(async () => {
  await handler.setup({ log }, env);
});

afterEach(() => {
  vi.unstubAllEnvs();
});

afterAll(async () => {
  await handler?.close();
  await stopAllAnvils();
  await db?.drop();
});

describe('indexing', () => {
  it('writes each height as the node has it and returns its hash and parent hash', async () => {
    const from = (await anvil.blockNumber()) + 1;
    const head = await mineWithTransfers([2, 0, 1, 3]);

    const links = await indexRange(from, head);

    const blocks = await Promise.all(links.map((_, i) => anvil.block(from + i)));
    expect(links).toEqual(
      blocks.map((block) => ({ hash: block?.hash, parentHash: block?.parentHash })),
    );
    await expectRowsMatchNode(from, head);
    const { rows } = await db.pool.query<{ value: string; to_address: string; input_size: number }>(
      'SELECT value::text, to_address, input_size FROM evm_transactions WHERE block_number = $1::bigint ORDER BY tx_index',
      [from],
    );
    expect(rows).toEqual([
      { value: '1000', to_address: expect.stringMatching(/^0x[0-9a-f]{40}$/), input_size: 0 },
      { value: '1001', to_address: expect.stringMatching(/^0x[0-9a-f]{40}$/), input_size: 0 },
    ]);
  });

  it('leaves one row per height when a height runs again', async () => {
    const head = await mineWithTransfers([2]);
    await handler.default(head, context());
    const before = await counts();

    const again = await handler.default(head, context());

    expect(await counts()).toEqual(before);
    expect(again.hash).toBe((await anvil.block(head))?.hash);
    await expectRowsMatchNode(head, head);
  });

  it('replaces the rows of heights run again after a reorg with the new blocks', async () => {
    const from = (await anvil.blockNumber()) + 1;
    const head = await mineWithTransfers([1, 1, 2, 1]);
    await indexRange(from, head);
    const orphaned = await blockRows(head - 2, head);
    const orphanedTxs = (
      await Promise.all([head - 2, head - 1, head].map(transactionHashes))
    ).flat();

    await anvil.reorg(3, 2);
    const links = await indexRange(head - 2, head);

    await expectRowsMatchNode(from, head);
    const replaced = await blockRows(head - 2, head);
    for (let i = 0; i < 3; i++) expect(replaced[i]?.hash).not.toBe(orphaned[i]?.hash);
    // The first replacement hangs off the height below, which the reorg did not touch.
    expect(links[0]?.parentHash).toBe((await blockRows(head - 3, head - 3))[0]?.hash);
    const { rows } = await db.pool.query(
      'SELECT hash FROM evm_transactions WHERE hash = ANY($1::text[])',
      [orphanedTxs],
    );
    expect(rows).toEqual([]);
  });

  it('revert removes the rows of exactly its range', async () => {
    const from = (await anvil.blockNumber()) + 1;
    const head = await mineWithTransfers([1, 1, 1, 1, 1]);
    await indexRange(from, head);
    const before = await counts();

    await handler.revert({ from: from + 1, to: from + 3 }, context());

    expect(await blockRows(from, head)).toEqual([
      expect.objectContaining({ number: String(from) }),
      expect.objectContaining({ number: String(head) }),
    ]);
    for (const height of [from + 1, from + 2, from + 3]) {
      expect(await transactionHashes(height)).toEqual([]);
    }
    expect(await transactionHashes(from)).toHaveLength(1);
    expect(await counts()).toEqual({
      blocks: before.blocks - 3,
      transactions: before.transactions - 3,
    });
  });
});

describe('failures', () => {
  it('rejects a height above the node’s head with a readable error and writes nothing', async () => {
    const head = await anvil.blockNumber();
    const before = await counts();

    await expect(handler.default(head + 5, context())).rejects.toThrow(
      `has no block ${head + 5} yet (its head is ${head})`,
    );

    expect(await counts()).toEqual(before);
  });

  it('rejects a run whose signal is aborted, and writes nothing', async () => {
    const head = await mineWithTransfers([1]);
    const before = await counts();
    const controller = new AbortController();
    controller.abort(new Error('lease lost'));

    await expect(handler.default(head, context(controller.signal))).rejects.toThrow(
      /cancelled \(lease lost\)/,
    );

    expect(await counts()).toEqual(before);
    expect(await blockRows(head, head)).toEqual([]);
  });

  describe('against a node that never answers', () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    /** Called when a request arrives; it is never answered. */
    let onRequest: (() => void) | undefined;

    beforeAll(async () => {
      // Requests, not connections, are what a test waits for: fetch keeps connections alive
      // and may send a request over one that an earlier test opened.
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('data', () => onRequest?.());
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    });

    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    async function useSilentNode(timeoutMs: number) {
      const address = silent.address();
      if (typeof address !== 'object' || address === null) throw new Error('no address');
      await handler.close();
      await handler.setup(
        { log },
        {
          ...env,
          EVM_RPC_URL: `http://127.0.0.1:${address.port}`,
          EVM_RPC_TIMEOUT_MS: String(timeoutMs),
        },
      );
    }

    afterEach(async () => {
      onRequest = undefined;
      await handler.close();
    });

    it('gives up after EVM_RPC_TIMEOUT_MS with an error naming it', async () => {
      await useSilentNode(50);
      await expect(handler.default(1, context())).rejects.toThrow(
        /EVM_RPC_URL \(127\.0\.0\.1:\d+\) did not answer eth_getBlockByNumber within 50 ms/,
      );
    });

    it('rejects at once when the signal fires while the request is in flight', async () => {
      await useSilentNode(20_000);
      const before = await counts();
      const controller = new AbortController();
      onRequest = () => controller.abort(new Error('shutting down'));

      await expect(handler.default(1, context(controller.signal))).rejects.toThrow(
        /eth_getBlockByNumber cancelled \(shutting down\)/,
      );
      expect(await counts()).toEqual(before);
    });
  });
});

describe('setup', () => {
  afterEach(async () => {
    await handler.close();
  });

  it('is optional: the first height sets up from the environment, once for concurrent heights', async () => {
    const head = await mineWithTransfers([1, 1]);
    await handler.close();
    vi.stubEnv('EVM_RPC_URL', anvil.url);
    vi.stubEnv('EVM_BLOCKS_DATABASE_URL', db.url);

    const links = await Promise.all([
      handler.default(head - 1, context()),
      handler.default(head, context()),
    ]);

    expect(links.map((link) => link.hash)).toEqual(await anvil.canonicalHashes(head - 1, head));
    await expectRowsMatchNode(head - 1, head);
  });

  it('names EVM_BLOCKS_DATABASE_URL when it is missing, and tries again on the next call', async () => {
    await handler.close();
    await expect(handler.setup({ log }, { EVM_RPC_URL: anvil.url })).rejects.toThrow(
      /EVM_BLOCKS_DATABASE_URL is required/,
    );
    vi.stubEnv('EVM_BLOCKS_DATABASE_URL', '');
    await expect(handler.default(1, context())).rejects.toThrow(
      /EVM_BLOCKS_DATABASE_URL is required/,
    );

    await handler.setup({ log }, env);
    expect((await handler.default(1, context())).hash).toBe((await anvil.block(1))?.hash);
  });

  it('reports every bad variable at once, without echoing their values', async () => {
    await handler.close();
    const error = await handler
      .setup({ log }, { EVM_RPC_URL: 'ftp://secret@x', EVM_RPC_TIMEOUT_MS: 'soon' })
      .catch((caught: unknown) => caught as Error);
    expect(error).toBeInstanceOf(Error);
    const { message } = error as Error;
    expect(message).toMatch(/EVM_BLOCKS_DATABASE_URL is required/);
    expect(message).toMatch(/EVM_RPC_URL must be an http/);
    expect(message).toMatch(/EVM_RPC_TIMEOUT_MS must be a positive whole number/);
    expect(message).not.toMatch(/secret/);
  });

  it('creates the tables once when two processes set up together, and again is a no-op', async () => {
    // Two module instances stand for two workers starting at once on an empty database.
    const fresh = await createTestDatabase();
    const freshEnv = { ...env, EVM_BLOCKS_DATABASE_URL: fresh.url };
    const url = pathToFileURL(join(packageRoot(), 'examples', 'evm-blocks', 'handler.mjs'));
    const other = (await import(`${url.href}?instance=2`)) as EvmBlocksModule;
    expect(other).not.toBe(handler);
    try {
      await handler.close();
      await Promise.all([handler.setup({ log }, freshEnv), other.setup({ log }, freshEnv)]);
      await other.close();
      await other.setup({ log }, freshEnv);
      const { rows } = await fresh.pool.query<{ name: string }>(
        `SELECT tablename AS name FROM pg_tables WHERE tablename LIKE 'evm_%' ORDER BY 1`,
      );
      expect(rows.map((row) => row.name)).toEqual(['evm_blocks', 'evm_transactions']);
    } finally {
      await other.close();
      await handler.close();
      await fresh.drop();
    }
  });
});

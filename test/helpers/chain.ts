/**
 * A followed chain for end-to-end tests (docs/chains.md): a real anvil node, a real manager on a
 * fresh database, and workers running the evm-blocks example handler into the same database.
 * `indexedMatchesChain` compares what the handler wrote with the node's canonical chain.
 */
import { fileURLToPath } from 'node:url';
import type { ReorgList } from '../../shared/api-schemas.js';
import { type Anvil, startAnvil } from './anvil.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { api } from './http.js';
import { type ManagerProcess, startManager, startWorker, type WorkerProcess } from './processes.js';
import { queueSummary } from './queues.js';
import { waitFor } from './wait.js';

export const EXAMPLE_HANDLER = fileURLToPath(
  new URL('../../examples/evm-blocks/handler.mjs', import.meta.url),
);

export const QUEUE = 'eth';

export interface FollowedChain {
  anvil: Anvil;
  db: TestDatabase;
  manager: ManagerProcess;
  workers: WorkerProcess[];
}

export interface FollowedChainOptions {
  managerEnv?: Record<string, string>;
  workers?: number;
  workerEnv?: Record<string, string>;
}

export async function startFollowedChain(
  options: FollowedChainOptions = {},
): Promise<FollowedChain> {
  const [anvil, db] = await Promise.all([startAnvil(), createTestDatabase()]);
  const manager = await startManager({
    databaseUrl: db.url,
    env: {
      BLOCKRUNNER_RETRY_BASE_MS: '20',
      BLOCKRUNNER_RETRY_MAX_MS: '200',
      ...options.managerEnv,
    },
  });
  const workers = await Promise.all(
    Array.from({ length: options.workers ?? 1 }, (_, index) =>
      startChainWorker(manager, anvil, db, `w${index + 1}`, options.workerEnv),
    ),
  );
  return { anvil, db, manager, workers };
}

export function startChainWorker(
  manager: ManagerProcess,
  anvil: Anvil,
  db: TestDatabase,
  name: string,
  env: Record<string, string> = {},
): Promise<WorkerProcess> {
  return startWorker({
    managerUrl: manager.wsUrl,
    env: {
      BLOCKRUNNER_WORKER_NAME: name,
      BLOCKRUNNER_QUEUES: QUEUE,
      BLOCKRUNNER_HANDLER: EXAMPLE_HANDLER,
      BLOCKRUNNER_CONCURRENCY: '8',
      EVM_RPC_URL: anvil.url,
      EVM_BLOCKS_DATABASE_URL: db.url,
      ...env,
    },
  });
}

/** PUT the queue's evm source; answers the source view. */
export async function follow(
  managerUrl: string,
  anvil: Anvil,
  fields: Record<string, unknown> = {},
): Promise<unknown> {
  const { status, body } = await api(managerUrl).put(`/v1/queues/${QUEUE}/source`, {
    kind: 'evm',
    url: anvil.url,
    pollMs: 100,
    ...fields,
  });
  if (status !== 200) throw new Error(`PUT source answered ${status}: ${JSON.stringify(body)}`);
  return body;
}

/** Mines `blocks` blocks, each holding one transfer, so that replacing them changes hashes. */
export async function mineWithTransfers(anvil: Anvil, blocks: number): Promise<number> {
  let head = await anvil.blockNumber();
  for (let i = 0; i < blocks; i++) {
    await anvil.sendTransfer();
    head = await anvil.mine(1);
  }
  return head;
}

interface Row {
  number: string;
  hash: string;
  parent_hash: string;
}

/**
 * Undefined when every height from 0 to the node's head has exactly its canonical block in
 * evm_blocks and nothing above the head is there; otherwise what differs (for waitFor).
 */
export async function chainMismatch(db: TestDatabase, anvil: Anvil): Promise<string | undefined> {
  const head = await anvil.blockNumber();
  const hashes = await anvil.canonicalHashes(0, head);
  const { rows } = await db.pool.query<Row>(
    'SELECT number::text, hash, parent_hash FROM evm_blocks ORDER BY number',
  );
  const byHeight = new Map(rows.map((row) => [Number(row.number), row]));
  const problems: string[] = [];
  for (let height = 0; height <= head; height++) {
    const row = byHeight.get(height);
    if (!row) problems.push(`${height} missing`);
    else if (row.hash !== hashes[height]) problems.push(`${height} holds ${row.hash.slice(0, 10)}`);
    else if (height > 0 && row.parent_hash !== hashes[height - 1])
      problems.push(`${height} has a wrong parent`);
  }
  for (const height of byHeight.keys())
    if (height > head) problems.push(`${height} above head ${head}`);
  return problems.length === 0
    ? undefined
    : `${problems.length} heights differ: ${problems.slice(0, 8).join(', ')}`;
}

/** Waits until the indexed table equals the chain and the queue has caught up with its head. */
export async function waitUntilIndexed(chain: FollowedChain, timeoutMs = 30_000): Promise<void> {
  let last: string | undefined;
  await waitFor(
    async () => {
      const head = await chain.anvil.blockNumber();
      const summary = await queueSummary(chain.manager.url, QUEUE);
      if (summary.watermark !== head || summary.pending + summary.leased + summary.retrying > 0) {
        last = `watermark ${summary.watermark}, head ${head}, pending ${summary.pending}, leased ${summary.leased}`;
        return false;
      }
      last = await chainMismatch(chain.db, chain.anvil);
      return last === undefined;
    },
    { timeoutMs, intervalMs: 50, message: `the table to equal the chain (${last ?? '...'})` },
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last: ${last}`);
  });
}

/** One reorganisation as GET /v1/queues/:queue/reorgs lists it (shared/api-schemas.ts). */
export type ReorgItem = ReorgList['items'][number];

export async function reorgs(managerUrl: string): Promise<ReorgItem[]> {
  const { status, body } = await api(managerUrl).get<{ items: ReorgItem[] }>(
    `/v1/queues/${QUEUE}/reorgs?limit=1000`,
  );
  if (status !== 200) throw new Error(`GET reorgs answered ${status}`);
  return body.items;
}

/** Waits until `count` reorganisations are recorded and the newest one is reverted. */
export function waitForReverted(managerUrl: string, count = 1): Promise<ReorgItem[]> {
  return waitFor(
    async () => {
      const items = await reorgs(managerUrl);
      return items.length === count && items[0]?.revertedAt !== null ? items : undefined;
    },
    { timeoutMs: 20_000, message: `${count} reorganisation(s) to be recorded and reverted` },
  );
}

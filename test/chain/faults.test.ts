/**
 * A followed chain under faults (docs/chains.md): a reorganisation while orphaned heights still
 * run, a node that rolls back and regrows, a reorganisation deeper than finality, a node that is
 * unreachable, rate-limited, answers garbage and then fails a fork search (test/helpers/rpc-proxy.ts
 * stands between the manager's source and anvil), a manager killed in the middle of a
 * reorganisation, and heads pushed by a client with no node to ask. Each time the indexed table
 * ends equal to the node's canonical chain.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { type Anvil, stopAllAnvils } from '../helpers/anvil.js';
import {
  chainMismatch,
  type FollowedChain,
  follow,
  mineWithTransfers,
  QUEUE,
  reorgs,
  startChainWorker,
  startFollowedChain,
  waitUntilIndexed,
} from '../helpers/chain.js';
import { api } from '../helpers/http.js';
import { startManager, stopAll, type WorkerProcess } from '../helpers/processes.js';
import { queueSummary, waitForQueue } from '../helpers/queues.js';
import { closeAllProxies, type RpcProxy, startRpcProxy } from '../helpers/rpc-proxy.js';
import { waitFor } from '../helpers/wait.js';

const SLOW_HANDLER = fileURLToPath(new URL('../fixtures/slow-evm-blocks.mjs', import.meta.url));
/** What startFollowedChain gives its manager, for a manager started again on the same database. */
const MANAGER_ENV = { BLOCKRUNNER_RETRY_BASE_MS: '20', BLOCKRUNNER_RETRY_MAX_MS: '200' };

let chain: FollowedChain | undefined;
let scratch: string | undefined;

afterEach(async () => {
  await stopAll();
  await closeAllProxies();
  await stopAllAnvils();
  await chain?.db.drop();
  chain = undefined;
  if (scratch) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

interface SourceView {
  head: number | null;
  headHash: string | null;
  state: string;
  lastError: string | null;
  lagging: boolean;
  reorg: string | null;
}

async function sourceView(managerUrl: string): Promise<SourceView> {
  const { status, body } = await api(managerUrl).get<SourceView>(`/v1/queues/${QUEUE}/source`);
  if (status !== 200) throw new Error(`GET source answered ${status}: ${JSON.stringify(body)}`);
  return body;
}

function waitForSource(
  managerUrl: string,
  until: (view: SourceView) => boolean,
  message: string,
  timeoutMs = 20_000,
): Promise<SourceView> {
  return waitFor(
    async () => {
      const view = await sourceView(managerUrl);
      return until(view) ? view : undefined;
    },
    { timeoutMs, message },
  );
}

async function metric(managerUrl: string, name: string): Promise<number> {
  const { body } = await api(managerUrl).get<string>('/metrics');
  const line = String(body)
    .split('\n')
    .find((text) => text.startsWith(`${name} `) || text.startsWith(`${name}{`));
  return Number(line?.split(' ').at(-1) ?? 0);
}

const ignoredResults = (managerUrl: string) =>
  metric(managerUrl, 'blockrunner_results_ignored_total');

function waitForReorgs(managerUrl: string, count: number, timeoutMs = 20_000) {
  return waitFor(
    async () => {
      const items = await reorgs(managerUrl);
      return items.length >= count ? items : undefined;
    },
    { timeoutMs, message: `${count} reorganisation(s) to be recorded` },
  );
}

/**
 * Mines `blocks` blocks, each with a transfer that mineWithTransfers never sends (another
 * recipient), so that blocks mined again after a rollback differ from the ones removed even when
 * anvil gives them the same timestamps.
 */
async function mineOtherBlocks(anvil: Anvil, blocks: number): Promise<number> {
  let head = await anvil.blockNumber();
  for (let i = 0; i < blocks; i++) {
    await anvil.sendTransfer({ to: 2, value: 7n });
    head = await anvil.mine(1);
  }
  return head;
}

async function heightState(managerUrl: string, height: number): Promise<string | undefined> {
  const { status, body } = await api(managerUrl).get<{ state: string }>(
    `/v1/queues/${QUEUE}/heights/${height}`,
  );
  return status === 200 ? body.state : undefined;
}

it('ignores the late results of orphaned heights whose handlers still ran during the reorganisation', async () => {
  scratch = await mkdtemp(join(tmpdir(), 'blockrunner-faults-'));
  const slowHeights = join(scratch, 'slow-heights');
  const slowLog = join(scratch, 'slow-log');
  await writeFile(slowHeights, '');
  await writeFile(slowLog, '');
  chain = await startFollowedChain({
    workerEnv: {
      BLOCKRUNNER_HANDLER: SLOW_HANDLER,
      SLOW_HEIGHTS_FILE: slowHeights,
      SLOW_LOG_FILE: slowLog,
    },
  });
  const { anvil, manager, workers } = chain;
  const start = await mineWithTransfers(anvil, 16);
  await follow(manager.url, anvil);
  await waitUntilIndexed(chain);

  // The next two heights hang in their handler; the one above them is indexed and its hash kept.
  const [first, second, top] = [start + 1, start + 2, start + 3];
  await writeFile(slowHeights, `${first}\n${second}\n`);
  await mineWithTransfers(anvil, 3);
  await waitFor(
    async () => {
      const log = await readFile(slowLog, 'utf8');
      return (
        log.includes(`started ${first}\n`) &&
        log.includes(`started ${second}\n`) &&
        (await heightState(manager.url, top)) === 'done'
      );
    },
    { timeoutMs: 15_000, message: `${first} and ${second} to hang, ${top} to be done` },
  );
  expect(await heightState(manager.url, first)).toBe('leased');
  const ignoredBefore = await ignoredResults(manager.url);

  // Replaces start - 1 .. top: the node's head hash changes at a height whose hash is kept.
  await anvil.reorg(5, 2);
  await waitForReorgs(manager.url, 1);
  await waitUntilIndexed(chain);
  const [record] = await reorgs(manager.url);

  // The hung attempts were cancelled and answered only after their heights ran again.
  const log = await readFile(slowLog, 'utf8');
  for (const height of [first, second]) {
    expect(log).toContain(`cancelled ${height}\n`);
    expect(log).toContain(`late ${height}\n`);
  }
  await waitFor(async () => (await ignoredResults(manager.url)) >= ignoredBefore + 2, {
    timeoutMs: 10_000,
    message: 'the two late results to be counted as ignored',
  });
  expect(record).toMatchObject({ forkHeight: start - 2, revertFrom: start - 1, revertTo: top });
  expect(record?.revertedAt).not.toBeNull();
  // The stale hashes of the late results were not taken: no second reorganisation came of them.
  await mineWithTransfers(anvil, 2);
  await waitUntilIndexed(chain);
  expect(await reorgs(manager.url)).toHaveLength(1);
  expect(await chainMismatch(chain.db, anvil)).toBeUndefined();
  expect(workers[0]?.logs().some((line) => line.includes('reverted an orphaned range'))).toBe(true);
});

it('after anvil_rollback, lags without undoing anything, then reverts and re-indexes once the chain regrows', async () => {
  chain = await startFollowedChain();
  const { anvil, manager, db, workers } = chain;
  const head = await mineWithTransfers(anvil, 20);
  await follow(manager.url, anvil);
  await waitUntilIndexed(chain);

  const depth = 5;
  const low = head - depth;
  await anvil.rollback(depth);
  const lagging = await waitForSource(manager.url, (view) => view.lagging, 'the source to lag');
  expect(lagging).toMatchObject({ state: 'lagging', head });
  // The node is lower but agrees with what was kept at its head: nothing is undone yet.
  expect(await reorgs(manager.url)).toEqual([]);
  const above = await db.pool.query('SELECT count(*)::int AS n FROM evm_blocks WHERE number > $1', [
    low,
  ]);
  expect(above.rows[0].n).toBe(depth);

  // Other blocks appear at those heights: one first, which shows the reorganisation, then past
  // the old head, as a chain that regrows block by block does.
  await mineOtherBlocks(anvil, 1);
  const [record] = await waitForReorgs(manager.url, 1);
  expect(record?.forkHeight).toBeLessThanOrEqual(low);
  expect(record?.revertFrom).toBe((record?.forkHeight ?? 0) + 1);
  expect(record?.revertTo).toBeGreaterThanOrEqual(head);
  // The revert removed the rows of every height above the fork, the ones above the node's
  // head included.
  const reverted = await (workers[0] as WorkerProcess).waitForLog(
    (entry) => entry.msg === 'evm-blocks: reverted',
  );
  expect(reverted).toMatchObject({ from: record?.revertFrom, to: record?.revertTo });
  expect(reverted.blocks).toBeGreaterThanOrEqual(depth);
  await mineOtherBlocks(anvil, depth + 2);
  await waitUntilIndexed(chain);

  expect(await chainMismatch(db, anvil)).toBeUndefined();
  const [done] = await reorgs(manager.url);
  expect(done?.revertedAt).not.toBeNull();
  expect(await reorgs(manager.url)).toHaveLength(1);
  expect(await sourceView(manager.url)).toMatchObject({ lagging: false, state: 'following' });
  const summary = await queueSummary(manager.url, QUEUE);
  expect(summary.failed).toBe(0);
});

it('pauses on a reorganisation deeper than finality; heights redone by force and a resume put it right', async () => {
  chain = await startFollowedChain();
  const { anvil, manager } = chain;
  const head = await mineWithTransfers(anvil, 20);
  await follow(manager.url, anvil, { finality: 4 });
  await waitUntilIndexed(chain);

  await anvil.reorg(8, 2);
  const paused = await waitForQueue(
    manager.url,
    (summary) => summary.state === 'paused',
    'the queue to pause',
    { queue: QUEUE, timeoutMs: 20_000 },
  );
  expect(paused.pausedReason).toMatch(/finality 4/);
  expect(await reorgs(manager.url)).toEqual([]);
  // Nothing was undone on its own: the table still holds the orphaned blocks.
  expect(await chainMismatch(chain.db, anvil)).toBeDefined();

  const forced = await api(manager.url).post(`/v1/queues/${QUEUE}/heights`, {
    from: head - 7,
    to: head,
    force: true,
  });
  expect(forced.status).toBe(202);
  const resumed = await api(manager.url).post<{ state: string }>(`/v1/queues/${QUEUE}/resume`);
  expect(resumed.status).toBe(200);
  expect(resumed.body.state).toBe('active');
  await waitUntilIndexed(chain);
  expect(await chainMismatch(chain.db, anvil)).toBeUndefined();

  // It follows again from there.
  await mineWithTransfers(anvil, 3);
  await waitUntilIndexed(chain);
  expect((await queueSummary(manager.url, QUEUE)).state).toBe('active');
  expect(await chainMismatch(chain.db, anvil)).toBeUndefined();
});

it('rides out a node unreachable for 10 s, then rate-limiting, then answering garbage, then failing a fork search, and loses no height', async () => {
  chain = await startFollowedChain();
  const { anvil, manager } = chain;
  const proxy: RpcProxy = await startRpcProxy(anvil.url);
  await mineWithTransfers(anvil, 5);
  // Only the manager's source goes through the proxy; the workers' handler asks anvil itself.
  await follow(manager.url, anvil, { url: proxy.url });
  await waitUntilIndexed(chain);
  const seen = (await sourceView(manager.url)).head;

  await proxy.setMode('refuse');
  const cutAt = Date.now();
  await mineWithTransfers(anvil, 3);
  const unreachable = await waitForSource(
    manager.url,
    (view) => view.state === 'unreachable',
    'the source to be unreachable',
  );
  expect(unreachable.lastError).toMatch(/eth_getBlockByNumber/);
  expect(unreachable.head).toBe(seen);
  // The node stays unreachable for 10 s: there is no event to wait for, only time to let pass.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (Date.now() - cutAt))));
  expect((await sourceView(manager.url)).state).toBe('unreachable');

  await proxy.setMode('429');
  await mineWithTransfers(anvil, 2);
  const limited = await waitForSource(
    manager.url,
    (view) => view.state === 'rate_limited',
    'the source to be rate-limited',
    35_000,
  );
  expect(limited.lastError).toMatch(/429/);

  // The node said when to come back (Retry-After: 1): the next poll comes then, not after the
  // backoff that 10 s of failures have grown to.
  await proxy.setMode('garbage');
  const failing = await waitForSource(
    manager.url,
    (view) => view.state === 'failing',
    'the source to fail on malformed answers',
    5_000,
  );
  expect(failing.lastError).toMatch(/not JSON/);
  expect(failing.head).toBe(seen);

  await proxy.setMode('forward');
  const head = await anvil.blockNumber();
  const following = await waitForSource(
    manager.url,
    (view) => view.state === 'following' && view.head === head,
    'the source to follow again',
    10_000,
  );
  expect(following.lastError).toBeNull();
  await waitUntilIndexed(chain);
  expect(manager.exitStatus()).toBeUndefined();
  expect(await chainMismatch(chain.db, anvil)).toBeUndefined();
  expect(proxy.counts['429']).toBeGreaterThan(0);
  expect(proxy.counts.garbage).toBeGreaterThan(0);
  expect((await queueSummary(manager.url, QUEUE)).failed).toBe(0);

  // A reorganisation whose fork search the node fails for a while (503 on blocks asked by
  // number): the search is retried and the queue waits for it, it is not paused.
  proxy.fail((call) => call.method === 'eth_getBlockByNumber' && call.params[0] !== 'latest');
  await anvil.reorg(3, 2);
  await waitFor(() => proxy.counts.failed >= 3, {
    timeoutMs: 10_000,
    message: 'the fork search to fail three times',
  });
  expect(await sourceView(manager.url)).toMatchObject({ reorg: 'finding fork' });
  expect((await queueSummary(manager.url, QUEUE)).state).toBe('active');
  proxy.fail(undefined);
  const [record] = await waitForReorgs(manager.url, 1);
  expect(record?.forkHeight).toBe(head - 3);
  await waitUntilIndexed(chain);
  expect((await queueSummary(manager.url, QUEUE)).state).toBe('active');
  expect(await chainMismatch(chain.db, anvil)).toBeUndefined();
});

it('finds the reorganisation again after the manager is killed while it searched for the fork point', async () => {
  chain = await startFollowedChain();
  const { anvil, manager, db, workers } = chain;
  const proxy = await startRpcProxy(anvil.url);
  const head = await mineWithTransfers(anvil, 12);
  await follow(manager.url, anvil, { url: proxy.url });
  await waitUntilIndexed(chain);

  // The node hangs on blocks asked by number (the fork search) and still answers the head.
  proxy.stall((call) => call.method === 'eth_getBlockByNumber' && call.params[0] !== 'latest');
  await anvil.reorg(3, 2);
  await manager.waitForLog(
    (entry) => entry.msg === 'block hashes disagree: finding the fork point',
  );
  await waitFor(() => proxy.stalled > 0, { timeoutMs: 5_000, message: 'the fork search to hang' });
  await manager.kill();
  const committed = await db.pool.query('SELECT id FROM reorgs');
  expect(committed.rows).toEqual([]);

  proxy.releaseStalled();
  // The old workers only try to reach the dead manager; a new one serves the new manager.
  await Promise.all(workers.map((worker) => worker.kill()));
  const restarted = await startManager({ databaseUrl: db.url, env: MANAGER_ENV });
  workers.push(await startChainWorker(restarted, anvil, db, 'w2'));
  const [record] = await waitForReorgs(restarted.url, 1);
  expect(record).toMatchObject({ forkHeight: head - 3, revertFrom: head - 2, revertTo: head });
  await waitUntilIndexed({ ...chain, manager: restarted });
  expect(await chainMismatch(db, anvil)).toBeUndefined();
  expect((await reorgs(restarted.url))[0]?.revertedAt).not.toBeNull();
});

it('runs a revert left due by a manager killed after recording the reorganisation', async () => {
  chain = await startFollowedChain();
  const { anvil, manager, db, workers } = chain;
  const head = await mineWithTransfers(anvil, 12);
  await follow(manager.url, anvil);
  await waitUntilIndexed(chain);

  // No worker is connected, so the revert waits for one after the record is committed.
  await Promise.all(workers.map((worker) => worker.kill()));
  await waitFor(async () => (await metric(manager.url, 'blockrunner_workers_connected')) === 0, {
    timeoutMs: 5_000,
    message: 'the manager to see no worker',
  });
  await anvil.reorg(3, 2);
  await manager.waitForLog(
    (entry) => entry.msg === 'chain reorganised: reverting and re-indexing the orphaned heights',
  );
  const row = await waitFor(
    async () => (await db.pool.query('SELECT fork_height, reverted_at FROM reorgs')).rows[0],
    { timeoutMs: 10_000, message: 'the reorganisation to be committed' },
  );
  expect(row).toEqual({ fork_height: String(head - 3), reverted_at: null });
  await manager.kill();

  const restarted = await startManager({ databaseUrl: db.url, env: MANAGER_ENV });
  const [due] = await reorgs(restarted.url);
  expect(due).toMatchObject({ forkHeight: head - 3, revertedAt: null });
  expect((await sourceView(restarted.url)).reorg).toBe('reverting');

  const worker = await startChainWorker(restarted, anvil, db, 'w2');
  workers.push(worker);
  const reverted = await waitFor(
    async () => {
      const [item] = await reorgs(restarted.url);
      return item?.revertedAt ? item : undefined;
    },
    { timeoutMs: 15_000, message: 'the revert to run after the restart' },
  );
  expect(reverted).toMatchObject({ forkHeight: head - 3, revertFrom: head - 2, revertTo: head });
  expect(worker.logs().some((line) => line.includes('reverted an orphaned range'))).toBe(true);
  await waitUntilIndexed({ ...chain, manager: restarted });
  expect(await reorgs(restarted.url)).toHaveLength(1);
  expect(await chainMismatch(db, anvil)).toBeUndefined();
});

it('finds a reorganisation from pushed heads and parent links alone, with no node to ask', async () => {
  chain = await startFollowedChain();
  const { anvil, manager } = chain;
  const client = api(manager.url);
  const set = await client.put(`/v1/queues/${QUEUE}/source`, { kind: 'push', finality: 64 });
  expect(set.status).toBe(200);
  const pushHead = async (height: number) => {
    const block = await anvil.block(height);
    const pushed = await client.post(`/v1/queues/${QUEUE}/head`, {
      height,
      hash: block?.hash,
    });
    expect(pushed.status).toBe(202);
  };
  for (let i = 0; i < 12; i++) await pushHead(await mineWithTransfers(anvil, 1));
  await waitUntilIndexed(chain);

  const head = await anvil.blockNumber();
  const [oldAbove] = await anvil.canonicalHashes(head - 2, head - 2);
  await anvil.reorg(3, 2);
  const [newAbove] = await anvil.canonicalHashes(head - 2, head - 2);
  await pushHead(head);
  const [record] = await waitForReorgs(manager.url, 1);
  expect(record).toMatchObject({
    forkHeight: head - 3,
    revertFrom: head - 2,
    revertTo: head,
    oldHash: oldAbove,
    newHash: newAbove,
  });
  await waitUntilIndexed(chain);
  expect(await chainMismatch(chain.db, anvil)).toBeUndefined();

  // And on from there.
  for (let i = 0; i < 2; i++) await pushHead(await mineWithTransfers(anvil, 1));
  await waitUntilIndexed(chain);
  expect(await reorgs(manager.url)).toHaveLength(1);
  expect(await chainMismatch(chain.db, anvil)).toBeUndefined();
});

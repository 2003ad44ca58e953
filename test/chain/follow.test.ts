/**
 * Following a real chain (docs/chains.md): anvil on a free port, a manager with an evm source,
 * a worker running the evm-blocks example handler. After a backfill, while blocks are
 * produced, and through reorganisations of random depth, the indexed table ends equal to the
 * node's canonical chain, and every reorganisation is recorded and reverted.
 */
import { afterEach, expect, it } from 'vitest';
import { stopAllAnvils } from '../helpers/anvil.js';
import {
  chainMismatch,
  type FollowedChain,
  follow,
  mineWithTransfers,
  reorgs,
  startFollowedChain,
  waitUntilIndexed,
} from '../helpers/chain.js';
import { api } from '../helpers/http.js';
import { stopAll } from '../helpers/processes.js';
import { queueSummary } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

let chain: FollowedChain | undefined;

afterEach(async () => {
  await stopAll();
  await stopAllAnvils();
  await chain?.db.drop();
  chain = undefined;
});

it('backfills 0..2,000 of a chain with transactions, then follows it as blocks come', {
  timeout: 120_000,
}, async () => {
  chain = await startFollowedChain({ workers: 2 });
  const { anvil, manager } = chain;
  // 2,000 blocks, one in ten with a transfer.
  for (let i = 0; i < 200; i++) {
    await anvil.sendTransfer();
    await anvil.mine(10);
  }
  expect(await anvil.blockNumber()).toBe(2_000);
  await follow(manager.url, anvil);
  await waitUntilIndexed(chain, 60_000);

  // Then new blocks, one at a time, each followed as it appears.
  await mineWithTransfers(anvil, 20);
  await waitUntilIndexed(chain);
  expect(await chainMismatch(chain.db, anvil)).toBeUndefined();
  expect(await reorgs(manager.url)).toEqual([]);
});

it('stays equal to the chain through 10 reorganisations of random depth 1..32', async () => {
  chain = await startFollowedChain({ workers: 2 });
  const { anvil, manager, workers } = chain;
  await mineWithTransfers(anvil, 40);
  await follow(manager.url, anvil);
  await waitUntilIndexed(chain);

  const expected: { forkHeight: number; depth: number }[] = [];
  for (let round = 1; round <= 10; round++) {
    const depth = 1 + Math.floor(Math.random() * 32);
    const head = await anvil.blockNumber();
    await anvil.reorg(depth, 2);
    expected.push({ forkHeight: head - depth, depth });
    // The chain goes on growing past the replaced blocks.
    await mineWithTransfers(anvil, 1 + (round % 3));
    await waitFor(async () => (await reorgs(manager.url)).length === round || undefined, {
      timeoutMs: 20_000,
      message: `reorganisation ${round} (depth ${depth}) to be recorded`,
    });
    await waitUntilIndexed(chain);
  }

  const recorded = (await reorgs(manager.url)).reverse();
  expect(recorded.map((item) => item.forkHeight)).toEqual(expected.map((item) => item.forkHeight));
  for (const [index, item] of recorded.entries()) {
    const wanted = expected[index] as { forkHeight: number; depth: number };
    expect(item.depth).toBeGreaterThanOrEqual(wanted.depth);
    expect(item.revertFrom).toBe(wanted.forkHeight + 1);
    expect(item.revertedAt).not.toBeNull();
    expect(item.oldHash).not.toBe(item.newHash);
  }
  // revert ran once per orphaned range, on one worker each time.
  const reverted = workers.flatMap((worker) =>
    worker.logs().filter((line) => line.includes('reverted an orphaned range')),
  );
  expect(reverted).toHaveLength(10);
  expect(await chainMismatch(chain.db, anvil)).toBeUndefined();
});

it('follows over a WebSocket with newHeads, polling over HTTP while the subscription is down', async () => {
  chain = await startFollowedChain();
  const { anvil, manager } = chain;
  await mineWithTransfers(anvil, 5);
  // A long poll interval: heads that arrive quickly came by the subscription.
  await follow(manager.url, anvil, { url: anvil.url.replace(/^http/, 'ws'), pollMs: 60_000 });
  await waitFor(
    async () => {
      const { body } = await api(manager.url).get<{ subscribed: boolean }>('/v1/queues/eth/source');
      return body.subscribed || undefined;
    },
    { timeoutMs: 10_000, message: 'the newHeads subscription' },
  );
  await waitUntilIndexed(chain);
  await mineWithTransfers(anvil, 5);
  await waitUntilIndexed(chain, 10_000);
  expect(await chainMismatch(chain.db, anvil)).toBeUndefined();

  // Stopping to follow forgets the head: the queue no longer holds back heights above it.
  expect((await api(manager.url).delete('/v1/queues/eth/source')).status).toBe(204);
  expect((await queueSummary(manager.url, 'eth')).head).toBeUndefined();
  const beyond = (await anvil.blockNumber()) + 10;
  await api(manager.url).post('/v1/queues/eth/heights', { from: beyond, to: beyond });
  await waitFor(
    async () =>
      (await queueSummary(manager.url, 'eth')).failed +
        (await queueSummary(manager.url, 'eth')).retrying >
        0 || undefined,
    {
      timeoutMs: 10_000,
      message: 'the height above the old head to be tried (the node has no such block)',
    },
  );
});

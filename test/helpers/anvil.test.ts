/**
 * The anvil helper against a real anvil: it starts and answers, mines on demand only, puts a
 * transfer in the next block, and reorganises and rolls back the chain the way chain tests
 * rely on; stopping it leaves no process.
 */
import { type AddressInfo, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AnvilRpcError, startAnvil, stopAllAnvils } from './anvil.js';
import { waitFor } from './wait.js';

afterEach(async () => {
  await stopAllAnvils({ strict: false });
});

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

describe('startAnvil', () => {
  it('starts on 127.0.0.1 and answers JSON-RPC, an error answer rejecting with its code', async () => {
    const anvil = await startAnvil();
    expect(anvil.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await anvil.blockNumber()).toBe(0);
    expect(await anvil.rpc('eth_chainId')).toBe('0x7a69');
    const error = await anvil.rpc('no_such_method').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AnvilRpcError);
    expect((error as AnvilRpcError).code).toBe(-32601);
  });

  it('mines only when asked: mine(5) grows the head by 5', async () => {
    const anvil = await startAnvil();
    const before = await anvil.blockNumber();
    expect(await anvil.mine(5)).toBe(before + 5);
    expect(await anvil.blockNumber()).toBe(before + 5);
  });

  it('puts a transfer in the block mined after it, and not before', async () => {
    const anvil = await startAnvil();
    await anvil.mine(2);
    const hash = await anvil.sendTransfer();
    expect(await anvil.blockNumber()).toBe(2);
    const head = await anvil.mine(1);
    const block = await anvil.block(head, true);
    expect(block?.transactions.map((tx) => tx.hash)).toEqual([hash]);
    expect(block?.transactions[0]?.value).toBe('0x3e8');
    expect((await anvil.block(head))?.transactions).toEqual([hash]);
  });

  it('mines by itself every blockTime seconds when asked to', async () => {
    const anvil = await startAnvil({ blockTime: 0.05 });
    await waitFor(async () => (await anvil.blockNumber()) >= 3, {
      timeoutMs: 10_000,
      message: 'interval mining to reach height 3',
    });
  });

  it('fails to start with anvil’s own error when its port is taken', async () => {
    // A listener that is not a node: whatever answers a probe, it is not anvil.
    const taken = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      await expect(startAnvil({ port })).rejects.toThrow(/Address already in use/);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe('reorg and rollback', () => {
  it('reorg(3) keeps the head height and replaces the top 3 blocks, the 4th from the top staying', async () => {
    const anvil = await startAnvil();
    await anvil.sendTransfer();
    const head = await anvil.mine(10);
    const before = await anvil.canonicalHashes(head - 3, head);

    await anvil.reorg(3, 3);

    expect(await anvil.blockNumber()).toBe(head);
    const after = await anvil.canonicalHashes(head - 3, head);
    expect(after[0]).toBe(before[0]);
    for (let i = 1; i <= 3; i++) expect(after[i]).not.toBe(before[i]);
    // The new branch hangs off the block that stayed, and each replacement holds one transfer.
    expect((await anvil.block(head - 2))?.parentHash).toBe(before[0]);
    for (let height = head - 2; height <= head; height++) {
      expect((await anvil.block(height))?.transactions).toHaveLength(1);
    }
  });

  it('reorg with one transaction changes every replaced hash through the parent links', async () => {
    const anvil = await startAnvil();
    const head = await anvil.mine(6);
    const before = await anvil.canonicalHashes(1, head);
    await anvil.reorg(4);
    const after = await anvil.canonicalHashes(1, head);
    expect(after.slice(0, 2)).toEqual(before.slice(0, 2));
    for (let i = 2; i < head; i++) expect(after[i]).not.toBe(before[i]);
    expect((await anvil.block(head - 3))?.transactions).toHaveLength(1);
  });

  it('rollback(2) lowers the head by 2 and keeps the blocks below', async () => {
    const anvil = await startAnvil();
    const head = await anvil.mine(8);
    const kept = await anvil.canonicalHashes(1, head - 2);
    await anvil.rollback(2);
    expect(await anvil.blockNumber()).toBe(head - 2);
    expect(await anvil.canonicalHashes(1, head - 2)).toEqual(kept);
    expect(await anvil.block(head - 1)).toBeNull();
  });
});

describe('stop', () => {
  it('leaves no process behind, and a second stop is a no-op', async () => {
    const anvil = await startAnvil();
    expect(processExists(anvil.pid)).toBe(true);
    const exit = await anvil.stop();
    expect(exit.killed).toBe(false);
    expect(processExists(anvil.pid)).toBe(false);
    expect(await anvil.stop()).toBe(exit);
    await expect(anvil.blockNumber()).rejects.toThrow();
  });

  it('stopAllAnvils stops every node left running, and says so when strict', async () => {
    const nodes = await Promise.all([startAnvil(), startAnvil()]);
    await expect(stopAllAnvils({ strict: true })).rejects.toThrow(/2 anvil node\(s\) left running/);
    for (const node of nodes) expect(processExists(node.pid)).toBe(false);
    await stopAllAnvils({ strict: true });
  });
});

/**
 * The reorg part of S7 (docs/performance.md): anvil mining only when told, a queue following it
 * from 0, one recorded worker. Once blocks 0..N are indexed, `anvil_reorg` replaces the top d
 * blocks (a transfer in the lowest replacement makes every hash change) and one block is mined;
 * the clock runs from the anvil_reorg call until evm_blocks holds the new hash at every one of
 * the d heights. The target bounds it by one poll interval (the manager learns of the new chain
 * at its next poll) plus the time to run d heights, measured on the same handler before.
 */
import pg from 'pg';
import { BenchAnvil } from './anvil.js';
import { Cluster } from './cluster.js';
import { HeightLog, holdsHashes, recordedWorker } from './evm-handler.js';
import { putSource, queueSummary, reorgList } from './manager-api.js';
import type { BenchOptions } from './options.js';
import type { S7Reorg } from './results.js';
import { mean, round } from './stats.js';
import { waitUntil } from './wait.js';

const QUEUE = 's7-reorg';
const TABLE_POLL_MS = 5;
/** anvil's dev accounts 9 -> 8 sign the replacement transfer: no nonce shared with anything. */
const REORG_TRANSFER = { from: 9, to: 8, value: 1n };

export async function measureReorg(options: BenchOptions, concurrency: number): Promise<S7Reorg> {
  const { reorgBlocks: blocks, reorgDepth: depth, reorgPollMs: pollMs } = options.s7;
  const anvil = await BenchAnvil.start('s7-reorg');
  try {
    await anvil.mine(blocks);
    const head = await anvil.blockNumber();
    const cluster = await Cluster.start(options.adminUrl, 's7_reorg', options.cpuProfDir);
    const client = new pg.Client({ connectionString: cluster.database.url });
    client.on('error', () => {});
    try {
      const [worker] = await cluster.addWorkers(
        1,
        recordedWorker([QUEUE], anvil, cluster.database.url, concurrency),
      );
      if (!worker) throw new Error('the S7 reorg worker did not start');
      const log = new HeightLog(worker);
      await client.connect();
      const check = () => {
        cluster.assertRunning();
        anvil.assertRunning();
      };

      await putSource(cluster.url, QUEUE, {
        url: anvil.url,
        from: 0,
        confirmations: 0,
        finality: 64,
        pollMs,
      });
      const before = await anvil.hashes(0, head);
      await waitUntil(
        async () => {
          check();
          const summary = await queueSummary(cluster.url, QUEUE);
          return summary.done === head + 1 && (await holdsHashes(client, 0, before));
        },
        { timeoutMs: 60_000, intervalMs: 20, message: `blocks 0..${head} to be indexed` },
      );
      const firstRun = log.heights.filter((record) => record.queue === QUEUE && record.ok);
      const handlerMeanMs = mean(firstRun.map((r) => r.finishedAt - r.startedAt));

      const reorgFrom = head - depth + 1;
      const called = now();
      await anvil.reorg(depth, [{ transfer: REORG_TRANSFER, offset: 0 }]);
      await anvil.mine(1);
      const after = await anvil.hashes(reorgFrom, head);
      if (after.some((hash, i) => hash === before[reorgFrom + i])) {
        throw new Error(`anvil_reorg left some of heights ${reorgFrom}..${head} unchanged`);
      }
      const back = await waitUntil(
        async () => {
          check();
          return (await holdsHashes(client, reorgFrom, after)) && now();
        },
        {
          timeoutMs: 60_000,
          intervalMs: TABLE_POLL_MS,
          message: `heights ${reorgFrom}..${head} to hold their new hashes in evm_blocks`,
        },
      );

      const record = (await reorgList(cluster.url, QUEUE))[0];
      const rerun = log.heights.filter(
        (r) =>
          r.queue === QUEUE &&
          r.ok &&
          r.startedAt >= called &&
          r.height >= reorgFrom &&
          r.height <= head,
      );
      const revert = log.reverts.find((r) => r.startedAt >= called);
      const since = (at: number | undefined) => (at === undefined ? null : round(at - called));
      return {
        database: cluster.database.name,
        blocks: head + 1,
        depth,
        pollMs,
        handlerMeanMs: round(handlerMeanMs),
        elapsedMs: round(back - called),
        boundMs: round(pollMs + depth * handlerMeanMs),
        detectedMs: since(record ? Date.parse(record.detectedAt) : undefined),
        revertStartedMs: since(revert?.startedAt),
        revertedMs: since(record?.revertedAt ? Date.parse(record.revertedAt) : undefined),
        firstRerunStartMs: since(
          rerun.length === 0 ? undefined : Math.min(...rerun.map((r) => r.startedAt)),
        ),
        lastRerunFinishMs: since(
          rerun.length === 0 ? undefined : Math.max(...rerun.map((r) => r.finishedAt)),
        ),
        rerunHandlerMeanMs: round(mean(rerun.map((r) => r.finishedAt - r.startedAt))),
      };
    } finally {
      await client.end().catch(() => {});
      await cluster.stop();
    }
  } finally {
    await anvil.stop();
  }
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

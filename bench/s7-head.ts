/**
 * S7 head (docs/performance.md, "What each scenario measures"): anvil mines a block a second; a
 * queue follows it with an evm source, served by one worker whose handler
 * (handlers/height-recorder.ts around the evm-blocks example) prints when each height started.
 * The bench polls the node's head every few milliseconds and notes when each block first
 * appears; latency = handler start - first seen, same machine, same clock. Measured three ways,
 * one after another on queues of their own: polling at pollMs 1000 (the default), polling at
 * pollMs 100, and eth_subscribe newHeads (a ws:// URL). Then the reorg part (s7-reorg.ts).
 */
import { BenchAnvil } from './anvil.js';
import { Cluster } from './cluster.js';
import { withClient } from './databases.js';
import { HeightLog, recordedWorker } from './evm-handler.js';
import { HEAD_POLL_MS, HeadWatch } from './head-watch.js';
import { deleteSource, putSource } from './manager-api.js';
import type { BenchOptions } from './options.js';
import type { S7HeadMode, S7Result } from './results.js';
import { measureReorg } from './s7-reorg.js';
import { mean, percentile, round } from './stats.js';
import { waitUntil } from './wait.js';

const BLOCK_TIME_S = 1;
/** Concurrency of the one worker; prefetch 0, as a worker at the tip would run. */
const S7_CONCURRENCY = 4;

interface HeadMode {
  mode: string;
  queue: string;
  pollMs: number;
  newHeads: boolean;
}

const MODES: HeadMode[] = [
  { mode: 'polling, pollMs 1000', queue: 's7-poll1000', pollMs: 1_000, newHeads: false },
  { mode: 'polling, pollMs 100', queue: 's7-poll100', pollMs: 100, newHeads: false },
  { mode: 'newHeads (ws://)', queue: 's7-newheads', pollMs: 1_000, newHeads: true },
];

/** The modes' names, in the order they run: the targets list one line each. */
export const S7_MODE_NAMES = MODES.map((mode) => mode.mode);

export async function runS7(options: BenchOptions): Promise<S7Result> {
  const { samples } = options.s7;
  const anvil = await BenchAnvil.start('s7', { blockTime: BLOCK_TIME_S });
  let database: string;
  const modes: S7HeadMode[] = [];
  try {
    const cluster = await Cluster.start(options.adminUrl, 's7', options.cpuProfDir);
    database = cluster.database.name;
    try {
      const queues = MODES.map((mode) => mode.queue);
      const [worker] = await cluster.addWorkers(
        1,
        recordedWorker(queues, anvil, cluster.database.url, S7_CONCURRENCY),
      );
      if (!worker) throw new Error('the S7 worker did not start');
      const log = new HeightLog(worker);
      const watch = await HeadWatch.start(anvil);
      try {
        for (const mode of MODES) {
          modes.push(await measureMode(cluster, anvil, watch, log, mode, samples));
        }
      } finally {
        await watch.stop();
      }
    } finally {
      await cluster.stop();
    }
  } finally {
    await anvil.stop();
  }
  const reorg = await measureReorg(options, S7_CONCURRENCY);
  return {
    database,
    blockTime: BLOCK_TIME_S,
    modes,
    reorg,
    measured: `anvil --block-time ${BLOCK_TIME_S}; 1 worker (concurrency ${S7_CONCURRENCY}, prefetch 0) running examples/evm-blocks/handler.mjs inside bench/handlers/height-recorder.ts; per mode, a queue whose evm source starts at the next block (confirmations 0), ${samples} blocks timed after 1 untimed; block first seen = the earlier of the bench's own eth_blockNumber poll (every ${HEAD_POLL_MS} ms) whose answer first showed it and the bench's own newHeads notification; latency = handler start - first seen, both performance.timeOrigin + performance.now(). Reorg: anvil --no-mining, ${reorg.blocks} blocks indexed with pollMs ${reorg.pollMs}, then anvil_reorg depth ${reorg.depth} with a transfer in the lowest replacement block and one more block mined; clock from the anvil_reorg call until evm_blocks (probed every 5 ms) holds the new hash at every re-indexed height; bound = pollMs + depth x the mean handler time per height of the first indexing`,
  };
}

async function measureMode(
  cluster: Cluster,
  anvil: BenchAnvil,
  watch: HeadWatch,
  log: HeightLog,
  mode: HeadMode,
  samples: number,
): Promise<S7HeadMode> {
  const from = (await anvil.blockNumber()) + 1;
  await putSource(cluster.url, mode.queue, {
    url: mode.newHeads ? anvil.wsUrl : anvil.url,
    from,
    confirmations: 0,
    finality: 64,
    pollMs: mode.pollMs,
  });
  // The first height is untimed: it may come with the source's start (a backfill, not the tip).
  const timed = Array.from({ length: samples }, (_, i) => from + 1 + i);
  const last = timed[timed.length - 1] as number;
  const starts = await waitUntil(
    () => {
      cluster.assertRunning();
      anvil.assertRunning();
      watch.assertWatching();
      const first = log.firstStarts(mode.queue);
      return timed.every((height) => first.has(height)) && first;
    },
    {
      timeoutMs: (samples + 10) * BLOCK_TIME_S * 1000 + 30_000,
      intervalMs: 50,
      message: `${mode.queue}: heights ${from + 1}..${last} to reach the handler`,
    },
  );
  await deleteSource(cluster.url, mode.queue);

  const stamps = await withClient(cluster.database.url, async (client) => {
    const { rows } = await client.query<{ number: string; seconds: string }>(
      `SELECT number::text, extract(epoch FROM timestamp)::bigint::text AS seconds
       FROM evm_blocks WHERE number BETWEEN $1::bigint AND $2::bigint`,
      [from + 1, last],
    );
    return new Map(rows.map((row) => [Number(row.number), Number(row.seconds) * 1000]));
  });
  const latencies: number[] = [];
  const windows: number[] = [];
  const sinceStamp: number[] = [];
  let heardByNewHeads = 0;
  for (const height of timed) {
    const seen = watch.seen.get(height);
    const started = starts.get(height);
    if (!seen || !started) throw new Error(`${mode.queue}: height ${height} was not seen/run`);
    latencies.push(started.startedAt - seen.at);
    windows.push(seen.windowMs);
    if (seen.by === 'newHeads') heardByNewHeads++;
    const stamp = stamps.get(height);
    if (stamp !== undefined) sinceStamp.push(seen.at - stamp);
  }
  return {
    mode: mode.mode,
    queue: mode.queue,
    pollMs: mode.pollMs,
    newHeads: mode.newHeads,
    samples,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(Math.max(...latencies)),
    meanMs: round(mean(latencies)),
    seenWindowP99Ms: round(percentile(windows, 99)),
    heardByNewHeads,
    timestampToSeenMs: {
      min: round(Math.min(...sinceStamp)),
      max: round(Math.max(...sinceStamp)),
    },
  };
}

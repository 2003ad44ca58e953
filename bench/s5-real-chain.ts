/**
 * S5 real chain (docs/performance.md, "What each scenario measures"): a real handler,
 * examples/evm-blocks/handler.mjs, over N blocks of a local anvil (transfers spread over them).
 * Blockrunner: a manager and P worker processes of concurrency C run it for 0..N-1 into a fresh
 * database, enqueue to the last commit as in S1. The bare loop: the same module imported by P
 * plain processes (s5-bare-loop.ts) with the same concurrency, process i taking heights i, i+P,
 * ..., no orchestrator, into another fresh database, from the signal that starts them all until
 * the last one has returned its last height. Both sides run `--s5-runs` times, alternating which
 * goes first; the figure is Blockrunner's best blocks/s as a share of the bare loop's best. Where
 * the cores' time went is measured beside it (cpu.ts). Ponder would stand beside them on the
 * same node; it is not run here (ponderNotRun below).
 */
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../shared/package-root.js';
import { BenchAnvil } from './anvil.js';
import { Cluster } from './cluster.js';
import { COMMIT_POLL_MS, CommitWatch } from './commit-watch.js';
import {
  backendCpuBetween,
  backendCpuMs,
  busyShare,
  type MachineCpu,
  machineCpu,
  postgresCpuBetween,
  postgresProcessesCpuMs,
  processCpuMs,
} from './cpu.js';
import { type BenchDatabase, createDatabase, withClient } from './databases.js';
import { EXAMPLE_HANDLER } from './evm-handler.js';
import { handlerSeconds, metricSum } from './manager-api.js';
import type { BenchOptions } from './options.js';
import { BenchProcess } from './processes.js';
import type { S5Result, S5Run, S5Side } from './results.js';
import { round } from './stats.js';
import { timeBackfill } from './timed-backfill.js';
import { waitUntil } from './wait.js';

const QUEUE = 's5';
const RUN_TIMEOUT_MS = 600_000;
/**
 * How often the bench looks for the bare loops' last line. Their time is the one they print,
 * so this only bounds how soon the run goes on.
 */
const BARE_LOOP_POLL_MS = 50;
const BARE_LOOP = fileURLToPath(new URL('./s5-bare-loop.js', import.meta.url));
/** What s5-bare-loop.ts prints. */
const BARE_READY = 'bench-bare ready';
const BARE_DONE = 'bench-bare done ';

export async function runS5(options: BenchOptions): Promise<S5Result> {
  const { blocks, transfers, processes, concurrency, prefetch, runs: count } = options.s5;
  const anvil = await BenchAnvil.start('s5');
  try {
    const expectedTransactions = await mineChain(anvil, blocks, transfers);
    const chain = { anvil, blocks, expectedTransactions };
    const runs: S5Run[] = [];
    for (let run = 0; run < count; run++) {
      // Alternate which side goes first, so that neither always meets a warmer node or server.
      const bareFirst = run % 2 === 0;
      const bare = bareFirst ? await runBareLoop(options, chain) : undefined;
      const blockrunner = await runBlockrunner(options, chain, prefetch);
      runs.push({
        bareFirst,
        blockrunner,
        bareLoop: bare ?? (await runBareLoop(options, chain)),
      });
    }
    const best = (pick: (run: S5Run) => S5Side) =>
      runs.map(pick).reduce((a, b) => (b.blocksPerSecond > a.blocksPerSecond ? b : a));
    const blockrunner = best((run) => run.blockrunner);
    const bareLoop = best((run) => run.bareLoop);
    return {
      blocks,
      transfers,
      processes,
      concurrency,
      prefetch,
      handler: 'examples/evm-blocks/handler.mjs',
      runs,
      blockrunner,
      bareLoop,
      shareOfBareLoop: round(blockrunner.blocksPerSecond / bareLoop.blocksPerSecond, 4),
      ownCpuShareByRun: runs.map((run) => round(ownCpuShare([run]), 4)),
      ownCpuShare: round(ownCpuShare(runs), 4),
      ponder: { ran: false, reason: ponderNotRun() },
      measured: `anvil --no-mining with ${blocks} blocks mined by anvil_mine (${transfers} transfers spread over them); handler examples/evm-blocks/handler.mjs (eth_getBlockByNumber with transactions, then one PostgreSQL transaction per block; pg pool of 10 per process), each side of each run into a fresh database. Blockrunner: 1 manager + ${processes} worker processes x concurrency ${concurrency} (prefetch ${prefetch}), from just before POST {from:0,to:${blocks - 1}} until PostgreSQL holds every height done (probed as S1, every ${COMMIT_POLL_MS} ms near the end). Bare loop: ${processes} processes x ${concurrency} calls in flight importing the same module, process i taking heights i, i+${processes}, ..., from the SIGUSR2 that starts them all until the last has printed that its last height returned. ${count} run(s) of both sides, the bare loop first in odd runs and second in even ones; each side's figure is its best run (other load on the machine only ever slows a side). Afterwards each database must hold every block once and every transfer once. CPU: /proc/<pid>/stat of the handler processes, the manager, anvil and the PostgreSQL backends of the side's databases, and /proc/stat for the machine`,
    };
  } finally {
    await anvil.stop();
  }
}

/**
 * Blockrunner's own CPU over the handlers' (issue 12's "cheap results" figure), over the given
 * runs together: the workers' CPU beyond the bare loop's processes, which run the same handler
 * on the same blocks with nothing around it, plus the manager and its PostgreSQL backends; over
 * the bare loop's processes, the handlers' own CPU. Whichever side runs second in a run uses
 * more CPU for the same handler (a few hundred ms of 6 s here), and the runs alternate the order,
 * so the sums over them cancel that; a mean of per-run shares, each cut at 0, would not (one run
 * of the bench read 11.0% so, 9.3% from the sums). A worker difference below 0 counts as 0.
 */
export function ownCpuShare(runs: readonly Pick<S5Run, 'blockrunner' | 'bareLoop'>[]): number {
  let workers = 0;
  let handlers = 0;
  let manager = 0;
  for (const { blockrunner, bareLoop } of runs) {
    workers += blockrunner.cpu.handlerProcessesMs;
    handlers += bareLoop.cpu.handlerProcessesMs;
    manager += blockrunner.cpu.managerMs + blockrunner.cpu.postgresManagerMs;
  }
  return (Math.max(0, workers - handlers) + manager) / handlers;
}

interface Chain {
  anvil: BenchAnvil;
  blocks: number;
  expectedTransactions: number;
}

/**
 * Mines `blocks` blocks (heights 1..blocks, above genesis), a transfer at the start of each of
 * `transfers` equal stretches; answers how many transfers land in heights 0..blocks-1.
 */
async function mineChain(anvil: BenchAnvil, blocks: number, transfers: number): Promise<number> {
  const stretch = transfers === 0 ? blocks : Math.floor(blocks / transfers);
  if (stretch < 1) throw new Error(`${transfers} transfers do not fit in ${blocks} blocks`);
  let mined = 0;
  let landed = 0;
  for (let i = 0; i < transfers; i++) {
    await anvil.send({ from: 0, to: 1, value: BigInt(i + 1) });
    await anvil.mine(stretch);
    // Into the first block of the stretch: height mined + 1.
    if (mined + 1 <= blocks - 1) landed++;
    mined += stretch;
  }
  if (mined < blocks) await anvil.mine(blocks - mined);
  const head = await anvil.blockNumber();
  if (head !== blocks) throw new Error(`anvil's head is ${head} after mining, expected ${blocks}`);
  return landed;
}

async function runBlockrunner(
  options: BenchOptions,
  chain: Chain,
  prefetch: number,
): Promise<S5Side> {
  const { processes, concurrency } = options.s5;
  const cluster = await Cluster.start(options.adminUrl, 's5', options.cpuProfDir);
  const target = await createDatabase(options.adminUrl, 's5_blockrunner');
  try {
    await cluster.addWorkers(processes, {
      queues: [QUEUE],
      concurrency,
      prefetch,
      handler: EXAMPLE_HANDLER,
      env: { EVM_RPC_URL: chain.anvil.url, EVM_BLOCKS_DATABASE_URL: target.url },
    });
    const watch = await CommitWatch.open(cluster.database.url);
    try {
      const before = {
        workers: cluster.workersCpuMs(),
        manager: processCpuMs(cluster.manager.pid),
      };
      const commits = () => commitTotals(cluster.url);
      const commitsBefore = await commits();
      const cpu = await startCpu(options.adminUrl, chain.anvil, target.name, cluster.database.name);
      const { started, finished } = await timeBackfill(
        cluster,
        watch,
        QUEUE,
        chain.blocks,
        RUN_TIMEOUT_MS,
      );
      const used = await cpu(
        cluster.workersCpuMs() - before.workers,
        processCpuMs(cluster.manager.pid) - before.manager,
      );
      const commitsAfter = await commits();
      const count = commitsAfter.count - commitsBefore.count;
      return await side(target, finished - started, chain, {
        managerDatabase: cluster.database.name,
        handlerMeanMs: ((await handlerSeconds(cluster.url, QUEUE)) * 1000) / chain.blocks,
        commits: count,
        resultsFrames: commitsAfter.frames - commitsBefore.frames,
        commitMeanMs: round(((commitsAfter.seconds - commitsBefore.seconds) * 1000) / count, 3),
        cpu: used,
      });
    } finally {
      await watch.close();
    }
  } finally {
    await cluster.stop();
    await target.drop();
  }
}

async function runBareLoop(options: BenchOptions, chain: Chain): Promise<S5Side> {
  const { processes, concurrency } = options.s5;
  const target = await createDatabase(options.adminUrl, 's5_bare');
  const loops: BenchProcess[] = [];
  try {
    const ready = new Set<number>();
    let doneCount = 0;
    let lastDone = 0;
    let loopsCpuMs = 0;
    let loopsHandlerMs = 0;
    for (let index = 0; index < processes; index++) {
      const loop = new BenchProcess(
        `s5 bare loop ${index + 1}`,
        [BARE_LOOP],
        {
          BENCH_HANDLER: EXAMPLE_HANDLER,
          BENCH_INDEX: String(index),
          BENCH_PROCESSES: String(processes),
          BENCH_CONCURRENCY: String(concurrency),
          BENCH_HEIGHTS: String(chain.blocks),
          EVM_RPC_URL: chain.anvil.url,
          EVM_BLOCKS_DATABASE_URL: target.url,
        },
        packageRoot(),
      );
      loop.onLine((line) => {
        if (line === BARE_READY) ready.add(index);
        else if (line.startsWith(BARE_DONE)) {
          doneCount++;
          lastDone = performance.now();
          const done = JSON.parse(line.slice(BARE_DONE.length)) as {
            cpuMs: number;
            handlerMs: number;
          };
          loopsCpuMs += done.cpuMs;
          loopsHandlerMs += done.handlerMs;
        }
      });
      loops.push(loop);
    }
    const check = () => {
      for (const loop of loops) {
        const status = loop.exitStatus();
        if (status && status.code !== 0)
          throw new Error(`${loop.label} failed: ${loop.describe()}`);
      }
    };
    await waitUntil(
      () => {
        check();
        return ready.size === processes;
      },
      { timeoutMs: 30_000, intervalMs: 10, message: `${processes} bare loops to be ready` },
    );
    const cpu = await startCpu(options.adminUrl, chain.anvil, target.name);
    const started = performance.now();
    for (const loop of loops) loop.child.kill('SIGUSR2');
    // The clock stops when the last done line arrives (lastDone), not at this probe.
    await waitUntil(
      () => {
        check();
        return doneCount === processes;
      },
      {
        timeoutMs: RUN_TIMEOUT_MS,
        intervalMs: BARE_LOOP_POLL_MS,
        message: 'every bare loop to finish',
      },
    );
    const finished = lastDone;
    const used = await cpu(loopsCpuMs, 0);
    return await side(target, finished - started, chain, {
      managerDatabase: null,
      handlerMeanMs: loopsHandlerMs / chain.blocks,
      commits: null,
      resultsFrames: null,
      commitMeanMs: null,
      cpu: used,
    });
  } finally {
    for (const loop of loops) await loop.stop();
    await target.drop();
  }
}

/** The side's figures, once its database holds every block and every transfer exactly once. */
async function side(
  target: BenchDatabase,
  elapsedMs: number,
  chain: Chain,
  figures: Pick<
    S5Side,
    'managerDatabase' | 'handlerMeanMs' | 'commits' | 'commitMeanMs' | 'resultsFrames' | 'cpu'
  >,
): Promise<S5Side> {
  const counts = await withClient(target.url, async (client) => {
    const { rows } = await client.query<{ blocks: string; distinct: string; txs: string }>(
      `SELECT (SELECT count(*) FROM evm_blocks)::text AS blocks,
              (SELECT count(DISTINCT number) FROM evm_blocks WHERE number < $1::bigint)::text AS distinct,
              (SELECT count(*) FROM evm_transactions)::text AS txs`,
      [chain.blocks],
    );
    return rows[0];
  });
  const blockRows = Number(counts?.blocks);
  const transactionRows = Number(counts?.txs);
  if (blockRows !== chain.blocks || Number(counts?.distinct) !== chain.blocks) {
    throw new Error(`${target.name} holds ${blockRows} blocks, expected ${chain.blocks}`);
  }
  if (transactionRows !== chain.expectedTransactions) {
    throw new Error(
      `${target.name} holds ${transactionRows} transactions, expected ${chain.expectedTransactions}`,
    );
  }
  return {
    database: target.name,
    elapsedMs: round(elapsedMs),
    blocksPerSecond: Math.round(chain.blocks / (elapsedMs / 1000)),
    blockRows,
    transactionRows,
    ...figures,
    handlerMeanMs: round(figures.handlerMeanMs),
  };
}

/**
 * Starts counting CPU time; the function it returns, given what the handler processes and the
 * manager used meanwhile, gives the side's CPU figures. Read before the clients disconnect:
 * PostgreSQL's backends count only while they live.
 */
async function startCpu(
  adminUrl: string,
  anvil: BenchAnvil,
  handlerDatabase: string,
  managerDatabase = '',
): Promise<(handlersMs: number, managerMs: number) => Promise<S5Side['cpu']>> {
  const databases = [handlerDatabase, managerDatabase].filter((name) => name !== '');
  const backends = await backendCpuMs(adminUrl, databases);
  const postgres = postgresProcessesCpuMs();
  const machine: MachineCpu = machineCpu();
  const anvilBefore = processCpuMs(anvil.process.pid);
  const benchBefore = process.cpuUsage();
  return async (handlersMs, managerMs) => {
    const now = machineCpu();
    const anvilMs = processCpuMs(anvil.process.pid) - anvilBefore;
    const benchUsage = process.cpuUsage(benchBefore);
    const postgresNow = postgresProcessesCpuMs();
    const backendsNow = await backendCpuMs(adminUrl, databases);
    const postgresHandlerMs = backendCpuBetween(backends, backendsNow, handlerDatabase);
    const postgresManagerMs = backendCpuBetween(backends, backendsNow, managerDatabase);
    const benchMs =
      (benchUsage.user + benchUsage.system) / 1000 +
      backendCpuBetween(backends, backendsNow, 'bench');
    const postgresOtherMs =
      postgresCpuBetween(postgres, postgresNow) -
      postgresHandlerMs -
      postgresManagerMs -
      backendCpuBetween(backends, backendsNow, 'bench');
    const busyMs = now.busyMs - machine.busyMs;
    const ours =
      handlersMs +
      managerMs +
      anvilMs +
      postgresHandlerMs +
      postgresManagerMs +
      benchMs +
      postgresOtherMs;
    return {
      handlerProcessesMs: Math.round(handlersMs),
      managerMs: Math.round(managerMs),
      anvilMs: Math.round(anvilMs),
      postgresHandlerMs: Math.round(postgresHandlerMs),
      postgresManagerMs: Math.round(postgresManagerMs),
      postgresOtherMs: Math.round(postgresOtherMs),
      benchMs: Math.round(benchMs),
      restMs: Math.round(busyMs - ours),
      machineBusyShare: round(busyShare(machine, now), 3),
    };
  };
}

/**
 * The manager's group commits so far, how many and their time added up, and the results frames
 * it has taken from workers (one observation of dispatch-to-result each), from its /metrics.
 */
async function commitTotals(
  baseUrl: string,
): Promise<{ count: number; seconds: number; frames: number }> {
  return {
    count: await metricSum(baseUrl, 'blockrunner_commit_duration_seconds_count'),
    seconds: await metricSum(baseUrl, 'blockrunner_commit_duration_seconds_sum'),
    frames: await metricSum(baseUrl, 'blockrunner_dispatch_to_result_seconds_count'),
  };
}

/**
 * Ponder (the indexing framework) was to run beside them on the same node. Its releases since
 * 0.17 need Node 22 or newer, which `npm run bench` now runs on (Node 24), but it is not a
 * dependency of the project yet, so it is not run (docs/performance.md, "S5 and Ponder").
 */
function ponderNotRun(): string {
  return `Ponder is not a dependency of the project (its current releases need Node >=22; this bench runs on Node ${process.versions.node})`;
}

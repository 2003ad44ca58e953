/**
 * S3 overhead (docs/performance.md, "What each scenario measures"): the built-in `sleep` handler at
 * 2 ms, 16 slots in all (two workers of concurrency 8). Were the system free, 16 slots / 2 ms =
 * 8,000 heights/s; the timers of a 2-core machine give less, so the same count of sleeps also runs
 * in a bare Node process of 16 loops (s3-timer-ceiling.ts), right before and right after: the
 * machine's timers drift over minutes by as much as the target's margin, and the mean of the two
 * ceilings takes out a drift that runs one way through the run. The figure is the achieved rate,
 * enqueue to last commit as in S1, as a share of that mean.
 */
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../shared/package-root.js';
import { Cluster } from './cluster.js';
import { COMMIT_POLL_MS, CommitWatch } from './commit-watch.js';
import {
  busyShare,
  machineCpu,
  postgresCpuBetween,
  postgresProcessesCpuMs,
  processCpuMs,
} from './cpu.js';
import { handlerSeconds } from './manager-api.js';
import type { BenchOptions } from './options.js';
import { BenchProcess } from './processes.js';
import type { S3Result } from './results.js';
import { round } from './stats.js';
import { timeBackfill } from './timed-backfill.js';

const RUN_TIMEOUT_MS = 120_000;
const QUEUE = 's3';
const CEILING = fileURLToPath(new URL('./s3-timer-ceiling.js', import.meta.url));
const CEILING_LINE_PREFIX = 'bench-ceiling ';

export async function runS3(options: BenchOptions): Promise<S3Result> {
  const { heights, workers, concurrency, prefetch, sleepMs } = options.s3;
  const slots = workers * concurrency;
  const idealPerSecond = (slots * 1000) / sleepMs;
  const cluster = await Cluster.start(options.adminUrl, 's3', options.cpuProfDir);
  try {
    await cluster.addWorkers(workers, {
      queues: [QUEUE],
      concurrency,
      prefetch,
      handler: 'sleep',
      env: { BLOCKRUNNER_SLEEP_MS: String(sleepMs) },
    });
    const watch = await CommitWatch.open(cluster.database.url);
    try {
      const ceilingBefore = await timerCeiling(slots, sleepMs, heights);
      const cpuBefore = {
        manager: processCpuMs(cluster.manager.pid),
        workers: cluster.workersCpuMs(),
        postgres: postgresProcessesCpuMs(),
        machine: machineCpu(),
      };
      const { started, finished } = await timeBackfill(
        cluster,
        watch,
        QUEUE,
        heights,
        RUN_TIMEOUT_MS,
      );
      const cpu = {
        managerMs: Math.round(processCpuMs(cluster.manager.pid) - cpuBefore.manager),
        workersMs: Math.round(cluster.workersCpuMs() - cpuBefore.workers),
        postgresMs: Math.round(postgresCpuBetween(cpuBefore.postgres, postgresProcessesCpuMs())),
        machineBusyShare: round(busyShare(cpuBefore.machine, machineCpu()), 3),
      };
      const elapsedMs = finished - started;
      const heightsPerSecond = heights / (elapsedMs / 1000);
      const handlerMs = (await handlerSeconds(cluster.url, QUEUE)) * 1000;
      const ceilingAfter = await timerCeiling(slots, sleepMs, heights);
      const ceilingPerSecond = (ceilingBefore + ceilingAfter) / 2;
      return {
        database: cluster.database.name,
        heights,
        workers,
        concurrency,
        prefetch,
        sleepMs,
        slots,
        elapsedMs: round(elapsedMs),
        heightsPerSecond: Math.round(heightsPerSecond),
        idealPerSecond,
        shareOfIdeal: round(heightsPerSecond / idealPerSecond, 4),
        ceilingPerSecond: Math.round(ceilingPerSecond),
        ceilingRuns: [Math.round(ceilingBefore), Math.round(ceilingAfter)],
        shareOfCeiling: round(heightsPerSecond / ceilingPerSecond, 4),
        handlerMeanMs: round(handlerMs / heights, 3),
        handlerShareOfSlotTime: round(handlerMs / (slots * elapsedMs), 4),
        cpu,
        measured: `${heights} heights, ${workers} workers x concurrency ${concurrency} (prefetch ${prefetch}), sleep handler ${sleepMs} ms; from just before the enqueue request until PostgreSQL (probed every ${COMMIT_POLL_MS} ms) holds all of them as done; share of ideal = rate / (${slots} slots / ${sleepMs} ms); ceiling: the mean of a bare Node process of ${slots} loops sleeping ${sleepMs} ms ${heights} times in all, right before and right after; handler time from the manager's blockrunner_handler_seconds_total (the workers' own measure), over ${slots} slots x the elapsed time; cpu: what the manager, the workers and every PostgreSQL process of the machine used over the timed run (/proc), and the share of both cores busy`,
      };
    } finally {
      await watch.close();
    }
  } finally {
    await cluster.stop();
  }
}

/** Sleeps per second of a bare Node process running `loops` loops of the same sleep. */
async function timerCeiling(loops: number, sleepMs: number, heights: number): Promise<number> {
  const bare = new BenchProcess(
    's3 timer ceiling',
    [CEILING],
    { BENCH_LOOPS: String(loops), BENCH_SLEEP_MS: String(sleepMs), BENCH_HEIGHTS: String(heights) },
    packageRoot(),
  );
  let result: { heights: number; elapsedMs: number } | undefined;
  bare.onLine((line) => {
    if (line.startsWith(CEILING_LINE_PREFIX))
      result = JSON.parse(line.slice(CEILING_LINE_PREFIX.length));
  });
  const status = await bare.exited;
  if (status.code !== 0 || !result)
    throw new Error(
      `the timer-ceiling process failed (${JSON.stringify(status)})\n${bare.describe()}`,
    );
  return result.heights / (result.elapsedMs / 1000);
}

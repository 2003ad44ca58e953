/**
 * The performance targets (docs/performance.md, "Targets"), checked against the figures of one run.
 * A target whose figure was not measured (scenario skipped or failed, no anchor ran) reads "not
 * measured", met: null.
 */
import type { BenchResults, TargetCheck } from './results.js';
import { S7_MODE_NAMES } from './s7-head.js';

/** Targets in MB are decimal megabytes, the stricter reading. */
const MB = 1_000_000;
/** S7: block produced to handler start, p99. */
const HEAD_P99_MS = 250;

type Figures = Pick<BenchResults, 'scenarios' | 'comparison'>;

/** A share as a percentage with one decimal: 0.9653 -> "96.5%". */
function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

export function checkTargets({ scenarios, comparison }: Figures): TargetCheck[] {
  const { S1, S2, S3, S4, S5, S6, S7, S8 } = scenarios;
  const checks: TargetCheck[] = [];
  const add = (scenario: TargetCheck['scenario'], target: string, value?: [string, boolean]) =>
    checks.push({
      scenario,
      target,
      measured: value?.[0] ?? 'not measured',
      met: value?.[1] ?? null,
    });

  add(
    'S1',
    'at least 250,000 heights/s',
    S1.status === 'ok'
      ? [`${S1.heightsPerSecond.toLocaleString('en-US')} heights/s`, S1.heightsPerSecond >= 250_000]
      : undefined,
  );
  add(
    'S1',
    'at least 50x the best anchor',
    comparison.s1ToBestAnchor !== null
      ? [`${comparison.s1ToBestAnchor}x ${comparison.bestAnchor}`, comparison.s1ToBestAnchor >= 50]
      : undefined,
  );
  if (S2.status === 'ok') {
    add('S2', 'request under 100 ms', [`${S2.requestMs} ms`, S2.requestMs < 100]);
    add('S2', 'database growth under 1 MB', [
      `${(S2.databaseGrowthBytes / MB).toFixed(3)} MB`,
      S2.databaseGrowthBytes < MB,
    ]);
    add('S2', 'manager memory growth under 10 MB', [
      `${(S2.rssGrowthBytes / MB).toFixed(2)} MB`,
      S2.rssGrowthBytes < 10 * MB,
    ]);
  } else {
    add('S2', 'request under 100 ms');
    add('S2', 'database growth under 1 MB');
    add('S2', 'manager memory growth under 10 MB');
  }
  add(
    'S3',
    'at least 97% of a bare Node process sleeping in as many loops (the timer ceiling)',
    S3.status === 'ok'
      ? [
          `${percent(S3.shareOfCeiling)} of the ceiling (${percent(S3.shareOfIdeal)} of the ideal; the bare process ${percent(S3.ceilingPerSecond / S3.idealPerSecond)}, ${percent(S3.ceilingRuns[0] / S3.idealPerSecond)} before, ${percent(S3.ceilingRuns[1] / S3.idealPerSecond)} after)`,
          S3.shareOfCeiling >= 0.97,
        ]
      : undefined,
  );
  add(
    'S4',
    'tip lane under a backfill: enqueue-to-dispatch p99 at most 1.5 times the idle p99',
    S4.status === 'ok'
      ? [
          `${S4.p99Ms} ms vs ${S4.withoutBackfill.p99Ms} ms idle (${(S4.p99Ms / S4.withoutBackfill.p99Ms).toFixed(2)}x)`,
          S4.p99Ms <= 1.5 * S4.withoutBackfill.p99Ms,
        ]
      : undefined,
  );
  add(
    'S5',
    'real handler: at least 95% of a bare loop with the same concurrency',
    S5.status === 'ok'
      ? [
          `${percent(S5.shareOfBareLoop)} (${S5.blockrunner.blocksPerSecond.toLocaleString('en-US')} of ${S5.bareLoop.blocksPerSecond.toLocaleString('en-US')} blocks/s)`,
          S5.shareOfBareLoop >= 0.95,
        ]
      : undefined,
  );
  add(
    'S5',
    "Blockrunner's own CPU (workers outside the handler, manager, its PostgreSQL) at most 10% of the handlers'",
    S5.status === 'ok'
      ? [
          `${percent(S5.ownCpuShare)} over the runs together (by run: ${S5.ownCpuShareByRun.map(percent).join(', ')})`,
          S5.ownCpuShare <= 0.1,
        ]
      : undefined,
  );
  // Not measured until Ponder runs: met stays null, the figure says why.
  checks.push({
    scenario: 'S5',
    target: 'beside Ponder on the same node',
    measured: S5.status === 'ok' ? `Ponder: not run (${S5.ponder.reason})` : 'not measured',
    met: null,
  });
  const s6 = S6.status === 'ok' ? S6 : undefined;
  add(
    'S6',
    'every sparse request within 2x the first',
    s6 && [`slowest ${s6.slowestToFirst}x the first`, s6.slowestToFirst <= 2],
  );
  add(
    'S6',
    'sparse drain at least 50% of the contiguous one',
    s6 && [
      `${percent(s6.drainShareOfDense)} (${s6.sparseHeightsPerSecond.toLocaleString('en-US')} of ${s6.denseHeightsPerSecond.toLocaleString('en-US')} heights/s)`,
      s6.drainShareOfDense >= 0.5,
    ],
  );
  add(
    'S6',
    'under 50 bytes of WAL per isolated height',
    s6 && [`${s6.walBytesPerHeight} bytes`, s6.walBytesPerHeight < 50],
  );
  add(
    'S6',
    'under 50 bytes of database growth per isolated height',
    s6 && [`${s6.databaseBytesPerHeight} bytes`, s6.databaseBytesPerHeight < 50],
  );
  add(
    'S6',
    'manager memory growth under 100 bytes per gap',
    s6 && [`${s6.rssBytesPerGap} bytes`, s6.rssBytesPerGap < 100],
  );
  for (const name of S7_MODE_NAMES) {
    const mode = S7.status === 'ok' ? S7.modes.find((m) => m.mode === name) : undefined;
    add(
      'S7',
      `block produced to handler start p99 under ${HEAD_P99_MS} ms, ${name}`,
      mode ? [`${mode.p99Ms} ms`, mode.p99Ms < HEAD_P99_MS] : undefined,
    );
  }
  add(
    'S7',
    'after a reorg of depth d, re-indexed within pollMs + d x handler time',
    S7.status === 'ok'
      ? [
          `${S7.reorg.elapsedMs} ms, bound ${S7.reorg.boundMs} ms (${S7.reorg.pollMs} + ${S7.reorg.depth} x ${S7.reorg.handlerMeanMs} ms)`,
          S7.reorg.elapsedMs <= S7.reorg.boundMs,
        ]
      : undefined,
  );
  add(
    'S8',
    'restart on 1,000,000 gaps and 100,000 dead letters ready in under 5 s',
    S8.status === 'ok'
      ? [
          `${S8.readyMs} ms (${S8.gaps.toLocaleString('en-US')} gaps, ${S8.deadLetters.toLocaleString('en-US')} dead letters)`,
          S8.readyMs < 5_000,
        ]
      : undefined,
  );
  add(
    'S8',
    '8,000 worker links: busiest link at most 2 times the median',
    S8.status === 'ok'
      ? [
          `${S8.fleet.busiestToMedian}x (${S8.fleet.links.toLocaleString('en-US')} links)`,
          S8.fleet.busiestToMedian <= 2,
        ]
      : undefined,
  );
  return checks;
}

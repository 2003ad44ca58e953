/**
 * The printed result: Markdown tables, readable in a terminal and pasted as they are into
 * docs/performance.md. Every figure here is also in the results file, with more detail.
 */
import { ANCHORS } from './options.js';
import type { BenchResults, Outcome, S5Result } from './results.js';

type Row = [string, string, string, string];

export function renderReport(results: BenchResults): string {
  const { machine, scenarios, anchors, comparison } = results;
  const rows: Row[] = [];
  const { S1, S2, S3, S4, S5, S6, S7, S8 } = scenarios;

  rows.push([
    'S1 throughput',
    'blockrunner',
    figure(S1, (r) => `${int(r.heightsPerSecond)} heights/s`),
    detail(
      S1,
      (r) =>
        `${int(r.heights)} heights in ${duration(r.elapsedMs)}, median of ${r.runs.length} (${r.runs.map((run) => int(run.heightsPerSecond)).join(', ')}); ${r.workers} workers, concurrency ${r.concurrency}, prefetch ${r.prefetch}`,
    ),
  ]);
  for (const name of ANCHORS) {
    const outcome = anchors[name].S1;
    rows.push([
      'S1 throughput',
      name,
      figure(outcome, (r) => `${int(r.jobsPerSecond)} jobs/s`),
      detail(
        outcome,
        (r) =>
          `${int(r.jobs)} jobs in ${duration(r.elapsedMs)} (bulk enqueue ${duration(r.enqueueMs)})`,
      ),
    ]);
  }
  rows.push([
    'S1 ratio',
    `blockrunner / ${comparison.bestAnchor ?? 'best anchor'}`,
    comparison.s1ToBestAnchor === null ? 'not measured' : `${comparison.s1ToBestAnchor}x`,
    comparison.bestAnchorJobsPerSecond === null
      ? ''
      : `best anchor: ${int(comparison.bestAnchorJobsPerSecond)} jobs/s`,
  ]);

  rows.push([
    'S2 big enqueue',
    'blockrunner',
    figure(S2, (r) => `${duration(r.requestMs)} for ${int(r.heights)}`),
    detail(
      S2,
      (r) =>
        `database ${signedBytes(r.databaseGrowthBytes)}, manager RSS ${signedBytes(r.rssGrowthBytes)} (${bytes(r.rssBytesBefore)} -> ${bytes(r.rssBytesAfter)})`,
    ),
  ]);
  for (const name of ANCHORS) {
    const outcome = anchors[name].S2;
    rows.push([
      'S2 big enqueue',
      name,
      figure(outcome, (r) => `${duration(r.enqueueMs)} for ${int(r.jobs)}`),
      detail(
        outcome,
        (r) =>
          `${r.storeMeasure} ${signedBytes(r.storeGrowthBytes)}, client RSS ${signedBytes(r.clientRssGrowthBytes)}; extrapolated to 100,000,000: ${int(r.extrapolatedTo100M.enqueueSeconds)} s, ${bytes(r.extrapolatedTo100M.storeGrowthBytes)}`,
      ),
    ]);
  }

  rows.push([
    'S3 overhead',
    'blockrunner',
    figure(S3, (r) => `${(r.shareOfIdeal * 100).toFixed(1)}% of ideal`),
    detail(
      S3,
      (r) =>
        `${int(r.heightsPerSecond)} of ${int(r.idealPerSecond)} heights/s; ${int(r.heights)} heights, ${r.workers} workers x concurrency ${r.concurrency}, sleep ${r.sleepMs} ms; handlers took ${r.handlerMeanMs} ms per height, ${(r.handlerShareOfSlotTime * 100).toFixed(1)}% of slot time; CPU-s: manager ${(r.cpu.managerMs / 1000).toFixed(2)}, workers ${(r.cpu.workersMs / 1000).toFixed(2)}, PostgreSQL ${(r.cpu.postgresMs / 1000).toFixed(2)}; cores ${(r.cpu.machineBusyShare * 100).toFixed(0)}% busy`,
    ),
  ]);
  rows.push([
    'S4 latency',
    'blockrunner',
    figure(S4, (r) => `p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`),
    detail(
      S4,
      (r) =>
        `max ${r.maxMs} ms; ${int(r.samples)} single heights at ${r.perSecond}/s while a backfill ran at ${int(r.backfillHeightsPerSecond)} heights/s; with no backfill: p50 ${r.withoutBackfill.p50Ms} ms, p99 ${r.withoutBackfill.p99Ms} ms`,
    ),
  ]);

  rows.push(...realChainRows(S5));
  rows.push([
    'S6 sparse queue',
    'blockrunner',
    figure(
      S6,
      (r) =>
        `${int(r.sparseHeightsPerSecond)} heights/s, ${(r.drainShareOfDense * 100).toFixed(1)}% of contiguous`,
    ),
    detail(
      S6,
      (r) =>
        `${int(r.heights)} isolated heights in requests of ${int(r.perRequest)}: first ${duration(r.sparseRequestMs[0] ?? 0)}, slowest ${duration(Math.max(...r.sparseRequestMs))} (${r.slowestToFirst}x), all ${duration(r.sparseEnqueueMs)} (contiguous: ${duration(r.denseEnqueueMs)}); drain ${duration(r.sparseDrainMs)} (contiguous ${duration(r.denseDrainMs)}, ${int(r.denseHeightsPerSecond)} heights/s); WAL ${r.walBytesPerHeight} B, database ${r.databaseBytesPerHeight} B per height; manager RSS ${r.rssBytesPerGap} B per gap`,
    ),
  ]);
  rows.push(...headRows(S7));
  rows.push([
    'S8 restart',
    'blockrunner',
    figure(S8, (r) => `ready in ${duration(r.readyMs)}`),
    detail(S8, (r) => `${int(r.gaps)} gaps, ${int(r.deadLetters)} dead letters, after SIGKILL`),
  ]);
  rows.push([
    'S8 fleet',
    'blockrunner',
    figure(S8, (r) => `busiest link ${r.fleet.busiestToMedian}x the median`),
    detail(
      S8,
      ({ fleet: f }) =>
        `${int(f.links)} links of capacity 1, ${int(f.heights)} heights in ${duration(f.elapsedMs)} (${int(f.heightsPerSecond)} heights/s); heights per link: median ${int(f.medianHeights)}, busiest ${int(f.busiestHeights)}, idlest ${int(f.idlestHeights)}`,
    ),
  ]);

  const targets = results.targets.map(
    (check): Row => [
      check.scenario,
      check.target,
      check.measured,
      check.met === null ? 'not measured' : check.met ? 'met' : 'NOT MET',
    ],
  );

  return [
    `Blockrunner bench, ${results.date}, ${Math.round(results.durationMs / 1000)} s`,
    `machine: ${machine.cores} cores (${machine.cpuModel}), ${bytes(machine.memoryBytes)} memory, node ${machine.node}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}`,
    `load average (1 min): ${machine.loadAverage.start} at start, ${machine.loadAverage.end} at end${machine.loadAverage.start > 1 ? ' (other processes were using the cores at start: figures are lower than on an idle machine)' : ''}`,
    `versions: ${Object.entries(results.versions)
      .map(([name, version]) => `${name} ${version}`)
      .join(', ')}`,
    `command: ${results.command}`,
    '',
    table(['scenario', 'system', 'figure', 'detail'], rows),
    '',
    table(['scenario', 'target', 'measured', 'result'], targets),
    '',
    'How each figure was measured:',
    ...howMeasured(results).map((line) => `- ${line}`),
    '',
  ].join('\n');
}

function howMeasured({ scenarios, anchors }: BenchResults): string[] {
  const lines: string[] = [];
  for (const [id, outcome] of Object.entries(scenarios)) {
    if (outcome.status === 'ok') lines.push(`${id} blockrunner: ${outcome.measured}`);
  }
  for (const name of ANCHORS) {
    for (const id of ['S1', 'S2'] as const) {
      const outcome = anchors[name][id];
      if (outcome.status === 'ok') lines.push(`${id} ${name}: ${outcome.measured}`);
    }
  }
  return lines;
}

function realChainRows(S5: BenchResults['scenarios']['S5']): Row[] {
  const settings = (r: S5Result) =>
    `${int(r.blocks)} blocks (${int(r.bareLoop.transactionRows)} transfers), ${r.processes} processes x concurrency ${r.concurrency}`;
  return [
    [
      'S5 real chain',
      'blockrunner',
      figure(S5, (r) => `${int(r.blockrunner.blocksPerSecond)} blocks/s`),
      detail(
        S5,
        (r) =>
          `${(r.shareOfBareLoop * 100).toFixed(1)}% of the bare loop (best runs; blockrunner / bare loop blocks/s by run: ${r.runs.map((run) => `${int(run.blockrunner.blocksPerSecond)}/${int(run.bareLoop.blocksPerSecond)}`).join(', ')}); ${duration(r.blockrunner.elapsedMs)}; ${settings(r)}, prefetch ${r.prefetch}; handler ${r.blockrunner.handlerMeanMs} ms per block; ${int(r.blockrunner.commits ?? 0)} manager commits (${r.blockrunner.commitMeanMs} ms each), ${int(r.blockrunner.resultsFrames ?? 0)} results frames; CPU ${cpu(r.blockrunner.cpu)}`,
      ),
    ],
    [
      'S5 real chain',
      'bare loop',
      figure(S5, (r) => `${int(r.bareLoop.blocksPerSecond)} blocks/s`),
      detail(
        S5,
        (r) =>
          `${duration(r.bareLoop.elapsedMs)}; ${settings(r)}; same handler module, ${r.bareLoop.handlerMeanMs} ms per block; CPU ${cpu(r.bareLoop.cpu)}`,
      ),
    ],
    [
      'S5 real chain',
      'ponder',
      figure(S5, () => 'not run'),
      detail(S5, (r) => `Ponder: not run (${r.ponder.reason})`),
    ],
  ];
}

/** Where the cores' time went during one side of S5. */
function cpu(used: S5Result['blockrunner']['cpu']): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return `handler processes ${s(used.handlerProcessesMs)}, manager ${s(used.managerMs)}, anvil ${s(used.anvilMs)}, PostgreSQL for the handler ${s(used.postgresHandlerMs)}, for the manager ${s(used.postgresManagerMs)}, other ${s(used.postgresOtherMs)}, bench ${s(used.benchMs)}, rest ${s(used.restMs)}; cores ${(used.machineBusyShare * 100).toFixed(0)}% busy`;
}

function headRows(S7: BenchResults['scenarios']['S7']): Row[] {
  if (S7.status !== 'ok') {
    return [['S7 head', 'blockrunner', figure(S7, () => ''), detail(S7, () => '')]];
  }
  const rows: Row[] = S7.modes.map((mode) => [
    'S7 head',
    mode.mode,
    `p50 ${mode.p50Ms} ms, p99 ${mode.p99Ms} ms`,
    `block first seen to handler start, ${mode.samples} blocks at ${S7.blockTime} s; max ${mode.maxMs} ms; first seen by the bench's poll (window ${mode.seenWindowP99Ms} ms p99) or its own newHeads (first for ${mode.heardByNewHeads})`,
  ]);
  const r = S7.reorg;
  const at = (ms: number | null) => (ms === null ? '?' : duration(ms));
  rows.push([
    'S7 reorg',
    `depth ${r.depth}, pollMs ${r.pollMs}`,
    duration(r.elapsedMs),
    `bound ${duration(r.boundMs)} = ${r.pollMs} ms + ${r.depth} x ${r.handlerMeanMs} ms; after the anvil_reorg call: detected ${at(r.detectedMs)}, revert ${at(r.revertStartedMs)} to ${at(r.revertedMs)}, re-runs ${at(r.firstRerunStartMs)} to ${at(r.lastRerunFinishMs)} (${r.rerunHandlerMeanMs} ms each)`,
  ]);
  return rows;
}

function figure<T>(outcome: Outcome<T>, show: (result: T) => string): string {
  if (outcome.status === 'ok') return show(outcome);
  if (outcome.status === 'skipped') return 'skipped';
  return 'FAILED';
}

function detail<T>(outcome: Outcome<T>, show: (result: T) => string): string {
  if (outcome.status === 'ok') return show(outcome);
  const text = outcome.status === 'skipped' ? outcome.reason : outcome.error;
  const first = text.split('\n')[0] ?? '';
  return first.length > 160 ? `${first.slice(0, 157)}...` : first;
}

function table(header: Row, rows: Row[]): string {
  const all = [header, ...rows].map((row) => row.map((cell) => cell.replace(/\|/g, '/')));
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const rule = `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`;
  return [line(all[0] as string[]), rule, ...all.slice(1).map(line)].join('\n');
}

function int(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Decimal units, as the targets are written (bench/targets.ts: MB). */
function bytes(value: number): string {
  const abs = Math.abs(value);
  if (abs < 1e3) return `${value} B`;
  if (abs < 1e6) return `${(value / 1e3).toFixed(1)} kB`;
  if (abs < 1e9) return `${(value / 1e6).toFixed(1)} MB`;
  return `${(value / 1e9).toFixed(1)} GB`;
}

function signedBytes(value: number): string {
  return value >= 0 ? `+${bytes(value)}` : bytes(value);
}

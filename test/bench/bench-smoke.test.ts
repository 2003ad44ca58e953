/**
 * Small runs of `npm run bench` (the built dist/bench/main.js), Blockrunner only: S1 on 20,000
 * heights with two workers, S2, S3 on 800 heights, S4 with a few samples; then S5 on 200 blocks
 * of a local anvil. Checks correctness, never timing (issue 4: timing figures are printed by the
 * bench, not asserted in `npm test`): every height done,
 * the results file well-formed, what was not run said so, and nothing left behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { BenchResults } from '../../bench/results.js';
import { packageRoot } from '../../shared/package-root.js';
import { withAdminClient } from '../helpers/database.js';

const RUN_TIMEOUT_MS = 50_000;
const dir = mkdtempSync(join(tmpdir(), 'blockrunner-bench-smoke-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built bench; kills it (and fails) when it has not stopped by itself in time. */
function runBench(args: string[]): Promise<Run> {
  const main = join(packageRoot(), 'dist', 'bench', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build first (npm test does)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], {
      cwd: packageRoot(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      reject(new Error(`the bench did not stop within ${RUN_TIMEOUT_MS} ms:\n${stderr}`));
    }, RUN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run bench, smoke run', () => {
  it('runs S1, S2, S3 and S4 small and writes a well-formed results file', async () => {
    const adminUrl = inject('databaseUrl');
    const out = join(dir, 'latest.json');
    const run = await runBench([
      '--only',
      'S1,S2,S3,S4',
      '--anchors',
      'none',
      '--s1-heights',
      '20000',
      '--s1-runs',
      '1',
      '--s1-workers',
      '2',
      '--s3-heights',
      '800',
      '--s4-samples',
      '20',
      '--database-url',
      adminUrl,
      '--out',
      out,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const results = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
    const { S1, S2, S3, S4 } = results.scenarios;

    if (S1.status !== 'ok') throw new Error(`S1: ${JSON.stringify(S1)}`);
    expect(S1.heights).toBe(20_000);
    expect(S1.workers).toBe(2);
    expect(S1.runs).toHaveLength(1);
    expect(S1.heightsPerSecond).toBeGreaterThan(0);

    if (S2.status !== 'ok') throw new Error(`S2: ${JSON.stringify(S2)}`);
    expect(S2.added).toBe(100_000_000);
    expect(S2.rssSamplesBefore.length).toBeGreaterThan(1);
    expect(S2.rssSamplesAfter.length).toBeGreaterThan(1);
    expect(S2.rssBytesBefore).toBeGreaterThan(0);
    expect(S2.databaseBytesAfter).toBe(S2.databaseBytesBefore + S2.databaseGrowthBytes);

    if (S3.status !== 'ok') throw new Error(`S3: ${JSON.stringify(S3)}`);
    expect(S3.heights).toBe(800);
    // The ceiling is the mean of the bare process's runs before and after Blockrunner's.
    expect(S3.ceilingRuns).toHaveLength(2);
    for (const run of S3.ceilingRuns) expect(run).toBeGreaterThan(0);
    expect(S3.ceilingPerSecond).toBeCloseTo((S3.ceilingRuns[0] + S3.ceilingRuns[1]) / 2, -1);
    expect(S3.shareOfCeiling).toBeCloseTo(S3.heightsPerSecond / S3.ceilingPerSecond, 2);
    // The sleeping workers used CPU, and the cores were busy part of the time and no more.
    expect(S3.cpu.workersMs).toBeGreaterThan(0);
    expect(S3.cpu.managerMs).toBeGreaterThan(0);
    expect(S3.cpu.machineBusyShare).toBeGreaterThan(0);
    expect(S3.cpu.machineBusyShare).toBeLessThanOrEqual(1);

    if (S4.status !== 'ok') throw new Error(`S4: ${JSON.stringify(S4)}`);
    expect(S4.samples).toBe(20);
    // Idle and busy phases alternate: each kind gets its share of the samples in every round.
    expect(S4.rounds).toBe(4);
    expect(Number.isFinite(S4.p50Ms) && Number.isFinite(S4.p99Ms)).toBe(true);
    expect(S4.p99Ms).toBeGreaterThanOrEqual(S4.p50Ms);
    expect(S4.withoutBackfill.samples).toBe(20);
    expect(S4.withoutBackfill.p99Ms).toBeGreaterThanOrEqual(S4.withoutBackfill.p50Ms);

    // Anchors not run are reported as such, never left out.
    for (const name of ['pg-boss', 'graphile-worker', 'bullmq'] as const) {
      expect(results.anchors[name].S1).toEqual({
        status: 'skipped',
        reason: `${name} excluded by --anchors`,
      });
      expect(results.anchors[name].version).toMatch(/^\d+\.\d+\.\d+/);
    }
    expect(results.comparison.s1ToBestAnchor).toBeNull();
    expect(results.targets.map((check) => check.scenario)).toEqual([
      'S1',
      'S1',
      'S2',
      'S2',
      'S2',
      'S3',
      'S4',
      'S5',
      'S5',
      'S5',
      'S6',
      'S6',
      'S6',
      'S6',
      'S6',
      'S7',
      'S7',
      'S7',
      'S7',
      'S8',
      'S8',
    ]);
    expect(results.targets.find((check) => check.scenario === 'S5')?.met).toBeNull();
    expect(results.machine.cores).toBe(cpus().length);
    expect(results.machine.memoryBytes).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(results.date))).toBe(false);
    expect(run.stdout).toContain('| S1 throughput');

    // Every scenario dropped its database.
    const names = [S1.database, S2.database, S3.database, S4.database];
    const left = await withAdminClient(adminUrl, async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        'SELECT datname FROM pg_database WHERE datname = ANY($1::text[])',
        [names],
      );
      return rows.map((row) => row.datname);
    });
    expect(left).toEqual([]);
  });

  it('runs S6 and S8 small: a sparse queue beside a contiguous one, a restart on it, a fleet', async () => {
    const adminUrl = inject('databaseUrl');
    const out = join(dir, 's6.json');
    const run = await runBench([
      '--only',
      'S6,S8',
      '--anchors',
      'none',
      '--s6-heights',
      '60000',
      '--s8-gaps',
      '20000',
      '--s8-dead-letters',
      '2000',
      '--s8-links',
      '40',
      '--database-url',
      adminUrl,
      '--out',
      out,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const results = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
    const { S6, S8 } = results.scenarios;
    if (S6.status !== 'ok') throw new Error(`S6: ${JSON.stringify(S6)}`);
    if (S8.status !== 'ok') throw new Error(`S8: ${JSON.stringify(S8)}`);
    // 60,000 heights in requests of 50,000: two requests on each side, both drained.
    expect(S6.sparseRequestMs).toHaveLength(2);
    expect(S6.denseRequestMs).toHaveLength(2);
    expect(S6.sparseHeightsPerSecond).toBeGreaterThan(0);
    expect(S6.denseHeightsPerSecond).toBeGreaterThan(0);
    expect(S6.walBytes).toBeGreaterThan(0);
    expect(S8).toMatchObject({ gaps: 20_000, deadLetters: 2_000 });
    expect(S8.readyMs).toBeGreaterThan(0);
    // 40 links of 25 heights each: every height ran on some link, and the spread is reported.
    expect(S8.fleet).toMatchObject({ links: 40, heights: 1_000 });
    expect(S8.fleet.medianHeights).toBeGreaterThan(0);
    expect(S8.fleet.busiestHeights).toBeGreaterThanOrEqual(S8.fleet.medianHeights);
    const checked = results.targets.filter((check) => ['S6', 'S8'].includes(check.scenario));
    expect(checked).toHaveLength(7);
    expect(checked.every((check) => check.met !== null)).toBe(true);
    expect(run.stdout).toContain('| S6 sparse queue');
    expect(run.stdout).toContain('| S8 restart');
    expect(run.stdout).toContain('| S8 fleet');
    const left = await withAdminClient(adminUrl, async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        'SELECT datname FROM pg_database WHERE datname = ANY($1::text[])',
        [[S6.database, S8.database]],
      );
      return rows.map((row) => row.datname);
    });
    expect(left).toEqual([]);
  });

  it('runs S5 small: the example handler on anvil, beside a bare loop of it', async () => {
    const adminUrl = inject('databaseUrl');
    const out = join(dir, 's5.json');
    const run = await runBench([
      '--only',
      'S5',
      '--anchors',
      'none',
      '--s5-blocks',
      '200',
      '--s5-transfers',
      '10',
      '--s5-runs',
      '1',
      '--database-url',
      adminUrl,
      '--out',
      out,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const results = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
    const { S5 } = results.scenarios;
    if (S5.status !== 'ok') throw new Error(`S5: ${JSON.stringify(S5)}`);
    expect(S5.blocks).toBe(200);
    expect(S5.runs).toHaveLength(1);
    for (const side of [S5.blockrunner, S5.bareLoop]) {
      expect(side.blockRows).toBe(200);
      expect(side.transactionRows).toBe(10);
      expect(side.blocksPerSecond).toBeGreaterThan(0);
    }
    expect(S5.blockrunner.commits).toBeGreaterThan(0);
    expect(S5.bareLoop.commits).toBeNull();
    expect(S5.ponder.ran).toBe(false);
    const s5Targets = results.targets.filter((check) => check.scenario === 'S5');
    expect(s5Targets.map((check) => check.met === null)).toEqual([false, false, true]);
    // Blockrunner's own CPU, as a share of the handlers', once per run and as their mean.
    expect(S5.ownCpuShareByRun).toHaveLength(1);
    expect(S5.ownCpuShare).toBe(S5.ownCpuShareByRun[0]);
    expect(S5.ownCpuShare).toBeGreaterThan(0);
    expect(run.stdout).toContain('Ponder: not run (');

    // Every database it made (the handler's on each side, the manager's) is dropped.
    const names = [S5.blockrunner.database, S5.blockrunner.managerDatabase, S5.bareLoop.database];
    const left = await withAdminClient(adminUrl, async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        'SELECT datname FROM pg_database WHERE datname = ANY($1::text[])',
        [names],
      );
      return rows.map((row) => row.datname);
    });
    expect(left).toEqual([]);
  });
});

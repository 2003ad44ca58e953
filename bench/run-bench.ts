/**
 * One bench run: the selected scenarios for Blockrunner, the anchors beside S1 and S2 (S5 has
 * its own: a bare loop of the same handler), then the comparison and the targets. Scenarios run
 * one after another, never side by side, so that no figure shares the two cores with another
 * measurement.
 */
import { redactUrl } from '../shared/logger.js';
import { type AnchorFigures, redisStartedByBench, runAnchor } from './anchor-runner.js';
import { dropStaleDatabases } from './databases.js';
import { describeMachine, oneMinuteLoad, packageVersions } from './machine.js';
import { ANCHORS, type AnchorName, type BenchOptions, type ScenarioId } from './options.js';
import {
  type AnchorResults,
  type BenchResults,
  describeError,
  type Outcome,
  outcome,
} from './results.js';
import { runS1 } from './s1-throughput.js';
import { runS2 } from './s2-big-enqueue.js';
import { runS3 } from './s3-overhead.js';
import { runS4 } from './s4-latency.js';
import { runS5 } from './s5-real-chain.js';
import { runS6 } from './s6-sparse-queue.js';
import { runS7 } from './s7-head.js';
import { runS8 } from './s8-restart.js';
import { round } from './stats.js';
import { checkTargets } from './targets.js';

/** Progress on stderr, so that stdout holds the report alone. */
export type Progress = (message: string) => void;

export async function runBench(
  options: BenchOptions,
  command: string,
  progress: Progress,
): Promise<BenchResults> {
  const date = new Date().toISOString();
  const started = performance.now();
  const loadAtStart = oneMinuteLoad();
  if (loadAtStart > 1) {
    progress(
      `load average is ${loadAtStart} before the bench starts: other processes use the cores, figures will be low`,
    );
  }
  const stale = await dropStaleDatabases(options.adminUrl).catch((error: unknown) => {
    throw new Error(`PostgreSQL does not answer at ${redactUrl(options.adminUrl)}`, {
      cause: error,
    });
  });
  if (stale.length > 0) progress(`dropped ${stale.length} stale bench database(s)`);

  const step = async <T>(
    id: ScenarioId,
    label: string,
    run: () => Promise<Outcome<T>>,
  ): Promise<Outcome<T>> => {
    if (!options.scenarios.includes(id)) {
      return { status: 'skipped', reason: `${id} not selected (--only)` };
    }
    progress(`${id} ${label}...`);
    const at = performance.now();
    const result = await run();
    const seconds = ((performance.now() - at) / 1000).toFixed(1);
    const state = result.status === 'failed' ? `FAILED: ${result.error.split('\n')[0]}` : 'done';
    progress(`${id} ${label}: ${state} (${seconds} s)`);
    return result;
  };
  const anchor = <S extends 'S1' | 'S2'>(
    name: AnchorName,
    id: S,
  ): Promise<Outcome<AnchorFigures<S>>> => {
    if (!options.anchors.includes(name)) {
      return Promise.resolve({ status: 'skipped', reason: `${name} excluded by --anchors` });
    }
    return step<AnchorFigures<S>>(id, name, () =>
      runAnchor(name, id, options).catch(
        (error: unknown): Outcome<AnchorFigures<S>> => ({
          status: 'failed',
          error: describeError(error),
        }),
      ),
    );
  };

  const S1 = await step('S1', 'blockrunner', () => outcome(() => runS1(options)));
  const anchorS1 = new Map<AnchorName, AnchorResults['S1']>();
  for (const name of ANCHORS) anchorS1.set(name, await anchor(name, 'S1'));
  const S2 = await step('S2', 'blockrunner', () => outcome(() => runS2(options)));
  const anchorS2 = new Map<AnchorName, AnchorResults['S2']>();
  for (const name of ANCHORS) anchorS2.set(name, await anchor(name, 'S2'));
  const S3 = await step('S3', 'blockrunner', () => outcome(() => runS3(options)));
  const S4 = await step('S4', 'blockrunner', () => outcome(() => runS4(options)));
  const S5 = await step('S5', 'real chain', () => outcome(() => runS5(options)));
  const S6 = await step('S6', 'sparse queue', () => outcome(() => runS6(options)));
  const S7 = await step('S7', 'head', () => outcome(() => runS7(options)));
  const S8 = await step('S8', 'restart and fleet', () => outcome(() => runS8(options)));

  const versions = packageVersions();
  const anchors = Object.fromEntries(
    ANCHORS.map((name) => [
      name,
      {
        version: versions[name] ?? 'unknown',
        S1: anchorS1.get(name) as AnchorResults['S1'],
        S2: anchorS2.get(name) as AnchorResults['S2'],
      },
    ]),
  ) as Record<AnchorName, AnchorResults>;

  let best: { name: AnchorName; jobsPerSecond: number } | undefined;
  for (const name of ANCHORS) {
    const figures = anchors[name].S1;
    if (figures.status === 'ok' && figures.jobsPerSecond > (best?.jobsPerSecond ?? 0)) {
      best = { name, jobsPerSecond: figures.jobsPerSecond };
    }
  }
  const comparison = {
    bestAnchor: best?.name ?? null,
    bestAnchorJobsPerSecond: best?.jobsPerSecond ?? null,
    s1ToBestAnchor:
      best && S1.status === 'ok' ? round(S1.heightsPerSecond / best.jobsPerSecond, 1) : null,
  };
  const scenarios = { S1, S2, S3, S4, S5, S6, S7, S8 };
  const machine = await describeMachine(options, loadAtStart);
  if (await redisStartedByBench()) machine.redis += ' (started by the bench)';
  return {
    date,
    command,
    durationMs: Math.round(performance.now() - started),
    machine,
    versions,
    options: { ...options, adminUrl: redactUrl(options.adminUrl) },
    scenarios,
    anchors,
    comparison,
    targets: checkTargets({ scenarios, comparison }),
  };
}

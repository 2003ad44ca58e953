/**
 * DESIGN "Performance targets", checked against the figures of one run. A target whose figure
 * was not measured (scenario skipped or failed, no anchor ran) reads "not measured", met: null.
 */
import type { BenchResults, TargetCheck } from './results.js';

/** DESIGN writes MB: decimal megabytes, the stricter reading. */
const MB = 1_000_000;

type Figures = Pick<BenchResults, 'scenarios' | 'comparison'>;

export function checkTargets({ scenarios, comparison }: Figures): TargetCheck[] {
  const { S1, S2, S3, S4 } = scenarios;
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
    'at least 20x the best anchor',
    comparison.s1ToBestAnchor !== null
      ? [`${comparison.s1ToBestAnchor}x ${comparison.bestAnchor}`, comparison.s1ToBestAnchor >= 20]
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
    'at least 95% of the ideal 8,000 heights/s',
    S3.status === 'ok'
      ? [`${(S3.shareOfIdeal * 100).toFixed(1)}%`, S3.shareOfIdeal >= 0.95]
      : undefined,
  );
  add(
    'S4',
    'enqueue-to-dispatch p99 under 10 ms',
    S4.status === 'ok' ? [`${S4.p99Ms} ms`, S4.p99Ms < 10] : undefined,
  );
  return checks;
}

/**
 * The Grafana dashboard of docs/grafana/blockrunner.json (docs/observability.md, "Grafana"): a
 * dashboard JSON model with a Prometheus datasource variable, whose every PromQL expression
 * parses (promtool check rules, Prometheus's own parser) and queries only metrics that a real
 * manager's /metrics exposes.
 */

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { type ManagerProcess, startManager, stopAll } from '../helpers/processes.js';
import { metricNames as namesOf } from '../helpers/promql.js';

const run = promisify(execFile);
const DASHBOARD = join(packageRoot(), 'docs', 'grafana', 'blockrunner.json');

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  datasource?: { type: string; uid: string };
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
/** Grafana's reference to the `datasource` variable, spelled out (not a template literal). */
const DATASOURCE = { type: 'prometheus', uid: ['$', '{datasource}'].join('') };

/** Every PromQL expression of the dashboard: panel targets and query variables. */
function expressions(): { where: string; expr: string }[] {
  const found: { where: string; expr: string }[] = [];
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? [])
      found.push({ where: `${panel.title} ${target.refId}`, expr: target.expr });
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
    // label_values(metric, label) is Grafana's, not PromQL: its metric is what it queries.
    const labelValues = /^label_values\((.+),\s*\w+\)$/.exec(query);
    found.push({ where: `variable ${variable.name}`, expr: labelValues?.[1] ?? query });
  }
  return found;
}

/** Grafana's own variables, replaced by values of the same kind so that PromQL parses. */
function withVariables(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__range', '1h')
    .replaceAll('$__interval', '15s')
    .replaceAll('$queue', '.*');
}

/** The metric names an expression selects, its dashboard variables filled in. */
function metricNames(expr: string): string[] {
  return namesOf(withVariables(expr));
}

/** The metric families of a text exposition, by name, with their type. */
function families(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm))
    types.set(match[1] as string, match[2] as string);
  return types;
}

/** Whether `name` is a family, or a histogram's (or summary's) _bucket, _sum or _count series. */
function exposes(types: Map<string, string>, name: string): boolean {
  if (types.has(name)) return true;
  const series = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!series) return false;
  const type = types.get(series[1] as string);
  return type === 'histogram' || (type === 'summary' && series[2] !== 'bucket');
}

let db: TestDatabase;
let manager: ManagerProcess;
let promtool: string;

beforeAll(async () => {
  const installed = await run(join(packageRoot(), '.ci', 'install-promtool'), {
    timeout: 170_000,
  });
  promtool = installed.stdout.trim();
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
  // A queue, so the per-queue gauges have samples too.
  await api(manager.url).post('/v1/queues/default/heights', { from: 0, to: 9 });
}, 180_000);

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

describe('docs/grafana/blockrunner.json', () => {
  it('is a dashboard model with a Prometheus datasource variable that every panel uses', () => {
    expect(dashboard).toMatchObject({ uid: 'blockrunner', title: 'Blockrunner' });
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    const datasource = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(datasource).toMatchObject({ name: 'datasource', query: 'prometheus' });
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const queries = dashboard.panels.filter((panel) => panel.type !== 'row');
    expect(queries.length).toBeGreaterThanOrEqual(15);
    for (const panel of queries) {
      expect({ title: panel.title, datasource: panel.datasource }).toEqual({
        title: panel.title,
        datasource: DATASOURCE,
      });
      expect(panel.targets?.length ?? 0).toBeGreaterThan(0);
      expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
    }
  });

  it('has expressions that Prometheus parses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'blockrunner-grafana-'));
    try {
      const rules = expressions()
        .map(
          ({ expr }, i) =>
            `      - record: grafana:expr_${i}\n        expr: ${JSON.stringify(withVariables(expr))}`,
        )
        .join('\n');
      const file = join(dir, 'rules.yml');
      writeFileSync(file, `groups:\n  - name: grafana\n    rules:\n${rules}\n`);
      const checked = await run(promtool, ['check', 'rules', file]).catch(
        (error: { stdout: string; stderr: string }) => error,
      );
      expect(`${checked.stdout}${checked.stderr}`).toContain(
        `SUCCESS: ${expressions().length} rules found`,
      );
      // The check can fail: a broken expression does not parse.
      writeFileSync(
        file,
        'groups:\n  - name: broken\n    rules:\n      - record: broken\n        expr: "sum(rate(x[1m])"\n',
      );
      await expect(run(promtool, ['check', 'rules', file])).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('queries only metrics that a real manager exposes at /metrics', async () => {
    const response = await fetch(`${manager.url}/metrics`);
    expect(response.status).toBe(200);
    const types = families(await response.text());
    const queried = new Map<string, string>();
    for (const { where, expr } of expressions()) {
      for (const name of metricNames(expr)) queried.set(name, where);
    }
    // Every part of the dashboard is queried: queues, chains, latency, commits, workers, process.
    for (const name of [
      'blockrunner_heights_pending',
      'blockrunner_heights_done_total',
      'blockrunner_watermark',
      'blockrunner_lag_heights',
      'blockrunner_reorgs_total',
      'blockrunner_dispatch_to_result_seconds_bucket',
      'blockrunner_commit_duration_seconds_bucket',
      'blockrunner_workers_connected',
      'process_resident_memory_bytes',
    ])
      expect(queried.has(name), name).toBe(true);
    const missing = [...queried].filter(([name]) => !exposes(types, name));
    expect(missing).toEqual([]);
    // The check can fail: a name the manager does not expose is reported.
    expect(exposes(types, 'blockrunner_no_such_metric')).toBe(false);
    expect(exposes(types, 'blockrunner_heights_pending_bucket')).toBe(false);
  });

  it('finds the metric names of an expression, and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, queue) (rate(a_seconds_bucket{queue=~"$queue"}[$__rate_interval]))) / on (queue) b_total offset 5m',
      ),
    ).toEqual(['a_seconds_bucket', 'b_total']);
    expect(metricNames('sum without (instance) (up{job="x"}) > bool 0')).toEqual(['up']);
  });
});

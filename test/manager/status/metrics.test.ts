/**
 * /metrics of a real manager with a real worker: the exposition passes Prometheus's own
 * checker (`promtool check metrics`, from Debian's prometheus package via
 * .ci/install-promtool), and its values match what the API says happened.
 */
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { api } from '../../helpers/http.js';
import {
  type ManagerProcess,
  startManager,
  startWorker,
  stopAll,
} from '../../helpers/processes.js';
import { waitForQueue } from '../../helpers/queues.js';

const run = promisify(execFile);
const handler = fileURLToPath(new URL('../../fixtures/fail-queue-bad.mjs', import.meta.url));
const GOOD = 3_000;
const BAD = 4;
const MAX_ATTEMPTS = 2;

let db: TestDatabase;
let manager: ManagerProcess;
let promtool: string;

beforeAll(async () => {
  // Downloads the .deb on the first run on a machine (a few seconds), then reuses the binary.
  const installed = await run(join(packageRoot(), '.ci', 'install-promtool'), {
    timeout: 170_000,
  });
  promtool = installed.stdout.trim();
  db = await createTestDatabase();
  manager = await startManager({
    databaseUrl: db.url,
    env: {
      BLOCKRUNNER_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      BLOCKRUNNER_RETRY_BASE_MS: '5',
      BLOCKRUNNER_RETRY_MAX_MS: '20',
    },
  });
  await startWorker({
    managerUrl: manager.wsUrl,
    env: {
      BLOCKRUNNER_HANDLER: handler,
      BLOCKRUNNER_QUEUES: 'default,bad',
      BLOCKRUNNER_WORKER_NAME: 'm1',
    },
  });
}, 180_000);

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text exposition (no timestamps: prom-client writes none). */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] as string] = pair[2] as string;
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length !== 1) {
    throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  }
  return (found[0] as Sample).value;
}

/** Runs promtool with `text` on stdin; resolves with its exit code and output. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}

async function scrape(): Promise<{ text: string; contentType: string | null }> {
  const response = await fetch(`${manager.url}/metrics`);
  expect(response.status).toBe(200);
  return { text: await response.text(), contentType: response.headers.get('content-type') };
}

describe('/metrics', () => {
  it('counts what happened: enqueued, done, failed, gauges, histograms, workers', async () => {
    const client = api(manager.url);
    expect(
      (await client.post('/v1/queues/default/heights', { from: 0, to: GOOD - 1 })).status,
    ).toBe(202);
    expect(
      (await client.post('/v1/queues/bad/heights', { from: 10, to: 10 + BAD - 1 })).status,
    ).toBe(202);
    // Enqueuing again adds nothing, so the counter must not move.
    expect(
      (await client.post('/v1/queues/default/heights', { heights: [0, 1] })).body,
    ).toMatchObject({ added: 0 });
    const good = await waitForQueue(manager.url, (s) => s.done === GOOD, 'default done');
    await waitForQueue(manager.url, (s) => s.failed === BAD, 'bad dead-lettered', { queue: 'bad' });

    const { text, contentType } = await scrape();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseSamples(text);
    const q = { queue: 'default' };
    const bad = { queue: 'bad' };

    expect(value(samples, 'blockrunner_heights_enqueued_total', q)).toBe(GOOD);
    expect(value(samples, 'blockrunner_heights_enqueued_total', bad)).toBe(BAD);
    expect(value(samples, 'blockrunner_heights_done_total', q)).toBe(good.done);
    expect(value(samples, 'blockrunner_heights_done_total', q)).toBe(GOOD);
    expect(value(samples, 'blockrunner_heights_failed_total', bad)).toBe(BAD);
    expect(value(samples, 'blockrunner_attempts_failed_total', bad)).toBe(BAD * MAX_ATTEMPTS);
    expect(value(samples, 'blockrunner_attempts_failed_total', q)).toBe(0);
    expect(value(samples, 'blockrunner_dead_letters', bad)).toBe(BAD);

    for (const gauge of ['pending', 'leased', 'retrying']) {
      expect(value(samples, `blockrunner_heights_${gauge}`, q)).toBe(0);
    }
    expect(value(samples, 'blockrunner_watermark', q)).toBe(GOOD - 1);
    expect(value(samples, 'blockrunner_highest_enqueued_height', q)).toBe(GOOD - 1);
    expect(value(samples, 'blockrunner_watermark_lag', q)).toBe(0);
    // Nothing of "bad" is done: no watermark, and the lag spans all of it.
    expect(
      samples.some((s) => s.name === 'blockrunner_watermark' && s.labels.queue === 'bad'),
    ).toBe(false);
    expect(value(samples, 'blockrunner_watermark_lag', bad)).toBe(BAD);

    expect(value(samples, 'blockrunner_workers_connected')).toBe(1);
    expect(value(samples, 'blockrunner_is_leader')).toBe(1);
    expect(value(samples, 'blockrunner_results_ignored_total')).toBe(0);

    // One observation per results frame: at least one, at most one per height.
    const frames = value(samples, 'blockrunner_dispatch_to_result_seconds_count', q);
    expect(frames).toBeGreaterThan(0);
    expect(frames).toBeLessThanOrEqual(GOOD);
    expect(
      value(samples, 'blockrunner_dispatch_to_result_seconds_bucket', { ...q, le: '+Inf' }),
    ).toBe(frames);
    expect(value(samples, 'blockrunner_handler_duration_seconds_count', q)).toBe(frames);
    expect(value(samples, 'blockrunner_handler_seconds_total', q)).toBeGreaterThan(0);
    // Every committed success is in some commit batch.
    expect(value(samples, 'blockrunner_commit_batch_heights_sum')).toBeGreaterThanOrEqual(GOOD);
    expect(value(samples, 'blockrunner_commit_duration_seconds_count')).toBeGreaterThan(0);
    expect(value(samples, 'blockrunner_commit_failures_total')).toBe(0);

    // The process's default metrics, from this manager's own registry.
    expect(value(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'nodejs_heap_size_used_bytes')).toBe(true);
  });

  it('passes promtool check metrics with no exception', async () => {
    const { text } = await scrape();
    // The per-type gauges whose sums prom-client would also have named *_total are there.
    expect(text).toMatch(/^nodejs_active_handles\{type="[A-Za-z]+"\} \d+$/m);
    expect(text).not.toContain('nodejs_active_handles_total');
    const { code, output } = await promtoolCheck(text);
    // Exit 1 is a parse error; exit 3 is lint findings. Nothing may be flagged.
    expect({ code, output: output.trim() }).toEqual({ code: 0, output: '' });
  });

  it('a corrupt exposition fails promtool, so the check above can fail', async () => {
    const { code } = await promtoolCheck('# TYPE x counter\nx{queue="a" 1\n');
    expect(code).toBe(1);
  });
});

// Last: a pushed head on "default" would hold back its later heights (the ceiling).
describe('/metrics of chains', () => {
  it('shows a chain head, and the lag only once there is a watermark', async () => {
    const client = api(manager.url);
    // No worker serves "heads": its heights stay pending, so it has no watermark.
    expect((await client.post('/v1/queues/heads/head', { height: 7, hash: '0x7' })).status).toBe(
      202,
    );
    let samples = parseSamples((await scrape()).text);
    expect(value(samples, 'blockrunner_head_height', { queue: 'heads' })).toBe(7);
    expect(samples.filter((s) => s.name === 'blockrunner_lag_heights')).toEqual([]);
    // "default" is served and done by the tests above: with a head, lag = head - watermark.
    await client.post('/v1/queues/default/heights', { from: 0, to: 2 });
    await client.post('/v1/queues/default/head', { height: 2, hash: '0x2' });
    await waitForQueue(
      manager.url,
      (q) => q.watermark !== null && q.watermark >= 2,
      'default done',
    );
    samples = parseSamples((await scrape()).text);
    const watermark = value(samples, 'blockrunner_watermark', { queue: 'default' });
    expect(value(samples, 'blockrunner_lag_heights', { queue: 'default' })).toBe(
      Math.max(0, 2 - watermark),
    );
    // Nothing reorganised: the counter has no sample yet.
    expect(samples.filter((s) => s.name === 'blockrunner_reorgs_total')).toEqual([]);
  });
});

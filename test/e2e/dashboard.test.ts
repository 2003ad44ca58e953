/**
 * The dashboard at / in headless Chromium (Debian's package, driven by playwright-core): a
 * backfill's progress bar reaches 100%, the worker shows in the table, the height map names
 * what is under the pointer and zooms, dead letters are requeued from the page, the page comes
 * back by itself when the manager restarts, and with an API token it asks for the token once.
 * A chain queue shows its head, lag and latest reorganisations (a real anvil node), a paused
 * queue its badge.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../shared/package-root.js';
import { startAnvil, stopAllAnvils } from '../helpers/anvil.js';
import {
  QUEUE as CHAIN_QUEUE,
  follow,
  mineWithTransfers,
  startChainWorker,
  waitForReverted,
  waitUntilIndexed,
} from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const INSTALL_TIMEOUT_MS = 300_000;
const alwaysFail = fileURLToPath(new URL('../fixtures/always-fail.mjs', import.meta.url));
const screenshotPath = join(packageRoot(), 'test-artifacts', 'dashboard.png');
const chainScreenshotPath = join(packageRoot(), 'test-artifacts', 'dashboard-chain.png');

let browser: Browser;
const databases: TestDatabase[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    try {
      await promisify(execFile)(join(packageRoot(), '.ci', 'install-chromium'), {
        timeout: INSTALL_TIMEOUT_MS,
      });
    } catch (error) {
      throw new Error(
        `${CHROMIUM} is missing and .ci/install-chromium failed: install Debian's chromium (apt-get install chromium) and run again`,
        { cause: error },
      );
    }
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, INSTALL_TIMEOUT_MS + 30_000);

afterEach(async () => {
  await stopAll();
  await stopAllAnvils();
  for (const db of databases.splice(0)) await db.drop();
  // A script error in the page fails the test that caused it.
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
});

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}

async function openPage(url: string, context?: Awaited<ReturnType<Browser['newContext']>>) {
  const page: Page = await (context ?? browser).newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(url);
  return page;
}

const LIVE = 15_000;

/** The blocks card's strip label and progress value, read in one task of the page. */
const READ_BLOCKS_CARD = `(() => {
  const card = document.querySelector('.queue[data-queue="blocks"]');
  return {
    label: card.querySelector('.map-canvas').getAttribute('aria-label') ?? '',
    value: card.querySelector('.queue-progress').value,
  };
})()`;

/** playwright-core has no web-first assertions: vitest's expect.poll retries instead. */
function poll<T>(read: () => Promise<T>, timeout = 5_000) {
  return expect.poll(read, { timeout, interval: 50 });
}
const text = (locator: Locator) => () => locator.innerText();
const attribute = (locator: Locator, name: string) => () => locator.getAttribute(name);
const visible = (locator: Locator, timeout = 5_000) =>
  locator.waitFor({ state: 'visible', timeout });

/** The first `data:` event of /v1/events, parsed. */
async function firstEvent(url: string): Promise<{ queues: unknown[]; maps: unknown }> {
  const response = await fetch(`${url}/v1/events`, { signal: AbortSignal.timeout(10_000) });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before an event: ${text}`);
      text += decoder.decode(value, { stream: true });
      const event = /^data: (.*)\n\n/m.exec(text);
      if (event) return JSON.parse(event[1] as string);
    }
  } finally {
    await reader.cancel();
  }
}

describe('dashboard', () => {
  it('follows a backfill to 100%, lists workers, maps heights and requeues dead letters', async () => {
    const db = await database();
    const port = await freePort();
    const env = { PORT: String(port), BLOCKRUNNER_MAX_ATTEMPTS: '1' };
    let manager = await startManager({ databaseUrl: db.url, env });
    await startWorker({
      managerUrl: manager.wsUrl,
      env: { BLOCKRUNNER_WORKER_NAME: 'indexer-1' },
    });
    const failing = await startWorker({
      managerUrl: manager.wsUrl,
      env: {
        BLOCKRUNNER_WORKER_NAME: 'failing-1',
        BLOCKRUNNER_QUEUES: 'broken',
        BLOCKRUNNER_HANDLER: alwaysFail,
      },
    });
    // A slow one, still running when the screenshot is taken.
    await startWorker({
      managerUrl: manager.wsUrl,
      env: {
        BLOCKRUNNER_WORKER_NAME: 'indexer-2',
        BLOCKRUNNER_QUEUES: 'blocks',
        BLOCKRUNNER_HANDLER: 'sleep',
        BLOCKRUNNER_SLEEP_MS: '10',
        BLOCKRUNNER_CONCURRENCY: '8',
      },
    });
    const client = api(manager.url);
    const page = await openPage(manager.url);
    // Enqueued once the page watches, so that it sees the backfill run. 50,000..59,999 is a hole.
    await client.post('/v1/queues/default/heights', {
      ranges: [
        { from: 0, to: 49_999 },
        { from: 60_000, to: 99_999 },
      ],
    });
    await client.post('/v1/queues/broken/heights', { from: 500, to: 519 });
    await client.post('/v1/queues/backlog/heights', { from: 0, to: 99_999_999 });
    await client.post('/v1/queues/blocks/heights', { from: 0, to: 49_999 });

    const card = (queue: string) => page.locator(`.queue[data-queue="${queue}"]`);
    const progress = card('default').getByRole('progressbar');
    await poll(attribute(progress, 'max'), LIVE).toBe('90000');
    await poll(attribute(progress, 'value'), 30_000).toBe('90000');
    await poll(text(card('default').locator('.queue-percent'))).toBe('100%');
    await poll(text(card('default').locator('.queue-status'))).toBe('complete');
    await poll(text(card('default').locator('.stat-watermark'))).toBe('49,999');
    await poll(text(page.locator('.connection'))).toContain('live');

    const row = page.locator('#workers tr[data-worker="indexer-1"]');
    await visible(row);
    await poll(text(row.locator('td').nth(1))).toBe('default');
    await poll(text(row.locator('td').nth(4)), LIVE).toBe('90,000');
    await visible(page.locator('#workers tr[data-worker="failing-1"]'));

    // The height map names the range under the pointer, with its state in words.
    const map = card('default').locator('.map-canvas');
    // About one bucket per pixel: the exact size depends on the strip's width.
    await poll(text(card('default').locator('.map-span')), LIVE).toMatch(
      /^heights 0–99,999 · \d+ heights per bucket$/,
    );
    const box = await map.boundingBox();
    if (!box) throw new Error('the height map has no box');
    await page.mouse.move(box.x + box.width * 0.55, box.y + box.height / 2);
    await poll(text(card('default').locator('.map-readout'))).toMatch(
      /^Heights 5\d,\d{3}–59,9\d\d: never enqueued$/,
    );
    await poll(attribute(card('default').getByRole('img'), 'aria-label')).toBe(
      'Height map of default, heights 0–99,999: 10,000 never enqueued, 90,000 done',
    );
    await card('default').getByRole('button', { name: 'Zoom in' }).click();
    await poll(text(card('default').locator('.map-span'))).toMatch(
      /^heights 45,000–54,999 · \d+ heights per bucket$/,
    );
    await card('default').getByRole('button', { name: 'Whole span' }).click();
    await poll(text(card('default').locator('.map-span'))).toMatch(/^heights 0–99,999 /);

    // Dead letters, listed with their error.
    const broken = card('broken');
    await poll(text(broken.locator('.stat-failed')), LIVE).toBe('20');
    await poll(() => broken.locator('.dead-table tbody tr').count(), LIVE).toBe(10);
    await poll(text(broken.locator('.dead-table tbody tr').first())).toContain(
      'indexer rejected block 500',
    );
    await poll(text(broken.locator('.map-readout'))).toMatch(/Hover the map/);
    await poll(text(card('backlog').locator('.progress-text'))).toBe(
      '0 of 100,000,000 heights done',
    );
    // Rate and ETA of a queue in progress.
    await poll(text(card('blocks').locator('.stat-eta')), LIVE).toMatch(/^\d+ (s|min|h|d)/);
    await poll(text(card('blocks').locator('.stat-rate'))).toMatch(/^[1-9][\d,.]*\/s$/);
    // Over this run's snapshots: 8 handlers sleeping 10 ms each do at most 800 heights a second.
    const rate = Number(
      (await card('blocks').locator('.stat-rate').innerText()).replace(/[,/s]/g, ''),
    );
    expect(rate).toBeGreaterThan(50);
    expect(rate).toBeLessThanOrEqual(1_000);
    // The strip and the counts come from one snapshot: every reading of the strip's done count
    // (its label) matches the progress bar's, both read in one task, while the run moves on.
    const mismatches: unknown[] = [];
    const seen = new Set<number>();
    await waitFor(
      async () => {
        const reading = (await page.evaluate(READ_BLOCKS_CARD)) as { label: string; value: number };
        const strip = Number(/([\d,]+) done/.exec(reading.label)?.[1]?.replaceAll(',', '') ?? 0);
        if (strip !== reading.value) mismatches.push(reading);
        seen.add(reading.value);
        return seen.size >= 3;
      },
      { timeoutMs: LIVE, intervalMs: 100, message: 'three snapshots of the blocks run' },
    );
    expect(mismatches).toEqual([]);
    mkdirSync(join(packageRoot(), 'test-artifacts'), { recursive: true });
    // Taller, same width: a full-page capture would resize the strips mid-shot.
    await page.setViewportSize({ width: 1280, height: 1900 });
    await page.screenshot({ path: screenshotPath });

    // Requeued from the page; with the failing worker gone they stay pending for the check.
    await failing.stop();
    await broken.getByRole('button', { name: 'Requeue height 500' }).click();
    await poll(text(broken.locator('.requeue-result'))).toBe('Requeued 1 height.');
    expect((await client.get('/v1/queues/broken/heights/500')).body).toMatchObject({
      state: 'pending',
      attempts: 0,
    });
    await visible(broken.getByRole('button', { name: 'Requeue all 19 failed' }), LIVE);
    await broken.getByRole('button', { name: 'Requeue all 19 failed' }).click();
    await poll(text(broken.locator('.requeue-result'))).toBe('Requeued 19 heights.');
    expect((await client.get('/v1/queues/broken')).body).toMatchObject({ pending: 20, failed: 0 });
    await poll(text(broken.locator('.stat-pending')), LIVE).toBe('20');

    // A manager restart: the page says so, then comes back by itself on the same address.
    await manager.stop();
    await poll(text(page.locator('.connection')), LIVE).toContain('reconnecting');
    manager = await startManager({ databaseUrl: db.url, env });
    await poll(text(page.locator('.connection')), LIVE).toContain('live');
    await poll(text(card('broken').locator('.stat-pending')), LIVE).toBe('20');
    await visible(page.locator('#workers tr[data-worker="indexer-1"]'), LIVE);
    await poll(text(card('default').locator('.queue-percent'))).toBe('100%');
    await page.close();
  }, 180_000);

  it("shows a chain's head, lag and latest reorganisations, and a paused queue's badge", async () => {
    const db = await database();
    const anvil = await startAnvil();
    const manager = await startManager({
      databaseUrl: db.url,
      env: { BLOCKRUNNER_RETRY_BASE_MS: '20', BLOCKRUNNER_RETRY_MAX_MS: '200' },
    });
    const client = api(manager.url);
    const page = await openPage(manager.url);
    const card = (queue: string) => page.locator(`.queue[data-queue="${queue}"]`);

    // Pushed heads: done up to 1,000 by a worker that then leaves, and the head moves on.
    expect((await client.put('/v1/queues/pushed/source', { kind: 'push' })).status).toBe(200);
    await client.post('/v1/queues/pushed/head', { height: 1_000, hash: '0xa1' });
    const noop = await startWorker({
      managerUrl: manager.wsUrl,
      env: { BLOCKRUNNER_WORKER_NAME: 'pushed-1', BLOCKRUNNER_QUEUES: 'pushed' },
    });
    await waitForQueue(manager.url, (s) => s.watermark === 1_000, 'pushed done up to 1,000', {
      queue: 'pushed',
    });
    await noop.stop();
    await client.post('/v1/queues/pushed/head', { height: 1_250, hash: '0xa2' });
    const pushed = card('pushed');
    await poll(text(pushed.locator('.stat-head')), LIVE).toBe('1,250');
    await poll(text(pushed.locator('.stat-lag'))).toBe('250');
    await poll(text(pushed.locator('.stat-watermark'))).toBe('1,000');
    await poll(text(pushed.locator('.stat-head-age'))).toMatch(/^\d+ s ago$/);
    await poll(text(pushed.locator('.reorgs-note'))).toBe('No reorganisation seen.');
    expect(await pushed.locator('.queue-paused').isHidden()).toBe(true);

    // A paused queue: the badge with the reason instead of "running"; no chain, no chain stats.
    await client.post('/v1/queues/held/heights', { from: 0, to: 99 });
    await client.post('/v1/queues/held/pause', { reason: 'node maintenance' });
    const held = card('held');
    await visible(held.locator('.queue-paused'), LIVE);
    await poll(text(held.locator('.queue-paused'))).toBe('paused: node maintenance');
    await poll(text(held.locator('.stat-eta'))).toBe('paused');
    expect(await held.locator('.queue-status').isHidden()).toBe(true);
    expect(await held.locator('.stat-head').isHidden()).toBe(true);
    expect(await held.locator('.reorgs').isHidden()).toBe(true);

    // A followed node, indexed by the evm-blocks handler, reorganised under it.
    await mineWithTransfers(anvil, 30);
    const worker = await startChainWorker(manager, anvil, db, 'chain-1');
    await follow(manager.url, anvil);
    const chain = { anvil, db, manager, workers: [worker] };
    await waitUntilIndexed(chain);
    const head = await anvil.blockNumber();
    await anvil.reorg(4, 2);
    await mineWithTransfers(anvil, 1);
    const [recorded] = await waitForReverted(manager.url);
    await waitUntilIndexed(chain);
    const eth = card(CHAIN_QUEUE);
    const row = eth.locator('.reorg-table tbody tr');
    await poll(() => row.count(), LIVE).toBe(1);
    await poll(text(row.locator('td').nth(0))).toBe(String(head - 4));
    await poll(text(row.locator('td').nth(1))).toBe(String(recorded?.depth));
    await poll(text(row.locator('td').nth(2))).toMatch(/ \(\d+ s ago\)$/);
    await poll(text(row.locator('td').nth(3)), LIVE).toBe('reverted');
    await poll(text(eth.locator('.stat-head')), LIVE).toBe(String(head + 1));
    await poll(text(eth.locator('.stat-lag'))).toBe('0');

    mkdirSync(join(packageRoot(), 'test-artifacts'), { recursive: true });
    await page.setViewportSize({ width: 1280, height: 1500 });
    await page.screenshot({ path: chainScreenshotPath });
    await page.close();
  }, 120_000);

  it('asks for the API token on the first 401, keeps it for the session, and never logs it', async () => {
    const token = 'dash-secret-5e1f0b';
    const db = await database();
    const manager = await startManager({
      databaseUrl: db.url,
      env: { BLOCKRUNNER_API_TOKEN: token },
    });
    await api(manager.url, token).post('/v1/queues/default/heights', { from: 0, to: 99 });

    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    const prompts: string[] = [];
    page.on('dialog', (dialog) => {
      prompts.push(dialog.message());
      // First a wrong token, then the right one: the page asks again only after a refusal.
      void dialog.accept(prompts.length === 1 ? 'wrong-token' : token);
    });
    await page.goto(manager.url);
    const card = page.locator('.queue[data-queue="default"]');
    await poll(text(card.locator('.progress-text')), LIVE).toBe('0 of 100 heights done');
    await poll(text(page.locator('.connection'))).toContain('live');
    expect(prompts).toHaveLength(2);
    expect(prompts[0]).toContain('needs its API token');
    expect(prompts[1]).toContain('refused');
    // The map and the dead-letter calls carry the token too.
    await poll(text(card.locator('.map-span')), LIVE).toBe('heights 0–99 · one height per bucket');

    await page.reload();
    await poll(text(card.locator('.progress-text')), LIVE).toBe('0 of 100 heights done');
    await poll(text(page.locator('.connection'))).toContain('live');
    expect(prompts).toHaveLength(2);
    await context.close();

    // /v1/events takes the token as a header or, for EventSource, as ?token=.
    // node:http, not fetch: a cancelled fetch leaves a spare socket that delays the manager's stop.
    const events = (query: string, headers: Record<string, string> = {}) =>
      new Promise<number | undefined>((resolve, reject) => {
        const request = get(`${manager.url}/v1/events${query}`, { headers }, (response) => {
          response.destroy();
          resolve(response.statusCode);
        });
        request.on('error', reject);
        request.setTimeout(5_000, () => request.destroy(new Error('no answer from /v1/events')));
      });
    expect(await events('')).toBe(401);
    expect(await events('?token=wrong')).toBe(401);
    expect(await events(`?token=${token}`)).toBe(200);
    expect(await events('', { authorization: `Bearer ${token}` })).toBe(200);
    expect((await api(manager.url).get('/v1/queues/default/map')).status).toBe(401);
    expect((await api(manager.url).get('/')).status).toBe(200);
    expect(manager.logs().join('\n')).not.toContain(token);
  }, 120_000);

  it('answers map requests with exact ranges and rejects bad ones with stable codes', async () => {
    const db = await database();
    const manager = await startManager({ databaseUrl: db.url });
    const client = api(manager.url);
    await client.post('/v1/queues/default/heights', {
      ranges: [
        { from: 10, to: 19 },
        { from: 30, to: 39 },
      ],
    });
    await waitForQueue(manager.url, (s) => s.pending === 20, 'the enqueue to land');
    expect((await client.get('/v1/queues/default/map?buckets=100')).body).toEqual({
      queue: 'default',
      from: 10,
      to: 39,
      bucketSize: 1,
      entries: [
        { from: 10, to: 19, state: 'pending', counts: { pending: 10 } },
        { from: 20, to: 29, state: 'missing', counts: { missing: 10 } },
        { from: 30, to: 39, state: 'pending', counts: { pending: 10 } },
      ],
    });
    expect((await client.get('/v1/queues/default/map?from=0&to=39&buckets=2')).body).toEqual({
      queue: 'default',
      from: 0,
      to: 39,
      bucketSize: 20,
      entries: [
        { from: 0, to: 19, state: 'mixed', counts: { pending: 10, missing: 10 } },
        { from: 20, to: 39, state: 'mixed', counts: { pending: 10, missing: 10 } },
      ],
    });
    // Each event carries every queue's summary and its whole-span map, read at the same moment.
    const event = await firstEvent(manager.url);
    expect(event.queues).toMatchObject([{ queue: 'default', pending: 20, done: 0 }]);
    expect(event.maps).toEqual({
      default: {
        from: 10,
        to: 39,
        bucketSize: 1,
        entries: [
          { from: 10, to: 19, state: 'pending', counts: { pending: 10 } },
          { from: 20, to: 29, state: 'missing', counts: { missing: 10 } },
          { from: 30, to: 39, state: 'pending', counts: { pending: 10 } },
        ],
      },
    });
    const bad = [
      ['/v1/queues/default/map?from=9&to=1', 400, 'BR_ERR_RANGE_REVERSED'],
      ['/v1/queues/default/map?buckets=2001', 400, 'BR_ERR_VALIDATION'],
      ['/v1/queues/default/map?buckets=0', 400, 'BR_ERR_VALIDATION'],
      ['/v1/queues/default/map?from=-1', 400, 'BR_ERR_VALIDATION'],
      ['/v1/queues/default/map?colour=red', 400, 'BR_ERR_VALIDATION'],
      ['/v1/queues/nope/map', 404, 'BR_ERR_QUEUE_NOT_FOUND'],
      ['/v1/queues/Bad!/map', 400, 'BR_ERR_VALIDATION'],
    ] as const;
    for (const [path, status, code] of bad) {
      expect(await client.get(path), path).toMatchObject({ status, body: { code } });
    }
  });
});

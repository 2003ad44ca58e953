/**
 * The tip lane (docs/api.md, "lane"): single heights enqueued with `"lane":"tip"` while a backfill
 * keeps every slot busy are dispatched before any backfill height still pending, so they start
 * as soon as a slot frees, not after the backfill.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const recordStarts = fileURLToPath(new URL('../fixtures/record-starts.mjs', import.meta.url));
const CONCURRENCY = 2;
const PREFETCH = 2;
const TIP_BASE = 10_000_000;
const databases: TestDatabase[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await stopAll();
  for (const db of databases.splice(0)) await db.drop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function starts(file: string): { height: number; at: number }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [height, at] = line.split(' ').map(Number);
      return { height: height as number, at: at as number };
    });
}

describe('the tip lane', () => {
  it('dispatches each tip height before every backfill height still pending', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const dir = mkdtempSync(join(tmpdir(), 'blockrunner-tip-'));
    dirs.push(dir);
    const file = join(dir, 'starts.txt');
    const manager = await startManager({ databaseUrl: db.url });
    await startWorker({
      managerUrl: manager.wsUrl,
      env: {
        BLOCKRUNNER_HANDLER: recordStarts,
        BLOCKRUNNER_CONCURRENCY: String(CONCURRENCY),
        BLOCKRUNNER_PREFETCH: String(PREFETCH),
        TEST_RECORD_FILE: file,
        TEST_SLEEP_MS: '10',
      },
    });
    const client = api(manager.url);
    await client.post('/v1/queues/default/heights', { from: 0, to: 99_999 });
    await waitFor(() => starts(file).length >= 20, {
      timeoutMs: 20_000,
      message: 'backfill running',
    });

    const enqueuedAt: number[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await client.post('/v1/queues/default/heights', {
        heights: [TIP_BASE + i],
        lane: 'tip',
      });
      expect(answer.status).toBe(202);
      enqueuedAt.push(Date.now());
      await waitFor(() => starts(file).some((s) => s.height === TIP_BASE + i), {
        timeoutMs: 10_000,
        message: `tip height ${TIP_BASE + i} started`,
      });
    }

    const all = starts(file);
    for (let i = 0; i < 5; i++) {
      const tipIndex = all.findIndex((s) => s.height === TIP_BASE + i);
      // Backfill heights started after the enqueue answered and before the tip height: only
      // those the worker already held (running or prefetched) may be among them.
      const before = all
        .slice(0, tipIndex)
        .filter((s) => s.height < TIP_BASE && s.at > (enqueuedAt[i] as number));
      expect(
        before.length,
        `tip ${i}: ${before.map((s) => s.height).join(',')}`,
      ).toBeLessThanOrEqual(CONCURRENCY + PREFETCH);
    }
  });
});

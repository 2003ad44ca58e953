/**
 * The tip lane (docs/api.md, "lane"): single heights enqueued with `"lane":"tip"` while a backfill
 * keeps every slot busy are dispatched before any backfill height still pending, and the worker
 * starts them before the backfill heights it already buffered (docs/protocol.md, "Lanes"), so
 * they start as soon as a handler frees, not after the backfill or the buffer.
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

/**
 * Starts a manager and one recording worker (handlers of `sleepMs`), runs a backfill of
 * 0..99,999 until it is under way, then enqueues `tips` single tip heights one at a time, each
 * once the one before started. Gives every start the worker recorded and when each tip request
 * was answered.
 */
async function tipsDuringBackfill(
  concurrency: number,
  prefetch: number,
  tips: number,
  sleepMs = 10,
) {
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
      BLOCKRUNNER_CONCURRENCY: String(concurrency),
      BLOCKRUNNER_PREFETCH: String(prefetch),
      TEST_RECORD_FILE: file,
      TEST_SLEEP_MS: String(sleepMs),
    },
  });
  const client = api(manager.url);
  await client.post('/v1/queues/default/heights', { from: 0, to: 99_999 });
  await waitFor(() => starts(file).length >= 20, {
    timeoutMs: 20_000,
    message: 'backfill running',
  });

  const answeredAt: number[] = [];
  for (let i = 0; i < tips; i++) {
    const answer = await client.post('/v1/queues/default/heights', {
      heights: [TIP_BASE + i],
      lane: 'tip',
    });
    expect(answer.status).toBe(202);
    answeredAt.push(Date.now());
    await waitFor(() => starts(file).some((s) => s.height === TIP_BASE + i), {
      timeoutMs: 10_000,
      message: `tip height ${TIP_BASE + i} started`,
    });
  }
  return { all: starts(file), answeredAt };
}

/** Backfill heights that started after tip `i`'s request was answered and before tip `i`. */
function backfillStartedBefore(
  all: { height: number; at: number }[],
  answeredAt: number[],
  i: number,
): number[] {
  const tipIndex = all.findIndex((s) => s.height === TIP_BASE + i);
  return all
    .slice(0, tipIndex)
    .filter((s) => s.height < TIP_BASE && s.at > (answeredAt[i] as number))
    .map((s) => s.height);
}

describe('the tip lane', () => {
  it('dispatches each tip height before every backfill height still pending', async () => {
    const { all, answeredAt } = await tipsDuringBackfill(CONCURRENCY, PREFETCH, 5);
    for (let i = 0; i < 5; i++) {
      // Only the backfill heights the worker already held (running or prefetched) may start
      // between the answer and the tip height.
      const before = backfillStartedBefore(all, answeredAt, i);
      expect(before.length, `tip ${i}: ${before.join(',')}`).toBeLessThanOrEqual(
        CONCURRENCY + PREFETCH,
      );
    }
  });

  it('starts a tip height before the backfill heights a full prefetch buffer holds', async () => {
    // 64 heights buffered behind 2 running, 20 ms each: in arrival order a tip height would
    // wait for all of them, about 640 ms. Ahead of them it waits for a free slot at the
    // manager (the worker's next results, within 20 ms) and then for one of the 2 handlers.
    const prefetch = 64;
    const { all, answeredAt } = await tipsDuringBackfill(CONCURRENCY, prefetch, 5, 20);
    for (let i = 0; i < 5; i++) {
      const before = backfillStartedBefore(all, answeredAt, i);
      expect(before.length, `tip ${i}: ${before.join(',')}`).toBeLessThan(prefetch / 2);
    }
  });
});

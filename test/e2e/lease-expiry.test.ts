/**
 * A handler that hangs past its lease: the lease expires, the worker is told to cancel (the
 * handler's AbortSignal fires), the attempt counts as failed, the height is retried, and the
 * hung attempt's late success is ignored.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';

const hangFirstAttempt = fileURLToPath(
  new URL('../fixtures/hang-first-attempt.mjs', import.meta.url),
);
const scratch = mkdtempSync(join(tmpdir(), 'blockrunner-lease-'));
let db: TestDatabase | undefined;

afterAll(async () => {
  await stopAll();
  await db?.drop();
  rmSync(scratch, { recursive: true, force: true });
});

it('expires the lease, aborts the handler, retries, and ignores the late result', async () => {
  db = await createTestDatabase();
  const marker = join(scratch, 'aborted.txt');
  const manager = await startManager({
    databaseUrl: db.url,
    env: {
      BLOCKRUNNER_LEASE_MS: '300',
      BLOCKRUNNER_MAX_ATTEMPTS: '2',
      BLOCKRUNNER_RETRY_BASE_MS: '10',
      BLOCKRUNNER_RETRY_MAX_MS: '10',
    },
  });
  for (const name of ['h1', 'h2']) {
    await startWorker({
      managerUrl: manager.wsUrl,
      env: {
        BLOCKRUNNER_HANDLER: hangFirstAttempt,
        HANG_MARKER_FILE: marker,
        BLOCKRUNNER_WORKER_NAME: name,
      },
    });
  }
  const client = api(manager.url);
  await client.post('/v1/queues/default/heights', { heights: [7, 8] });

  const summary = await waitForQueue(
    manager.url,
    (s) => s.failed === 2,
    'both heights end failed',
    { timeoutMs: 20_000 },
  );
  // Had the late success of attempt 1 counted, the heights would be done.
  expect(summary).toMatchObject({ done: 0, failed: 2 });
  for (const height of [7, 8]) {
    const { body } = await client.get(`/v1/queues/default/heights/${height}`);
    expect(body).toEqual({
      height,
      state: 'failed',
      attempts: 2,
      lastError: 'attempt 2 fails on purpose',
    });
  }
  const aborted = readFileSync(marker, 'utf8').trim().split('\n').sort();
  expect(aborted).toEqual(['aborted default 7', 'aborted default 8']);
  expect(manager.logs().some((line) => line.includes('lease expired'))).toBe(true);
});

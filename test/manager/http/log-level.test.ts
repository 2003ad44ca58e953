/**
 * Logs of real processes: PUT /v1/admin/log-level changes the manager's level while it runs,
 * behind the API token and validated by its zod schema; worker lines name the worker, queue and
 * height; tokens and database passwords never reach a log line.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../../shared/package-root.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { api } from '../../helpers/http.js';
import {
  type LogEntry,
  type ManagerProcess,
  startManager,
  startWorker,
  stopAll,
  type WorkerProcess,
} from '../../helpers/processes.js';
import { waitForQueue } from '../../helpers/queues.js';

const API_TOKEN = `api-${randomBytes(8).toString('hex')}`;
const WORKER_TOKEN = `wrk-${randomBytes(8).toString('hex')}`;
const handler = fileURLToPath(new URL('../../fixtures/fail-queue-bad.mjs', import.meta.url));

let db: TestDatabase;
let manager: ManagerProcess;
let worker: WorkerProcess;
/** The password in the manager's DATABASE_URL: the test's own, or one added (trust auth ignores it). */
let password: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const url = new URL(db.url);
  if (url.password === '') url.password = `pw-${randomBytes(8).toString('hex')}`;
  password = decodeURIComponent(url.password);
  manager = await startManager({
    databaseUrl: url.href,
    env: {
      LOG_LEVEL: 'info',
      BLOCKRUNNER_API_TOKEN: API_TOKEN,
      BLOCKRUNNER_WORKER_TOKEN: WORKER_TOKEN,
      BLOCKRUNNER_MAX_ATTEMPTS: '1',
    },
  });
  worker = await startWorker({
    managerUrl: manager.wsUrl,
    env: {
      LOG_LEVEL: 'debug',
      BLOCKRUNNER_WORKER_TOKEN: WORKER_TOKEN,
      BLOCKRUNNER_WORKER_NAME: 'logs-1',
      BLOCKRUNNER_QUEUES: 'default,bad',
      BLOCKRUNNER_HANDLER: handler,
    },
  });
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

/** `token` null sends no Authorization header. */
function putLevel(body: unknown, token: string | null = API_TOKEN) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return fetch(`${manager.url}/v1/admin/log-level`, {
    method: 'PUT',
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  }).then(async (response) => ({
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
  }));
}

const enqueued = (queue: string) => (entry: LogEntry) =>
  entry.msg === 'heights enqueued' && entry.queue === queue;

describe('PUT /v1/admin/log-level', () => {
  it('needs the API token', async () => {
    expect(await putLevel({ level: 'debug' }, null)).toMatchObject({
      status: 401,
      body: { code: 'BR_ERR_UNAUTHORIZED' },
    });
  });

  it('refuses a level that does not exist with 400 BR_ERR_VALIDATION naming the field', async () => {
    for (const body of [{ level: 'loud' }, { level: 'debug', extra: 1 }, {}]) {
      const answer = await putLevel(body);
      expect(answer).toMatchObject({
        status: 400,
        body: { statusCode: 400, code: 'BR_ERR_VALIDATION', error: 'Bad Request' },
      });
      expect(answer.body.message).toMatch(/^body/);
    }
  });

  it('turns debug lines on and off while the manager runs', async () => {
    const client = api(manager.url, API_TOKEN);
    expect((await client.post('/v1/queues/before/heights', { heights: [1] })).status).toBe(202);

    expect(await putLevel({ level: 'debug' })).toEqual({
      status: 200,
      body: { level: 'debug', previous: 'info' },
    });
    expect((await client.post('/v1/queues/during/heights', { heights: [1] })).status).toBe(202);
    const debugLine = await manager.waitForLog(enqueued('during'));
    expect(debugLine).toMatchObject({ level: 20, queue: 'during', added: 1, skipped: 0 });

    expect(await putLevel({ level: 'info' })).toMatchObject({ body: { previous: 'debug' } });
    expect((await client.post('/v1/queues/after/heights', { heights: [1] })).status).toBe(202);
    // A line logged after the enqueue: once it is in, a debug line for "after" would be too.
    await putLevel({ level: 'info' });
    await manager.waitForLog(
      (entry) => entry.msg === 'log level changed' && entry.previousLogLevel === 'info',
    );
    const lines = manager.logs().join('\n');
    expect(lines).not.toMatch(/"queue":"before"[^\n]*heights enqueued/);
    expect(lines).not.toMatch(/"queue":"after"[^\n]*heights enqueued/);
  });
});

describe('log lines', () => {
  it('name the worker, queue and height where they apply', async () => {
    const client = api(manager.url, API_TOKEN);
    await client.post('/v1/queues/bad/heights', { heights: [42] });
    await waitForQueue(manager.url, (s) => s.failed === 1, 'height 42 dead-lettered', {
      queue: 'bad',
      token: API_TOKEN,
    });
    const failed = await worker.waitForLog((entry) => entry.msg === 'handler failed');
    expect(failed).toMatchObject({
      level: 40,
      name: 'blockrunner-worker',
      worker: 'logs-1',
      queue: 'bad',
      height: 42,
      attempt: 1,
      err: 'queue bad rejects block 42',
    });
    // Every worker line says which worker wrote it.
    const parsed = worker
      .logs()
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogEntry);
    expect(parsed.length).toBeGreaterThan(2);
    for (const entry of parsed) expect(entry.worker).toBe('logs-1');
    const connected = await manager.waitForLog((entry) => entry.msg === 'worker connected');
    expect(connected).toMatchObject({ worker: 'logs-1', queues: ['default', 'bad'] });
  });

  it('never hold a token or the database password', async () => {
    // A refused worker and a refused request, so the paths that see a bad token have run too.
    const refused = await fetch(`${manager.url}/v1/queues`, {
      headers: { authorization: `Bearer ${API_TOKEN}x` },
    });
    expect(refused.status).toBe(401);
    const everything = [...manager.logs(), ...worker.logs()].join('\n');
    expect(everything).toContain('manager starting');
    for (const secret of [API_TOKEN, WORKER_TOKEN, `:${password}@`]) {
      expect(everything).not.toContain(secret);
    }
    if (password.startsWith('pw-')) expect(everything).not.toContain(password);
  });

  it('redact secrets by field name in any object logged (shared/logger.ts)', async () => {
    const script = `
      const { createLogger } = await import(${JSON.stringify(join(packageRoot(), 'dist', 'shared', 'logger.js'))});
      const log = createLogger({ level: 'info', name: 't' });
      log.info({ token: 's1', config: { apiToken: 's2', workerToken: 's3', DATABASE_URL: 's4' },
        headers: { authorization: 'Bearer s5' }, password: 's6', db: { password: 's7' } }, 'secrets');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    const line = JSON.parse(out) as LogEntry;
    expect(line.msg).toBe('secrets');
    expect(out).not.toMatch(/s[1-7]"/);
    expect(line).toMatchObject({
      token: '[redacted]',
      config: { apiToken: '[redacted]', workerToken: '[redacted]', DATABASE_URL: '[redacted]' },
      headers: { authorization: '[redacted]' },
      password: '[redacted]',
      db: { password: '[redacted]' },
    });
  });
});

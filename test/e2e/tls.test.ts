/**
 * With BLOCKRUNNER_TLS_CERT and BLOCKRUNNER_TLS_KEY the manager serves HTTPS and wss:// on its
 * one port, and a worker that trusts the certificate (NODE_EXTRA_CA_CERTS) connects with
 * wss:// and does its work; a plain ws:// client gets nowhere.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'blockrunner-tls-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
let db: TestDatabase | undefined;

beforeAll(async () => {
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** An HTTPS call that trusts only our test certificate. */
function https(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, ca: readFileSync(cert), headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }),
        );
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

it('serves HTTPS and wss:// to a worker that trusts the certificate', async () => {
  db = await createTestDatabase();
  const manager = await startManager({
    databaseUrl: db.url,
    env: { BLOCKRUNNER_TLS_CERT: cert, BLOCKRUNNER_TLS_KEY: key },
    waitForReady: false,
  });
  expect(manager.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  expect(manager.wsUrl).toMatch(/^wss:\/\//);
  await waitFor(async () => (await https('GET', `${manager.url}/readyz`)).status === 200, {
    timeoutMs: 20_000,
    message: 'the TLS manager is ready',
  });

  await startWorker({ managerUrl: manager.wsUrl, env: { NODE_EXTRA_CA_CERTS: cert } });
  expect(
    await https('POST', `${manager.url}/v1/queues/default/heights`, { from: 0, to: 499 }),
  ).toMatchObject({
    status: 202,
    body: { added: 500 },
  });
  await waitFor(
    async () =>
      ((await https('GET', `${manager.url}/v1/queues/default`)).body as { done: number }).done ===
      500,
    { timeoutMs: 20_000, message: 'all 500 done over wss://' },
  );

  const plain = new WebSocket(manager.wsUrl.replace(/^wss:/, 'ws:'));
  const outcome = await new Promise<string>((resolve) => {
    plain.once('open', () => resolve('open'));
    plain.once('error', () => resolve('refused'));
    plain.once('unexpected-response', () => resolve('refused'));
  });
  plain.terminate();
  expect(outcome).toBe('refused');
});

it('refuses a certificate without its key with one readable line', async () => {
  db ??= await createTestDatabase();
  const manager = await startManager({
    databaseUrl: db.url,
    env: { BLOCKRUNNER_TLS_CERT: cert },
    waitForReady: false,
  }).catch((error: Error) => error);
  expect(manager).toBeInstanceOf(Error);
  expect(String((manager as Error).message)).toContain(
    'BLOCKRUNNER_TLS_CERT and BLOCKRUNNER_TLS_KEY: set both or neither',
  );
});

it('refuses a key file it cannot read with one readable line naming the variable', async () => {
  db ??= await createTestDatabase();
  const missing = join(tmpdir(), `blockrunner-no-such-key-${process.pid}.pem`);
  const manager = await startManager({
    databaseUrl: db.url,
    env: { BLOCKRUNNER_TLS_CERT: cert, BLOCKRUNNER_TLS_KEY: missing },
    waitForReady: false,
  }).catch((error: Error) => error);
  expect(manager).toBeInstanceOf(Error);
  expect(String((manager as Error).message)).toContain(
    `BLOCKRUNNER_TLS_KEY: cannot read ${missing}: ENOENT`,
  );
});

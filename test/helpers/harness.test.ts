/**
 * The test helpers themselves, without a manager: databases cloned from the migrated template
 * and dropped, waitFor's deadline, the HTTP client, and stopAll catching processes left behind.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase, withAdminClient } from './database.js';
import { api } from './http.js';
import { spawnTracked, stopAll } from './processes.js';
import { waitFor } from './wait.js';

afterEach(async () => {
  await stopAll();
});

async function databaseExists(name: string): Promise<boolean> {
  return withAdminClient(inject('databaseUrl'), async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  });
}

describe('createTestDatabase', () => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
  });

  it('gives a migrated database of its own, and drop removes it', async () => {
    db = await createTestDatabase();
    expect(db.name).toMatch(/^blockrunner_test_[0-9a-z]+_[0-9a-f]{8}$/);
    const { rows } = await db.pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    expect(rows.map((row) => row.table_name)).toEqual(
      expect.arrayContaining(['blockrunner_migrations', 'height_attempts', 'queues']),
    );
    const { rows: current } = await db.pool.query<{ name: string }>(
      'SELECT current_database() AS name',
    );
    expect(current[0]?.name).toBe(db.name);

    await db.drop();
    expect(await databaseExists(db.name)).toBe(false);
    await db.drop(); // a second drop is a no-op
  });

  it('drops a database that still has connections', async () => {
    db = await createTestDatabase();
    const { drop, name } = db;
    const pg = await import('pg');
    const stray = new pg.default.Client({ connectionString: db.url });
    stray.on('error', () => {});
    await stray.connect();
    await drop(); // unbound, as `drops.push(db.drop)` uses it
    expect(await databaseExists(name)).toBe(false);
    await stray.end().catch(() => {});
  });
});

describe('waitFor', () => {
  it('resolves with the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), {
      timeoutMs: 1_000,
      intervalMs: 1,
      message: 'three calls',
    });
    expect(value).toEqual({ calls: 3 });
  });

  it('times out with the message and the last value or error', async () => {
    await expect(
      waitFor(() => false, { timeoutMs: 50, intervalMs: 5, message: 'the impossible' }),
    ).rejects.toThrow(/timed out after 50 ms waiting for the impossible .*last: value false/);
    await expect(
      waitFor(
        () => {
          throw new Error('probe broke');
        },
        { timeoutMs: 50, intervalMs: 5, message: 'a broken probe' },
      ),
    ).rejects.toThrow(/a broken probe .*probe broke/);
  });
});

describe('api', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  });

  it('sends JSON and a bearer token, and parses JSON answers when it can', async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        if (request.url === '/text') {
          response.writeHead(503, { 'content-type': 'text/plain' }).end('not ready');
          return;
        }
        response.writeHead(201, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            method: request.method,
            url: request.url,
            auth: request.headers.authorization ?? null,
            type: request.headers['content-type'] ?? null,
            body,
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = api(`http://127.0.0.1:${port}`, 's3cret');

    expect(await client.post('/v1/x', { from: 1 })).toEqual({
      status: 201,
      body: {
        method: 'POST',
        url: '/v1/x',
        auth: 'Bearer s3cret',
        type: 'application/json',
        body: '{"from":1}',
      },
    });
    expect((await client.post('/v1/empty')).body).toMatchObject({ type: null, body: '' });
    expect((await client.postRaw('/v1/raw', '{"from": 1,', 'application/json')).body).toMatchObject(
      {
        type: 'application/json',
        body: '{"from": 1,',
      },
    );
    expect(await api(`http://127.0.0.1:${port}`).get('/text')).toEqual({
      status: 503,
      body: 'not ready',
    });
  });
});

describe('spawned processes', () => {
  it('keeps output lines and finds log entries, JSON or not', async () => {
    const child = spawnTracked(process.execPath, [
      '-e',
      'console.log(JSON.stringify({ msg: "hello", n: 1 })); console.error("plain text"); setInterval(() => {}, 1000)',
    ]);
    expect(await child.waitForLog((entry) => entry.msg === 'hello')).toEqual({
      msg: 'hello',
      n: 1,
    });
    expect(await child.waitForLog((entry) => entry.text === 'plain text')).toEqual({
      stream: 'stderr',
      text: 'plain text',
    });
    // Two pipes: the order between stdout and stderr lines is not guaranteed.
    expect(child.logs()).toHaveLength(2);
    expect(child.logs()).toEqual(expect.arrayContaining(['{"msg":"hello","n":1}', 'plain text']));
    expect(await child.stop()).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('waitForLog rejects with the output tail when the process exits first', async () => {
    const child = spawnTracked(process.execPath, ['-e', 'console.log("bye"); process.exit(3)']);
    await expect(child.waitForLog((entry) => entry.msg === 'never', 5_000)).rejects.toThrow(
      /exited \(code 3\).*\n.*bye/,
    );
  });

  it('stopAll({ strict: true }) kills and reports a process the test left running', async () => {
    const child = spawnTracked(
      process.execPath,
      ['-e', 'setInterval(() => {}, 1000)'],
      {},
      'idler',
    );
    await expect(stopAll({ strict: true })).rejects.toThrow(/1 process\(es\) left running.*idler/s);
    expect(child.exitStatus()).toEqual({ code: null, signal: 'SIGKILL' });
    await stopAll({ strict: true }); // nothing left: passes
  });

  it('stopAll stops running processes, and reports one that ignores SIGTERM', async () => {
    const polite = spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    const stubborn = spawnTracked(
      process.execPath,
      ['-e', 'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)'],
      {},
      'stubborn',
    );
    await stubborn.waitForLog((entry) => entry.text === 'ready');
    await expect(stopAll({ timeoutMs: 300 })).rejects.toThrow(
      /stubborn \(pid \d+\) did not exit within 300 ms of SIGTERM/,
    );
    expect(polite.exitStatus()).toEqual({ code: null, signal: 'SIGTERM' });
    expect(stubborn.exitStatus()).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('passes only its own variables, not Blockrunner settings of the shell', async () => {
    process.env.BLOCKRUNNER_LEASE_MS = '1';
    try {
      const child = spawnTracked(
        process.execPath,
        [
          '-e',
          'console.log(JSON.stringify({ lease: process.env.BLOCKRUNNER_LEASE_MS ?? null, mine: process.env.MINE }))',
        ],
        { MINE: 'yes' },
      );
      await child.exited;
      expect(await child.waitForLog(() => true)).toEqual({ lease: null, mine: 'yes' });
    } finally {
      delete process.env.BLOCKRUNNER_LEASE_MS;
    }
  });
});

/**
 * The built `blockrunner` command, run as a real process (`node dist/cli/main.js`, built by
 * `npm run build`) against small HTTP servers on 127.0.0.1 that answer like the manager.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { managerConfigSchema } from '../../manager/config.js';
import { flagName } from '../../shared/config.js';
import { workerConfigSchema } from '../../worker/config.js';
import { waitFor } from '../helpers/wait.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();
const servers = new Set<Server>();

/** The environment without anything that would point the CLI at a real manager. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(BLOCKRUNNER_|DATABASE_URL$|HOST$|PORT$)/.test(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const done = new Promise<Run>((resolve) => {
    child.once('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, stdout: () => stdout };
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return start(args, env).done;
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

type Reply = { status: number; body: unknown } | { status: number; text: string };

/** A stand-in manager: records every request and answers with `reply`. */
async function fakeManager(reply: (seen: Seen) => Reply) {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (chunk: string) => {
      raw += chunk;
    });
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: raw === '' ? undefined : JSON.parse(raw),
      };
      seen.push(request);
      const answer = reply(request);
      const text = 'text' in answer ? answer.text : JSON.stringify(answer.body);
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
    });
  });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen };
}

/** A port on 127.0.0.1 where nothing listens: opened by a server, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) =>
    server.close((error) => (error ? reject(error) : resolve())),
  );
  return port;
}

const summary = (queue: string, fields: Partial<Record<string, number | null>> = {}) => ({
  queue,
  pending: 0,
  leased: 0,
  retrying: 0,
  done: 0,
  failed: 0,
  watermark: null,
  rate: 0,
  ...fields,
});

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
});

afterEach(async () => {
  const left = children.size;
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await Promise.all(
    [...servers].map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
  servers.clear();
  expect(left, 'a CLI process outlived its test').toBe(0);
});

describe('help', () => {
  it('--help exits 0 and lists every command', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const run = await cli([flag]);
      expect(run.code).toBe(0);
      for (const command of [
        'up',
        'manager',
        'worker',
        'enqueue',
        'status',
        'failed',
        'retry',
        'follow',
        'reorgs',
      ]) {
        expect(run.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
      }
      expect(run.stdout).toMatch(/Exit codes/);
    }
  });

  it('<command> --help lists the flags and the variables they mirror', async () => {
    const enqueue = await cli(['enqueue', '--help']);
    expect(enqueue.code).toBe(0);
    expect(enqueue.stdout).toMatch(/--url URL +BLOCKRUNNER_URL/);
    expect(enqueue.stdout).toMatch(/--token TOKEN +BLOCKRUNNER_API_TOKEN/);
    expect(enqueue.stdout).toMatch(/--force/);

    const status = await cli(['status', '-q', 'x', '--help']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/--watch/);

    const manager = await cli(['manager', '--help']);
    expect(manager.code).toBe(0);
    for (const variable of Object.keys(managerConfigSchema.shape)) {
      expect(manager.stdout).toMatch(new RegExp(`--${flagName(variable)} VALUE +${variable}\\b`));
    }
    const worker = await cli(['help', 'worker']);
    expect(worker.code).toBe(0);
    for (const variable of Object.keys(workerConfigSchema.shape)) {
      expect(worker.stdout).toMatch(new RegExp(`--${flagName(variable)} VALUE +${variable}\\b`));
    }
  });

  it('an unknown command exits 2 with one line', async () => {
    const run = await cli(['frobnicate']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)).toEqual([
      'blockrunner: unknown command "frobnicate" (blockrunner --help lists the commands)',
    ]);
  });
});

describe('usage errors exit 2 with one line', () => {
  it('a reversed range names the argument', async () => {
    const run = await cli(['enqueue', '5..1']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^blockrunner: bad height "5\.\.1": /);
  });

  it('a negative height is refused as a height, not as an unknown flag', async () => {
    const run = await cli(['enqueue', '1', '-5']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toEqual(['blockrunner: bad height "-5": heights cannot be negative']);
  });

  it('bad flags and variables name the flag or variable', async () => {
    const badUrl = await cli(['status'], { BLOCKRUNNER_URL: 'localhost:8080' });
    expect(badUrl.code).toBe(2);
    expect(lines(badUrl.stderr)).toHaveLength(1);
    expect(badUrl.stderr).toMatch(/BLOCKRUNNER_URL: expected an http/);

    const badQueue = await cli(['failed', '-q', 'Not A Queue']);
    expect(badQueue.code).toBe(2);
    expect(badQueue.stderr).toMatch(/^blockrunner: invalid configuration: --queue: /);

    const unknown = await cli(['retry', '--frm', '3']);
    expect(unknown.code).toBe(2);
    expect(lines(unknown.stderr)).toEqual([
      "blockrunner: retry: Unknown option '--frm' (see blockrunner retry --help)",
    ]);
  });

  it('manager --port abc names PORT', async () => {
    const run = await cli(['manager', '--port', 'abc']);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^blockrunner: .*PORT.*abc/);
  });
});

describe('against a manager', () => {
  it('enqueue sends merged ranges in one request and prints the counts', async () => {
    const manager = await fakeManager(() => ({
      status: 202,
      body: { queue: 'eth', added: 106, skipped: 1 },
    }));
    const run = await cli(['enqueue', '-q', 'eth', '100..200', '7', '9', '8', '201..203'], {
      BLOCKRUNNER_URL: manager.url,
      BLOCKRUNNER_API_TOKEN: 's3cret',
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('queue eth: added 106, skipped 1\n');
    expect(manager.seen).toHaveLength(1);
    expect(manager.seen[0]).toMatchObject({
      method: 'POST',
      url: '/v1/queues/eth/heights',
      headers: { authorization: 'Bearer s3cret', 'content-type': 'application/json' },
      body: {
        ranges: [
          { from: 7, to: 9 },
          { from: 100, to: 203 },
        ],
      },
    });
  });

  it('--force is sent and --json prints the answer as is; --url and --token win over env', async () => {
    const manager = await fakeManager(() => ({
      status: 202,
      body: { queue: 'default', added: 0, skipped: 1 },
    }));
    const run = await cli(
      ['enqueue', '--force', '--json', '--url', manager.url, '--token', 't', '3'],
      {
        BLOCKRUNNER_URL: 'http://127.0.0.1:1',
        BLOCKRUNNER_API_TOKEN: 'env-token',
      },
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ queue: 'default', added: 0, skipped: 1 });
    expect(manager.seen[0]?.body).toEqual({ ranges: [{ from: 3, to: 3 }], force: true });
    expect(manager.seen[0]?.headers.authorization).toBe('Bearer t');
  });

  it('an API error prints its code and message and exits 1', async () => {
    const manager = await fakeManager(() => ({
      status: 401,
      body: {
        statusCode: 401,
        code: 'BR_ERR_UNAUTHORIZED',
        error: 'Unauthorized',
        message: 'missing or wrong API token',
      },
    }));
    const run = await cli(['enqueue', '1..2'], { BLOCKRUNNER_URL: manager.url });
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual([
      'blockrunner enqueue: BR_ERR_UNAUTHORIZED: missing or wrong API token (pass --token or set BLOCKRUNNER_API_TOKEN)',
    ]);
  });

  it('an answer that is not the API error shape still gives one line', async () => {
    const manager = await fakeManager(() => ({ status: 502, text: '<html>Bad Gateway</html>' }));
    const run = await cli(['status'], { BLOCKRUNNER_URL: manager.url });
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual(['blockrunner status: HTTP 502: Bad Gateway']);
  });

  it('nothing listening: exit 1 with one line naming the URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const run = await cli(['enqueue', '1..5'], { BLOCKRUNNER_URL: url });
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain(`blockrunner enqueue: cannot reach the manager at ${url}: `);
    expect(run.stderr).toMatch(/connection refused/);
  });

  it('status prints one line per queue', async () => {
    const manager = await fakeManager(() => ({
      status: 200,
      body: {
        queues: [
          summary('default', {
            pending: 50,
            leased: 10,
            retrying: 2,
            done: 37,
            failed: 1,
            watermark: 36,
            rate: 1234.4,
          }),
          summary('eth'),
        ],
      },
    }));
    const run = await cli(['status'], { BLOCKRUNNER_URL: manager.url });
    expect(run.code).toBe(0);
    expect(manager.seen[0]?.url).toBe('/v1/queues');
    expect(lines(run.stdout)).toEqual([
      'default  37/100  37.0%  pending 50  leased 10  retrying 2  failed 1  watermark 36  rate 1234/s',
      'eth      0/0  -  pending 0  leased 0  retrying 0  failed 0  watermark -  rate 0/s',
    ]);
  });

  it('status --queue asks for that queue; an unknown one is an API error', async () => {
    const manager = await fakeManager(() => ({
      status: 404,
      body: {
        statusCode: 404,
        code: 'BR_ERR_QUEUE_NOT_FOUND',
        error: 'Not Found',
        message: 'queue "nope" does not exist',
      },
    }));
    const run = await cli(['status', '--queue', 'nope'], { BLOCKRUNNER_URL: manager.url });
    expect(manager.seen[0]?.url).toBe('/v1/queues/nope');
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual([
      'blockrunner status: BR_ERR_QUEUE_NOT_FOUND: queue "nope" does not exist',
    ]);
  });

  it('status --watch repeats until SIGINT, then exits 0', async () => {
    const manager = await fakeManager(() => ({
      status: 200,
      body: summary('default', { done: 1, pending: 1 }),
    }));
    const watch = start(['status', '-q', 'default', '--watch', '--interval-ms', '50'], {
      BLOCKRUNNER_URL: manager.url,
    });
    await waitFor(() => lines(watch.stdout()).length >= 3, {
      timeoutMs: 10_000,
      intervalMs: 20,
      message: 'three status lines',
    });
    watch.child.kill('SIGINT');
    const run = await watch.done;
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    // Piped, not a terminal: plain lines, no escape sequences.
    expect(run.stdout).not.toContain('\x1b');
    for (const line of lines(run.stdout)) expect(line).toMatch(/^default {2}1\/2 {2}50\.0%/);
  });

  it('failed lists dead letters; retry requeues a range', async () => {
    const manager = await fakeManager((seen) =>
      seen.method === 'GET'
        ? {
            status: 200,
            body: {
              items: [
                { height: 12, attempts: 5, lastError: 'rpc timeout\n  at fetch' },
                { height: 40, attempts: 5, lastError: 'lease expired' },
              ],
              next: null,
            },
          }
        : { status: 200, body: { requeued: 2 } },
    );
    const env = { BLOCKRUNNER_URL: manager.url };
    const failed = await cli(['failed', '-q', 'eth', '--limit', '2'], env);
    expect(failed.code).toBe(0);
    expect(manager.seen[0]?.url).toBe('/v1/queues/eth/failed?limit=2');
    expect(failed.stdout).toBe('12 5 rpc timeout at fetch\n40 5 lease expired\n');

    const retry = await cli(['retry', '-q', 'eth', '--from', '10'], env);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toBe('requeued 2\n');
    expect(manager.seen[1]).toMatchObject({
      method: 'POST',
      url: '/v1/queues/eth/failed/retry',
      body: { from: 10, to: Number.MAX_SAFE_INTEGER },
    });
  });
});

/**
 * The library's startWorker (worker/index.ts, docs/workers.md "In your own program") against a
 * fake manager: options checked by the worker's own schema with errors naming the options, the
 * hello they make, a module loaded from `handlerPath` with its setup, and a `done` that rejects
 * when that module cannot be loaded.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../shared/protocol.js';
import {
  ConfigError,
  type Handler,
  RangeTooLargeError,
  RateLimitedError,
  startWorker,
  type Worker,
  type WorkerOptions,
} from '../../worker/index.js';
import { FakeManager, framesOf, memoryLogger, waitFor } from '../worker/fake-manager.js';

let manager: FakeManager | undefined;
let worker: Worker | undefined;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blockrunner-start-worker-'));
  await writeFile(
    join(dir, 'counting.mjs'),
    [
      'export const seen = [];',
      "export async function setup({ queues }) { return { prefix: queues.join('+') }; }",
      "export default async (height, ctx) => { seen.push(ctx.state.prefix + ':' + height); };",
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await worker?.stop();
  worker = undefined;
  expect(manager?.badFrames ?? []).toEqual([]);
  await manager?.close();
  manager = undefined;
});

const noop: Handler = () => {};

function refused(options: WorkerOptions): string {
  try {
    worker = startWorker(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('startWorker took the options');
}

describe('startWorker options', () => {
  it('reports every bad option at once, by its name, with the variable’s bounds', () => {
    expect(
      refused({
        handler: noop,
        managerUrl: 'http://127.0.0.1:8080',
        queues: ['Not A Queue'],
        concurrency: 0,
        shutdownMs: -1,
      }),
    ).toBe(
      'startWorker: invalid options: managerUrl: "http://127.0.0.1:8080": expected a ws:// or wss:// URL; queues: "Not A Queue": queue names match ^[a-z0-9][a-z0-9_-]{0,62}$; concurrency: expected a whole number from 1 to 10000, got "0"; shutdownMs: expected a whole number from 0 to 600000, got "-1"',
    );
  });

  it('wants exactly one of handler and handlerPath, and no unknown option', () => {
    const base = { managerUrl: 'ws://127.0.0.1:1/v1/ws', queues: ['q'] };
    expect(refused(base)).toContain('handler: give exactly one of handler and handlerPath');
    expect(refused({ ...base, handler: noop, handlerPath: './x.mjs' })).toContain(
      'give exactly one of handler and handlerPath',
    );
    expect(refused({ ...base, handler: noop, concurency: 4 } as WorkerOptions)).toContain(
      'concurency',
    );
    expect(refused({ ...base, handler: { setup: () => 1 } as never })).toContain(
      'handler: expected a function, or an object whose handle',
    );
  });

  it('says hello with the queues, capacity and name it was given, the token at the upgrade', async () => {
    manager = await FakeManager.start();
    const { log, lines } = memoryLogger();
    worker = startWorker({
      handler: noop,
      managerUrl: [manager.url],
      queues: ['eth', 'btc'],
      concurrency: 3,
      prefetch: 5,
      name: 'in-process',
      token: 's3cret',
      logger: log,
    });
    const connection = await manager.connection(0);
    expect(connection.frames[0]).toEqual({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      name: 'in-process',
      queues: ['eth', 'btc'],
      capacity: 8,
      // It reads and writes range deltas (docs/protocol.md, "Range deltas").
      deltas: true,
    });
    expect(connection.request.headers.authorization).toBe('Bearer s3cret');
    // Every line goes through the given logger, naming the worker.
    await waitFor(() => lines.some((l) => l.msg === 'worker connected'));
    expect(lines.find((l) => l.msg === 'worker connected')).toMatchObject({
      worker: 'in-process',
    });
    await worker.stop();
    await worker.done;
    expect(lines.at(-1)).toMatchObject({ msg: 'worker stopped' });
  });

  it('loads handlerPath with its setup, whose value every height sees', async () => {
    manager = await FakeManager.start();
    const { log } = memoryLogger();
    const path = join(dir, 'counting.mjs');
    worker = startWorker({
      handlerPath: path,
      managerUrl: manager.url,
      queues: ['a', 'b'],
      logger: log,
    });
    const connection = await manager.connection(0);
    connection.send({ type: 'dispatch', lease: 1, queue: 'a', ranges: [[1, 3]] });
    await waitFor(() => framesOf(connection, 'results').length > 0);
    const { seen } = (await import(path)) as { seen: string[] };
    expect(seen).toEqual(['a+b:1', 'a+b:2', 'a+b:3']);
  });

  it('rejects done, naming handlerPath, when the module cannot be loaded', async () => {
    const { log } = memoryLogger();
    worker = startWorker({
      handlerPath: join(dir, 'missing.mjs'),
      managerUrl: 'ws://127.0.0.1:1/v1/ws',
      queues: ['q'],
      logger: log,
    });
    const error = await worker.done.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^handlerPath: cannot load ".*missing\.mjs"/);
  });
});

describe('the errors a handler may throw', () => {
  it('carry their names and what the node said', () => {
    const limited = new RateLimitedError('429 from the node', { retryAfterMs: 1_500 });
    expect(limited).toBeInstanceOf(Error);
    expect(limited.name).toBe('RateLimitedError');
    expect(limited.retryAfterMs).toBe(1_500);
    expect(new RateLimitedError().retryAfterMs).toBeUndefined();
    const tooLarge = new RangeTooLargeError('at most 2000 blocks', { maxRange: 2_000 });
    expect(tooLarge.name).toBe('RangeTooLargeError');
    expect(tooLarge.maxRange).toBe(2_000);
    expect(new RangeTooLargeError().message).toBe('range too large');
  });
});

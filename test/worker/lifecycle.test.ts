/**
 * A handler module's life cycle (docs/workers.md, "Life cycle"), in-process against a fake
 * manager: setup once before the worker says hello, its value as ctx.state in every handle and
 * revert, close(state) at stop after the last height; a setup that throws stops the worker with
 * a rejected `done`; a stop during setup aborts its signal and still closes what it opened.
 * And how the loader takes modules: a default-export object, and .ts files by Node's version.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, HandlerSetupError } from '../../shared/errors.js';
import { loadWorkerConfig } from '../../worker/config.js';
import type { HandlerModule, SetupContext } from '../../worker/handler.js';
import { loadHandlerModule } from '../../worker/handler-loader.js';
import { runWorker, type Worker } from '../../worker/worker.js';
import { deferred, FakeManager, framesOf, memoryLogger, waitFor } from './fake-manager.js';

let manager: FakeManager | undefined;
let worker: Worker | undefined;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blockrunner-lifecycle-'));
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

async function start<State>(module: HandlerModule<State>) {
  manager = await FakeManager.start();
  const { log, lines } = memoryLogger();
  const config = loadWorkerConfig({
    BLOCKRUNNER_MANAGER_URL: manager.url,
    BLOCKRUNNER_QUEUES: 'eth,btc',
    BLOCKRUNNER_SHUTDOWN_MS: '2000',
  });
  worker = runWorker(config, module, log);
  return { manager, worker, lines };
}

describe('handler module life cycle', () => {
  it('runs setup once before hello; its value is ctx.state in handle and revert; close(state) at stop', async () => {
    const events: string[] = [];
    const opened = deferred<{ pool: string }>();
    let setupContext: SetupContext | undefined;
    const module: HandlerModule<{ pool: string }> = {
      setup: (ctx) => {
        setupContext = ctx;
        events.push('setup');
        return opened.promise;
      },
      handle: (height, ctx) => {
        events.push(`handle ${height} ${ctx.state.pool}`);
      },
      revert: (range, ctx) => {
        events.push(`revert ${range.from}-${range.to} ${ctx.state.pool}`);
      },
      close: (state) => {
        events.push(`close ${state.pool}`);
      },
    };
    const { manager } = await start(module);
    await waitFor(() => events.includes('setup'));
    expect(setupContext?.queues).toEqual(['eth', 'btc']);
    expect(setupContext?.signal.aborted).toBe(false);
    // Nothing connects while setup runs: no height can arrive before the state exists.
    expect(manager.attempts).toHaveLength(0);
    opened.resolve({ pool: 'p1' });

    const connection = await manager.connection(0);
    connection.send({ type: 'dispatch', lease: 1, queue: 'eth', ranges: [[1, 2]] });
    await waitFor(() => framesOf(connection, 'results').length > 0);
    connection.send({ type: 'revert', revert: 1, queue: 'eth', from: 1, to: 2 });
    await waitFor(() => framesOf(connection, 'reverted').length > 0);
    await worker?.stop();
    await worker?.done;
    expect(events).toEqual(['setup', 'handle 1 p1', 'handle 2 p1', 'revert 1-2 p1', 'close p1']);
  });

  it('gives ctx.state undefined without a setup', async () => {
    const states: unknown[] = [];
    const { manager } = await start({ handle: (_height, ctx) => void states.push(ctx.state) });
    const connection = await manager.connection(0);
    connection.send({ type: 'dispatch', lease: 1, queue: 'eth', ranges: [[5, 5]] });
    await waitFor(() => states.length === 1);
    expect(states).toEqual([undefined]);
  });

  it('stops with a rejected done when setup throws: no link, no close', async () => {
    let closed = false;
    const {
      manager,
      worker: started,
      lines,
    } = await start({
      setup: async () => {
        throw new Error('database refused the connection');
      },
      handle: () => {},
      close: () => {
        closed = true;
      },
    });
    const error = await started.done.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(HandlerSetupError);
    expect((error as Error).message).toBe('handler setup failed: database refused the connection');
    expect(manager.attempts).toHaveLength(0);
    expect(closed).toBe(false);
    expect(lines.map((line) => line.msg)).toContain('worker stopped');
    // stop() after the failure resolves: only `done` carries the error.
    await expect(started.stop()).resolves.toBeUndefined();
  });

  it('a stop during setup aborts its signal, and close() still gets what setup opened', async () => {
    const closedWith: unknown[] = [];
    let signal: AbortSignal | undefined;
    const { manager, worker: started } = await start({
      setup: (ctx) => {
        signal = ctx.signal;
        // Like a connect that takes its time but ends when asked to.
        return new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => resolve('half-open pool'));
        });
      },
      handle: () => {},
      close: (state) => void closedWith.push(state),
    });
    await waitFor(() => signal !== undefined);
    await started.stop();
    await started.done;
    expect(signal?.aborted).toBe(true);
    expect(closedWith).toEqual(['half-open pool']);
    expect(manager.attempts).toHaveLength(0);
  });

  it('a close() that throws is logged and the stop still finishes', async () => {
    const {
      manager,
      worker: started,
      lines,
    } = await start({
      handle: () => {},
      close: () => {
        throw new Error('already closed');
      },
    });
    await manager.connection(0);
    await started.stop();
    await started.done;
    expect(lines.find((l) => l.msg === 'the handler module failed to close')).toMatchObject({
      err: 'already closed',
    });
  });
});

describe('loading handler modules', () => {
  const config = (handler: string) => loadWorkerConfig({ BLOCKRUNNER_HANDLER: handler });

  it('takes a default-export object with handle, setup, revert and close', async () => {
    await writeFile(
      join(dir, 'object.mjs'),
      [
        'export default {',
        '  setup: async ({ queues }) => ({ queues }),',
        '  handle: async (height, ctx) => ctx.state.queues.length + height,',
        '  revert: async () => {},',
        '  close: async () => {},',
        '};',
        '',
      ].join('\n'),
    );
    const module = await loadHandlerModule(config('./object.mjs'), dir);
    expect(Object.keys(module).sort()).toEqual(['close', 'handle', 'revert', 'setup']);
    expect(await module.setup?.({} as SetupContext)).toEqual({ queues: undefined });
  });

  it('takes named setup and close beside a default-export function', async () => {
    await writeFile(
      join(dir, 'named.mjs'),
      'export async function setup() { return 1; }\nexport function close() {}\nexport default () => {};\n',
    );
    const module = await loadHandlerModule(config('./named.mjs'), dir);
    expect(Object.keys(module).sort()).toEqual(['close', 'handle', 'setup']);
  });

  it('refuses a setup that is not a function, naming it', async () => {
    await writeFile(
      join(dir, 'bad-setup.mjs'),
      'export const setup = 5;\nexport default () => {};\n',
    );
    await expect(loadHandlerModule(config('./bad-setup.mjs'), dir)).rejects.toThrow(
      'BLOCKRUNNER_HANDLER: "./bad-setup.mjs" exports a setup that is not a function',
    );
  });

  it('loads a .ts handler where Node strips types, and says which Node is needed elsewhere', async () => {
    await writeFile(
      join(dir, 'typed.ts'),
      'export default async (height: number): Promise<void> => { void height; };\n',
    );
    const strips = typeof (process.features as { typescript?: unknown }).typescript === 'string';
    const loading = loadHandlerModule(config('./typed.ts'), dir);
    if (strips) {
      expect(typeof (await loading).handle).toBe('function');
    } else {
      // This machine's Node 20; test/worker/lifecycle-process.test.ts runs one under Node 24.
      const error = await loading.catch((reason: unknown) => reason);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toBe(
        `BLOCKRUNNER_HANDLER: "./typed.ts" is TypeScript, which Node ${process.versions.node} cannot load: run the worker on Node 22.18+ or 24, or compile the handler to JavaScript`,
      );
    }
  });
});

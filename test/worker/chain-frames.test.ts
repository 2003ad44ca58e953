/**
 * The worker's side of protocol 4 against a fake manager over real sockets (docs/protocol.md,
 * "Block hashes" and "Reverts"): block hashes handlers return go out in `hashes`, a `revert`
 * frame runs the module's revert once and is answered by `reverted`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Env } from '../../shared/config.js';
import {
  type BlockReport,
  doneOf,
  MAX_ERROR_LENGTH,
  MAX_HASH_LENGTH,
  PROTOCOL_VERSION,
} from '../../shared/protocol.js';
import { loadWorkerConfig } from '../../worker/config.js';
import type { Handler, HandlerModule, RevertContext } from '../../worker/handler.js';
import { loadHandlerModule } from '../../worker/handler-loader.js';
import { MAX_HASHES_PER_FRAME } from '../../worker/height-loop.js';
import { runWorker, type Worker } from '../../worker/worker.js';
import {
  deferred,
  type FakeConnection,
  FakeManager,
  framesOf,
  memoryLogger,
  waitFor,
} from './fake-manager.js';

let manager: FakeManager | undefined;
let worker: Worker | undefined;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blockrunner-chain-frames-'));
  await writeFile(
    join(dir, 'with-revert.mjs'),
    [
      'export const reverts = [];',
      "export default async (height) => ({ hash: '0xh' + height, parentHash: '0xh' + (height - 1) });",
      'export async function revert(range, ctx) { reverts.push({ ...range, queue: ctx.queue }); }',
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
  // Every frame the worker sent passed the protocol's schemas.
  expect(manager?.badFrames ?? []).toEqual([]);
  await manager?.close();
  manager = undefined;
});

async function start(module: Handler | HandlerModule, env: Env = {}) {
  manager = await FakeManager.start();
  const { log } = memoryLogger();
  const config = loadWorkerConfig({ BLOCKRUNNER_MANAGER_URL: manager.url, ...env });
  worker = runWorker(config, module, log);
  const connection = await manager.connection(0);
  return { connection };
}

function doneHeights(connection: FakeConnection): number[] {
  return framesOf(connection, 'results').flatMap((f) => [...doneOf(f).heights()]);
}

function hashesSent(connection: FakeConnection): BlockReport[] {
  return framesOf(connection, 'results')
    .flatMap((f) => f.hashes ?? [])
    .sort((a, b) => a.height - b.height);
}

const link = (height: number) => ({ hash: `0x${height}`, parentHash: `0x${height - 1}` });

describe('worker, block hashes in results', () => {
  it('sends the hashes of a lease in frames of at most MAX_HASHES_PER_FRAME, each beside its done heights', async () => {
    const heights = MAX_HASHES_PER_FRAME + 5_000;
    const { connection } = await start((height) => link(height), {
      BLOCKRUNNER_CONCURRENCY: '16',
      BLOCKRUNNER_PREFETCH: String(heights),
    });
    connection.send({ type: 'dispatch', lease: 4, queue: 'default', ranges: [[0, heights - 1]] });
    await waitFor(() => doneHeights(connection).length === heights, 20_000);
    const frames = framesOf(connection, 'results');
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) {
      expect(frame.hashes?.length ?? 0).toBeLessThanOrEqual(MAX_HASHES_PER_FRAME);
      const done = doneOf(frame);
      for (const report of frame.hashes ?? []) expect(done.has(report.height)).toBe(true);
    }
    expect(hashesSent(connection)).toHaveLength(heights);
  });

  it('sends `hashes` for the heights whose handler returned {hash, parentHash}, and only those', async () => {
    const { connection } = await start(
      (height) => {
        if (height === 1) return undefined;
        if (height === 2) return 'a value of its own' as unknown as undefined;
        if (height === 3) return { hash: 'x'.repeat(MAX_HASH_LENGTH + 1), parentHash: '0x2' };
        if (height === 4) return { hash: '0x4', parentHash: '' };
        if (height === 5) return { hash: 5, parentHash: '0x4' } as unknown as undefined;
        if (height === 6) throw new Error('boom');
        if (height === 7) return { hash: 'x'.repeat(MAX_HASH_LENGTH), parentHash: '0x6' };
        if (height === 8) return Promise.resolve(link(8));
        return link(height);
      },
      { BLOCKRUNNER_CONCURRENCY: '4' },
    );
    connection.send({ type: 'dispatch', lease: 3, queue: 'default', ranges: [[0, 9]] });
    await waitFor(() => doneHeights(connection).length === 9);
    expect(framesOf(connection, 'results').flatMap((f) => f.failed)).toEqual([
      { height: 6, error: 'boom' },
    ]);
    expect(hashesSent(connection)).toEqual([
      { height: 0, ...link(0) },
      { height: 7, hash: 'x'.repeat(MAX_HASH_LENGTH), parentHash: '0x6' },
      { height: 8, ...link(8) },
      { height: 9, ...link(9) },
    ]);
    // Each report travels with the done heights it belongs to.
    for (const frame of framesOf(connection, 'results')) {
      const done = doneOf(frame);
      for (const report of frame.hashes ?? []) expect(done.has(report.height)).toBe(true);
    }
  });

  it('sends no `hashes` when no handler of the frame returned any', async () => {
    const { connection } = await start(() => {});
    connection.send({ type: 'dispatch', lease: 1, queue: 'default', ranges: [[0, 4]] });
    await waitFor(() => doneHeights(connection).length === 5);
    for (const frame of framesOf(connection, 'results')) expect(frame).not.toHaveProperty('hashes');
  });

  it('keeps the hashes of each lease in that lease’s results frames', async () => {
    const { connection } = await start((height) => link(height), {
      BLOCKRUNNER_CONCURRENCY: '10',
    });
    connection.send({ type: 'dispatch', lease: 1, queue: 'default', ranges: [[0, 2]] });
    connection.send({ type: 'dispatch', lease: 2, queue: 'default', ranges: [[10, 12]] });
    await waitFor(() => doneHeights(connection).length === 6);
    const byLease = new Map<number, number[]>();
    for (const frame of framesOf(connection, 'results')) {
      const heights = byLease.get(frame.lease) ?? [];
      heights.push(...(frame.hashes ?? []).map((report) => report.height));
      byLease.set(frame.lease, heights);
    }
    expect(byLease.get(1)?.sort((a, b) => a - b)).toEqual([0, 1, 2]);
    expect(byLease.get(2)?.sort((a, b) => a - b)).toEqual([10, 11, 12]);
  });
});

describe('worker, revert frames', () => {
  it('says hello with protocol 5, reading and writing range deltas', async () => {
    const { connection } = await start(() => {});
    expect(PROTOCOL_VERSION).toBe(5);
    expect(connection.frames[0]).toMatchObject({ type: 'hello', protocol: 5, deltas: true });
  });

  it('runs the module’s revert once with {from, to} and answers `reverted` without error', async () => {
    const calls: { range: { from: number; to: number }; ctx: RevertContext }[] = [];
    const { connection } = await start({
      handle: () => {},
      revert: async (range, ctx) => {
        calls.push({ range, ctx });
      },
    });
    connection.send({ type: 'revert', revert: 7, queue: 'default', from: 1004, to: 1006 });
    await waitFor(() => framesOf(connection, 'reverted').length === 1);
    expect(framesOf(connection, 'reverted')).toEqual([{ type: 'reverted', revert: 7 }]);
    expect(calls.map((call) => call.range)).toEqual([{ from: 1004, to: 1006 }]);
    expect(calls[0]?.ctx.queue).toBe('default');
    expect(calls[0]?.ctx.signal.aborted).toBe(false);
  });

  it('answers with the error text when the revert throws, cut to the protocol’s limit', async () => {
    const { connection } = await start({
      handle: () => {},
      revert: (range) => {
        if (range.from === 1) throw new Error('db: relation "blocks" is locked');
        return Promise.reject(new Error('y'.repeat(MAX_ERROR_LENGTH + 100)));
      },
    });
    connection.send({ type: 'revert', revert: 1, queue: 'default', from: 1, to: 2 });
    connection.send({ type: 'revert', revert: 2, queue: 'default', from: 5, to: 5 });
    await waitFor(() => framesOf(connection, 'reverted').length === 2);
    const answers = new Map(framesOf(connection, 'reverted').map((f) => [f.revert, f]));
    expect(answers.get(1)).toEqual({
      type: 'reverted',
      revert: 1,
      error: 'db: relation "blocks" is locked',
    });
    expect(answers.get(2)?.error).toBe('y'.repeat(MAX_ERROR_LENGTH));
  });

  it('aborts a revert whose link dropped and answers on no other link (the manager re-sends it)', async () => {
    const started = deferred<AbortSignal>();
    const finish = deferred<void>();
    const { connection } = await start({
      handle: () => {},
      revert: async (_range, ctx) => {
        started.resolve(ctx.signal);
        await finish.promise;
      },
    });
    connection.send({ type: 'revert', revert: 9, queue: 'default', from: 1, to: 2 });
    const signal = await started.promise;
    connection.socket.terminate();
    const second = await manager?.connection(1);
    await waitFor(() => signal.aborted);
    finish.resolve();
    // A frame the worker sends after this one proves the revert's answer had its turn.
    second?.send({ type: 'dispatch', lease: 1, queue: 'default', ranges: [[5, 5]] });
    await waitFor(() => (second ? framesOf(second, 'results').length === 1 : false));
    expect(second ? framesOf(second, 'reverted') : []).toEqual([]);
    expect(framesOf(connection, 'reverted')).toEqual([]);
  });

  it('calls the module’s close() once at stop, and does not wait past the shutdown time', async () => {
    let closes = 0;
    await start({ handle: () => {}, close: () => void closes++ });
    await worker?.stop();
    expect(closes).toBe(1);
    await manager?.close();

    const hanging = deferred<void>();
    await start(
      { handle: () => {}, close: () => hanging.promise },
      { BLOCKRUNNER_SHUTDOWN_MS: '50' },
    );
    const stopping = performance.now();
    await worker?.stop();
    expect(performance.now() - stopping).toBeLessThan(5_000);
    hanging.resolve();
  });

  it('answers `reverted` at once when the module has no revert', async () => {
    const { connection } = await start(() => {});
    connection.send({ type: 'revert', revert: 3, queue: 'default', from: 10, to: 20 });
    await waitFor(() => framesOf(connection, 'reverted').length === 1);
    expect(framesOf(connection, 'reverted')).toEqual([{ type: 'reverted', revert: 3 }]);
  });

  it('answers a revert while every handler slot is busy: it takes no slot', async () => {
    const gate = deferred();
    const { connection } = await start(
      { handle: () => gate.promise, revert: () => {} },
      { BLOCKRUNNER_CONCURRENCY: '1', BLOCKRUNNER_PREFETCH: '0' },
    );
    connection.send({ type: 'dispatch', lease: 1, queue: 'default', ranges: [[0, 0]] });
    connection.send({ type: 'revert', revert: 4, queue: 'default', from: 0, to: 0 });
    await waitFor(() => framesOf(connection, 'reverted').length === 1);
    expect(doneHeights(connection)).toEqual([]);
    gate.resolve();
    await waitFor(() => doneHeights(connection).length === 1);
  });

  it('runs the revert a handler module file exports, as the loader loads it', async () => {
    const spec = join(dir, 'with-revert.mjs');
    const module = await loadHandlerModule(loadWorkerConfig({ BLOCKRUNNER_HANDLER: spec }));
    expect(typeof module.revert).toBe('function');
    const { connection } = await start(module);
    connection.send({ type: 'dispatch', lease: 1, queue: 'default', ranges: [[5, 6]] });
    connection.send({ type: 'revert', revert: 9, queue: 'default', from: 3, to: 8 });
    await waitFor(() => framesOf(connection, 'reverted').length === 1);
    await waitFor(() => doneHeights(connection).length === 2);
    expect(framesOf(connection, 'reverted')).toEqual([{ type: 'reverted', revert: 9 }]);
    const loaded = (await import(spec)) as { reverts: unknown[] };
    expect(loaded.reverts).toEqual([{ from: 3, to: 8, queue: 'default' }]);
    expect(hashesSent(connection).map((report) => report.height)).toEqual([5, 6]);
  });
});

/** The worker against a fake manager over real sockets: hello, running, results, cancel, stop. */
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Env } from '../../shared/config.js';
import { doneOf, MAX_ERROR_LENGTH, PROTOCOL_VERSION } from '../../shared/protocol.js';
import { RangeSet } from '../../shared/range-set.js';
import { loadWorkerConfig } from '../../worker/config.js';
import type { Handler, HandlerContext } from '../../worker/handler.js';
import { MAX_FAILURE_BYTES_PER_FRAME, RESULTS_LINGER_MS } from '../../worker/height-loop.js';
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

afterEach(async () => {
  await worker?.stop();
  worker = undefined;
  expect(manager?.badFrames ?? []).toEqual([]);
  await manager?.close();
  manager = undefined;
});

async function start(handler: Handler, env: Env = {}) {
  manager = await FakeManager.start();
  const { log, lines } = memoryLogger();
  const config = loadWorkerConfig({ BLOCKRUNNER_MANAGER_URL: manager.url, ...env });
  worker = runWorker(config, handler, log);
  const connection = await manager.connection(0);
  return { manager, worker, connection, lines };
}

function doneHeights(connection: FakeConnection): number[] {
  return framesOf(connection, 'results').flatMap((f) => [...doneOf(f).heights()]);
}

/** Consecutive heights as one range each run: [[first, last], ...]. */
function rangesOf(heights: number[]): [number, number][] {
  return RangeSet.ofHeights(heights).toJSON();
}

describe('worker', () => {
  it('says hello with its capacity, name and queues, and the token at the upgrade', async () => {
    const { connection, lines } = await start(() => {}, {
      BLOCKRUNNER_CONCURRENCY: '3',
      BLOCKRUNNER_PREFETCH: '5',
      BLOCKRUNNER_QUEUES: 'eth,btc',
      BLOCKRUNNER_WORKER_NAME: 'w-test',
      BLOCKRUNNER_WORKER_TOKEN: 's3cret',
    });
    expect(connection.frames[0]).toEqual({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      name: 'w-test',
      queues: ['eth', 'btc'],
      capacity: 8,
      deltas: true,
    });
    expect(connection.request.headers.authorization).toBe('Bearer s3cret');
    await waitFor(() => lines.some((l) => l.msg === 'worker connected'));
    const connected = lines.find((l) => l.msg === 'worker connected');
    expect(connected).toMatchObject({ workerId: 'w1', url: manager?.url });
    expect(JSON.stringify(lines)).not.toContain('s3cret');
  });

  it('runs at most BLOCKRUNNER_CONCURRENCY handlers at once and batches results', async () => {
    let runningNow = 0;
    let mostAtOnce = 0;
    const { connection } = await start(
      async () => {
        runningNow++;
        mostAtOnce = Math.max(mostAtOnce, runningNow);
        await new Promise((resolve) => setTimeout(resolve, 1));
        runningNow--;
      },
      { BLOCKRUNNER_CONCURRENCY: '4' },
    );
    const heights = Array.from({ length: 200 }, (_, i) => i);
    for (let lease = 1; lease <= 10; lease++) {
      const slice = heights.slice((lease - 1) * 20, lease * 20);
      connection.send({ type: 'dispatch', lease, queue: 'default', ranges: rangesOf(slice) });
    }
    await waitFor(() => doneHeights(connection).length === 200);
    expect(mostAtOnce).toBe(4);
    expect(doneHeights(connection).sort((a, b) => a - b)).toEqual(heights);
    expect(framesOf(connection, 'results').length).toBeLessThan(200);
  });

  it('sends one results frame per lease for what finished in the same turn', async () => {
    const { connection } = await start(() => {}, { BLOCKRUNNER_CONCURRENCY: '1000' });
    const heights = Array.from({ length: 1000 }, (_, i) => i);
    for (let lease = 1; lease <= 5; lease++) {
      const slice = heights.slice((lease - 1) * 200, lease * 200);
      connection.send({ type: 'dispatch', lease, queue: 'default', ranges: rangesOf(slice) });
    }
    await waitFor(() => doneHeights(connection).length === 1000);
    const results = framesOf(connection, 'results');
    expect(results.length).toBeLessThanOrEqual(10);
    expect(new Set(results.map((f) => f.lease))).toEqual(new Set([1, 2, 3, 4, 5]));
    expect(doneHeights(connection).sort((a, b) => a - b)).toEqual(heights);
  });

  it('sends the results frames of one turn in one write', async () => {
    const gate = deferred();
    let running = 0;
    const { connection } = await start(
      async () => {
        running++;
        await gate.promise;
      },
      { BLOCKRUNNER_CONCURRENCY: '10' },
    );
    for (let lease = 1; lease <= 5; lease++) {
      connection.send({ type: 'dispatch', lease, queue: 'default', ranges: [[lease, lease]] });
    }
    await waitFor(() => running === 5);
    // The worker's writes on its end of this connection (both the single and the gathered
    // write of net.Socket: what reaches the kernel).
    const workerPort = connection.request.socket.remotePort;
    const writes: string[] = [];
    const proto = net.Socket.prototype as unknown as Record<string, (...args: unknown[]) => void>;
    const originals = { _write: proto._write, _writev: proto._writev };
    for (const name of ['_write', '_writev'] as const) {
      const original = originals[name] as (...args: unknown[]) => void;
      proto[name] = function (this: net.Socket, ...args: unknown[]) {
        if (this.localPort === workerPort) writes.push(name);
        return original.apply(this, args);
      };
    }
    try {
      // All five settle in one turn: five frames, one per lease, in one flush.
      gate.resolve();
      await waitFor(() => framesOf(connection, 'results').length === 5);
    } finally {
      Object.assign(proto, originals);
    }
    expect(framesOf(connection, 'results').map((f) => f.lease)).toEqual([1, 2, 3, 4, 5]);
    expect(writes).toEqual(['_writev']);
  });

  it('holds results while its buffer is full and sends them within RESULTS_LINGER_MS', async () => {
    const gate = deferred();
    const { connection } = await start(
      async (height) => {
        if (height === 1) await gate.promise;
      },
      { BLOCKRUNNER_CONCURRENCY: '1', BLOCKRUNNER_PREFETCH: '8' },
    );
    connection.send({ type: 'dispatch', lease: 1, queue: 'default', ranges: [[0, 8]] });
    // 0 is done and 1 runs, with 7 of 8 buffered: less than a step of capacity is free yet.
    const sent = performance.now();
    await waitFor(() => framesOf(connection, 'results').length === 1);
    expect(performance.now() - sent).toBeGreaterThanOrEqual(RESULTS_LINGER_MS - 5);
    expect(doneHeights(connection)).toEqual([0]);
    // Half the prefetch settled (and then nothing left to start): the next turn, 1..8 in one frame.
    gate.resolve();
    await waitFor(() => doneHeights(connection).length === 9);
    expect(framesOf(connection, 'results').map((f) => f.doneDeltas)).toEqual([
      [0, 0],
      [1, 7],
    ]);
  });

  it('reports thrown errors and rejections as failed, whatever was thrown', async () => {
    const seen: { height: number; queue: string; attempt: number }[] = [];
    const { connection } = await start((height, ctx) => {
      seen.push({ height, queue: ctx.queue, attempt: ctx.attempt });
      if (height === 1) throw new Error('boom');
      if (height === 2) return Promise.reject(new Error('rejected'));
      if (height === 3) throw 'a string';
      if (height === 4) throw new Error('x'.repeat(MAX_ERROR_LENGTH + 500));
      if (height === 5) throw Object.create(null);
      return Promise.resolve();
    });
    connection.send({
      type: 'dispatch',
      lease: 9,
      queue: 'default',
      ranges: [1, 2, 3, 4, 5, 6].map((height) => [height, height]),
      attempts: [1, 2, 3, 4, 5, 6],
    });
    await waitFor(() => framesOf(connection, 'results').flatMap((f) => f.failed).length === 5);
    await waitFor(() => doneHeights(connection).length === 1);
    const failed = framesOf(connection, 'results').flatMap((f) => f.failed);
    const byHeight = new Map(failed.map((f) => [f.height, f.error]));
    expect(byHeight.get(1)).toBe('boom');
    expect(byHeight.get(2)).toBe('rejected');
    expect(byHeight.get(3)).toBe('a string');
    expect(byHeight.get(4)).toBe('x'.repeat(MAX_ERROR_LENGTH));
    expect(byHeight.get(5)).toBe('handler threw a value that cannot be printed');
    expect(doneHeights(connection)).toEqual([6]);
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seen.every((s) => s.queue === 'default')).toBe(true);
  });

  it('on cancel aborts the running height and drops buffered ones', async () => {
    const started: number[] = [];
    const signals = new Map<number, AbortSignal>();
    const { connection } = await start(
      async (height, ctx: HandlerContext) => {
        started.push(height);
        if (height === 12) return;
        signals.set(height, ctx.signal);
        await new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        });
      },
      { BLOCKRUNNER_CONCURRENCY: '1' },
    );
    connection.send({ type: 'dispatch', lease: 3, queue: 'default', ranges: [[10, 12]] });
    await waitFor(() => signals.has(10));
    connection.send({ type: 'cancel', lease: 3, ranges: [[10, 11]] });
    await waitFor(() => doneHeights(connection).includes(12));
    expect(signals.get(10)?.aborted).toBe(true);
    expect(started).toEqual([10, 12]);
    const failed = framesOf(connection, 'results').flatMap((f) => f.failed);
    expect(failed).toEqual([{ height: 10, error: 'cancelled by the manager' }]);
  });

  it('splits failures with long messages over several results frames under the byte limit', async () => {
    const heights = 3_000;
    const { connection } = await start(
      (height) => {
        throw new Error(`${height} `.padEnd(MAX_ERROR_LENGTH, 'x'));
      },
      { BLOCKRUNNER_CONCURRENCY: '1', BLOCKRUNNER_PREFETCH: String(heights) },
    );
    connection.send({ type: 'dispatch', lease: 6, queue: 'default', ranges: [[0, heights - 1]] });
    const failed = () => framesOf(connection, 'results').flatMap((f) => f.failed);
    await waitFor(() => failed().length === heights);
    const frames = framesOf(connection, 'results');
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) {
      expect(Buffer.byteLength(JSON.stringify(frame))).toBeLessThan(
        MAX_FAILURE_BYTES_PER_FRAME + 1_000,
      );
    }
    expect(new Set(failed().map((f) => f.height)).size).toBe(heights);
  });

  it('a cancel in the middle of a range keeps both sides, each with its attempt number', async () => {
    const started: { height: number; attempt: number }[] = [];
    const { connection } = await start(
      async (height, ctx) => {
        started.push({ height, attempt: ctx.attempt });
        if (height !== 0) return;
        await new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        });
      },
      { BLOCKRUNNER_CONCURRENCY: '1' },
    );
    connection.send({
      type: 'dispatch',
      lease: 2,
      queue: 'default',
      ranges: [
        [0, 0],
        [10, 19],
      ],
      attempts: [4, 1],
    });
    await waitFor(() => started.length === 1);
    connection.send({
      type: 'cancel',
      lease: 2,
      ranges: [
        [0, 0],
        [12, 16],
      ],
    });
    await waitFor(() => doneHeights(connection).length === 5);
    expect(started).toEqual([
      { height: 0, attempt: 4 },
      ...[10, 11, 17, 18, 19].map((height) => ({ height, attempt: 1 })),
    ]);
    const results = framesOf(connection, 'results');
    expect(results.flatMap((f) => f.failed)).toEqual([
      { height: 0, error: 'cancelled by the manager' },
    ]);
    expect(results.flatMap((f) => doneOf(f).toJSON())).toEqual([
      [10, 11],
      [17, 19],
    ]);
  });

  it('on disconnect aborts running heights, drops buffered ones and sends nothing stale', async () => {
    const started: number[] = [];
    const signals: AbortSignal[] = [];
    const { connection, manager } = await start(
      async (height, { signal }) => {
        started.push(height);
        if (height === 7) return;
        signals.push(signal);
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
      },
      { BLOCKRUNNER_CONCURRENCY: '1' },
    );
    connection.send({ type: 'dispatch', lease: 4, queue: 'default', ranges: [[1, 2]] });
    await waitFor(() => started.length === 1);
    connection.socket.terminate();
    const second = await manager.connection(1);
    await waitFor(() => signals[0]?.aborted);
    second.send({ type: 'dispatch', lease: 5, queue: 'default', ranges: [[7, 7]] });
    await waitFor(() => doneHeights(second).includes(7));
    expect(started).toEqual([1, 7]);
    expect(framesOf(second, 'results')).toEqual([
      { type: 'results', lease: 5, doneDeltas: [7, 0], failed: [], runMs: expect.any(Number) },
    ]);
  });

  it('stop() releases buffered heights, waits for running ones, then closes with 1000', async () => {
    const gates = new Map<number, ReturnType<typeof deferred<void>>>();
    const { connection, worker } = await start(
      async (height) => {
        const gate = deferred();
        gates.set(height, gate);
        await gate.promise;
      },
      { BLOCKRUNNER_CONCURRENCY: '2', BLOCKRUNNER_PREFETCH: '3' },
    );
    connection.send({ type: 'dispatch', lease: 7, queue: 'default', ranges: [[1, 5]] });
    await waitFor(() => gates.size === 2);

    let stopped = false;
    const stopping = worker.stop().then(() => {
      stopped = true;
    });
    await waitFor(() => framesOf(connection, 'release').length === 1);
    expect(framesOf(connection, 'release')).toEqual([
      { type: 'release', lease: 7, ranges: [[3, 5]] },
    ]);
    // A dispatch that crossed the release on the wire goes straight back.
    connection.send({ type: 'dispatch', lease: 8, queue: 'default', ranges: [[9, 9]] });
    await waitFor(() => framesOf(connection, 'release').length === 2);
    expect(framesOf(connection, 'release')[1]).toEqual({
      type: 'release',
      lease: 8,
      ranges: [[9, 9]],
    });
    expect(stopped).toBe(false);

    for (const gate of gates.values()) gate.resolve();
    await stopping;
    await waitFor(() => connection.close !== undefined);
    expect(connection.close).toEqual({ code: 1000, reason: 'normal: worker stopping' });
    expect(doneHeights(connection).sort()).toEqual([1, 2]);
    expect([...gates.keys()]).toEqual([1, 2]);
  });

  it('stop() aborts handlers still running after BLOCKRUNNER_SHUTDOWN_MS', async () => {
    let signal: AbortSignal | undefined;
    const { connection, worker } = await start(
      async (_height, ctx) => {
        signal = ctx.signal;
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      },
      { BLOCKRUNNER_SHUTDOWN_MS: '50' },
    );
    connection.send({ type: 'dispatch', lease: 1, queue: 'default', ranges: [[1, 1]] });
    await waitFor(() => signal !== undefined);
    const before = performance.now();
    await worker.stop();
    expect(performance.now() - before).toBeGreaterThanOrEqual(45);
    expect(signal?.aborted).toBe(true);
    await waitFor(() => connection.close !== undefined);
    expect(connection.close?.code).toBe(1000);
  });
});

/**
 * What a worker logs about its handlers (docs/observability.md, "Logs"): a failed
 * call at warn with queue, height, attempt and message, at most FAILURES_LOGGED_PER_SECOND a
 * second with one line counting the rest; a handler (per height or per range) still running
 * past its lease's deadline, once. In-process against a fake manager, lines read from an injected logger.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../shared/protocol.js';
import { loadWorkerConfig } from '../../worker/config.js';
import { FAILURES_LOGGED_PER_SECOND, FailureLog } from '../../worker/failure-log.js';
import { type HandlerSource, runWorker, type Worker } from '../../worker/worker.js';
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

async function start(handler: HandlerSource, leaseMs = 30_000) {
  manager = await FakeManager.start({
    onHello: (connection: FakeConnection) =>
      connection.send({
        type: 'welcome',
        protocol: PROTOCOL_VERSION,
        workerId: 'w1',
        leaseMs,
        heartbeatMs: 15_000,
      }),
  });
  const { log, lines } = memoryLogger();
  const config = loadWorkerConfig({
    BLOCKRUNNER_MANAGER_URL: manager.url,
    BLOCKRUNNER_CONCURRENCY: '50',
    BLOCKRUNNER_SHUTDOWN_MS: '1000',
  });
  worker = runWorker(config, handler, log);
  const connection = await manager.connection(0);
  await waitFor(() => lines.some((l) => l.msg === 'worker connected'));
  return { connection, lines };
}

describe('failed handler calls', () => {
  it('are logged at warn with queue, height, attempt and message, a few per second, the rest counted', async () => {
    const { connection, lines } = await start((height) => {
      throw new Error(`node refused block ${height}`);
    });
    connection.send({
      type: 'dispatch',
      lease: 1,
      queue: 'eth',
      ranges: [[100, 129]],
      attempts: [3],
    });
    await waitFor(() => framesOf(connection, 'results').some((f) => f.failed.length > 0));
    const failed = () => lines.filter((l) => l.msg === 'handler failed');
    await waitFor(() => failed().length === FAILURES_LOGGED_PER_SECOND);
    expect(failed()[0]).toMatchObject({
      level: 40,
      queue: 'eth',
      height: 100,
      attempt: 3,
      lease: 1,
      err: 'node refused block 100',
    });
    // The other 20 are counted in one line once the second is over.
    await waitFor(
      () => lines.some((l) => typeof l.suppressed === 'number'),
      3_000,
      'the count of failures not logged',
    );
    const summary = lines.find((l) => typeof l.suppressed === 'number');
    expect(summary).toMatchObject({ level: 40, suppressed: 30 - FAILURES_LOGGED_PER_SECOND });
    expect(failed()).toHaveLength(FAILURES_LOGGED_PER_SECOND);
  });

  it('FailureLog: a new second logs again, and close() reports what was left uncounted', () => {
    const { log, lines } = memoryLogger();
    let now = 10_000;
    const failures = new FailureLog(log, 2, () => now);
    const fields = { queue: 'q', height: 1, attempt: 1, lease: 1, err: 'x' };
    for (let i = 0; i < 5; i++) failures.failed(fields);
    now += 1_000;
    failures.failed(fields);
    failures.close();
    expect(lines.map((l) => l.msg)).toEqual([
      'handler failed',
      'handler failed',
      'handler failed',
      'more handlers failed than are logged per second: these were not logged',
    ]);
    expect(lines[3]).toMatchObject({ suppressed: 3, perSecond: 2 });
    failures.close();
    expect(lines).toHaveLength(4);
  });
});

describe('a handler past its lease deadline', () => {
  it('is logged once at warn, with its queue, height and attempt', async () => {
    const release = deferred();
    const { connection, lines } = await start(async () => release.promise, 50);
    const sent = performance.now();
    connection.send({ type: 'dispatch', lease: 7, queue: 'eth', ranges: [[42, 42]] });
    const overdue = () =>
      lines.filter((l) => String(l.msg).startsWith('handler still running past its lease'));
    await waitFor(() => overdue().length === 1, 3_000, 'the overdue line');
    const seenAfterMs = performance.now() - sent;
    expect(overdue()[0]).toMatchObject({
      level: 40,
      queue: 'eth',
      height: 42,
      attempt: 1,
      lease: 7,
      leaseMs: 50,
    });
    // The deadline counts from the dispatch's arrival, so the line comes no sooner than the lease
    // after the send; the handler started after the arrival, so it ran no longer than the test saw.
    expect(seenAfterMs).toBeGreaterThanOrEqual(49);
    expect(Number(overdue()[0]?.runningMs)).toBeGreaterThan(0);
    expect(Number(overdue()[0]?.runningMs)).toBeLessThanOrEqual(Math.ceil(seenAfterMs));
    // A second dispatch re-arms the watch; the first run is not logged again.
    connection.send({ type: 'dispatch', lease: 8, queue: 'eth', ranges: [[43, 43]] });
    await waitFor(() => overdue().length === 2, 3_000, 'the second overdue line');
    expect(overdue().map((l) => l.height)).toEqual([42, 43]);
    release.resolve();
    await waitFor(() => framesOf(connection, 'results').length > 0);
  });

  it('is logged once for a range call, with its queue, range and attempt', async () => {
    const release = deferred();
    const { connection, lines } = await start({ handleRange: async () => release.promise }, 50);
    const sent = performance.now();
    connection.send({
      type: 'dispatch',
      lease: 3,
      queue: 'logs',
      ranges: [[100, 199]],
      attempts: [2],
      rangeSize: 100,
    });
    const overdue = () =>
      lines.filter((l) => String(l.msg).startsWith('handler still running past its lease'));
    await waitFor(() => overdue().length === 1, 3_000, 'the overdue line');
    const seenAfterMs = performance.now() - sent;
    expect(overdue()[0]).toMatchObject({
      level: 40,
      queue: 'logs',
      range: [100, 199],
      attempt: 2,
      lease: 3,
      leaseMs: 50,
    });
    // The deadline counts from the dispatch's arrival, so the line comes no sooner than the lease
    // after the send; the handler started after the arrival, so it ran no longer than the test saw.
    expect(seenAfterMs).toBeGreaterThanOrEqual(49);
    expect(Number(overdue()[0]?.runningMs)).toBeGreaterThan(0);
    expect(Number(overdue()[0]?.runningMs)).toBeLessThanOrEqual(Math.ceil(seenAfterMs));
    release.resolve();
    await waitFor(() => framesOf(connection, 'results').length > 0);
    expect(overdue()).toHaveLength(1);
  });

  it('is not logged for handlers that finish within the lease', async () => {
    const { connection, lines } = await start(() => {}, 200);
    connection.send({ type: 'dispatch', lease: 1, queue: 'eth', ranges: [[1, 20]] });
    await waitFor(() => framesOf(connection, 'results').length > 0);
    // Wait out the deadline itself: the timer fires and finds nothing running.
    const past = performance.now() + 300;
    await waitFor(() => performance.now() > past, 1_000);
    expect(lines.some((l) => String(l.msg).startsWith('handler still running'))).toBe(false);
  });
});

/**
 * Connecting, refusals (a refused token ends the worker, anything else is retried), backoff, URL
 * rotation, bad frames and the heartbeat watchdog.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { Env } from '../../shared/config.js';
import { ConfigError, wsClose } from '../../shared/errors.js';
import { loadWorkerConfig } from '../../worker/config.js';
import { displayUrl, TOKEN_REFUSALS } from '../../worker/reconnect.js';
import { runWorker, type Worker } from '../../worker/worker.js';
import { FakeManager, type FakeManagerOptions, memoryLogger, waitFor } from './fake-manager.js';

const managers: FakeManager[] = [];
let worker: Worker | undefined;

afterEach(async () => {
  await worker?.stop();
  worker = undefined;
  for (const manager of managers.splice(0)) {
    expect(manager.badFrames).toEqual([]);
    await manager.close();
  }
});

async function fakeManager(options: FakeManagerOptions = {}): Promise<FakeManager> {
  const manager = await FakeManager.start(options);
  managers.push(manager);
  return manager;
}

function start(urls: string[], env: Env = {}) {
  const { log, lines } = memoryLogger();
  const config = loadWorkerConfig({ BLOCKRUNNER_MANAGER_URL: urls.join(','), ...env });
  worker = runWorker(config, () => {}, log);
  return { worker, lines };
}

function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - (times[i] as number));
}

/** A URL where nothing listens. */
async function deadUrl(): Promise<string> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `ws://127.0.0.1:${port}/v1/ws`;
}

describe('reconnect', () => {
  it('retries a refused upgrade with growing delays, then resets the backoff once welcomed', async () => {
    // 503: a standby, or a manager starting; retried for as long as it takes.
    const manager = await fakeManager({ refuse: (attempt) => (attempt <= 4 ? 503 : undefined) });
    const { lines } = start([manager.url]);
    const first = await manager.connection(0);

    // Backoff: 100 ms doubling, times a random 1..2, so each gap is at least 100 * 2^i.
    const refused = gaps(manager.attempts.slice(0, 5));
    refused.forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(100 * 2 ** i * 0.95);
    });
    const warnings = lines.filter((l) => l.msg === 'cannot connect to the manager, retrying');
    expect(warnings).toHaveLength(4);
    expect(warnings[0]).toMatchObject({ status: 503, attempt: 1 });
    expect(String(warnings[0]?.err)).toContain('refused by the fake manager: 503');

    // Four failures consumed: without a reset the next delay would be at least 1600 ms.
    const goingAway = wsClose('BR_WS_GOING_AWAY', 'manager stopping');
    first.socket.close(goingAway.code, goingAway.reason);
    await waitFor(() => first.closedAt !== undefined);
    await manager.connection(1);
    expect((manager.attempts[5] as number) - (first.closedAt as number)).toBeLessThan(400);
    await waitFor(() => lines.filter((l) => l.msg === 'worker connected').length === 2);
  });

  it('gives up after TOKEN_REFUSALS refused tokens, with a ConfigError naming BLOCKRUNNER_WORKER_TOKEN', async () => {
    const manager = await fakeManager({ refuse: () => 401 });
    const { worker: refused, lines } = start([manager.url]);
    const failure = await refused.done.then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(manager.attempts).toHaveLength(TOKEN_REFUSALS);
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure?.message).toMatch(/^BLOCKRUNNER_WORKER_TOKEN was refused by the manager/);
    const retried = lines.filter((l) => l.msg === 'cannot connect to the manager, retrying');
    expect(retried).toHaveLength(TOKEN_REFUSALS - 1);
  });

  it('counts refused tokens since the last welcome only', async () => {
    // Two refusals, a welcome, then two more: never three in a row without a welcome.
    const manager = await fakeManager({
      refuse: (attempt) => ([1, 2, 4, 5].includes(attempt) ? 401 : undefined),
    });
    const { worker: kept, lines } = start([manager.url]);
    const first = await manager.connection(0);
    const goingAway = wsClose('BR_WS_GOING_AWAY', 'manager stopping');
    first.socket.close(goingAway.code, goingAway.reason);
    await manager.connection(1);
    await waitFor(() => lines.filter((l) => l.msg === 'worker connected').length === 2);
    expect(manager.attempts).toHaveLength(6);
    // Still running: `done` has not settled.
    const settled = await Promise.race([
      kept.done.then(
        () => true,
        () => true,
      ),
      new Promise<false>((resolve) => setImmediate(() => resolve(false))),
    ]);
    expect(settled).toBe(false);
  });

  it('tries the next URL after a failed attempt', async () => {
    const dead = await deadUrl();
    const manager = await fakeManager();
    const { lines } = start([dead, manager.url]);
    await manager.connection(0);
    await waitFor(() => lines.some((l) => l.msg === 'worker connected'));
    expect(lines.find((l) => l.msg === 'worker connected')?.url).toBe(manager.url);
    expect(lines.find((l) => l.msg === 'cannot connect to the manager, retrying')?.url).toBe(dead);
  });

  it('backs off when the manager closes with 4426 before the welcome, logging the reason', async () => {
    const manager = await fakeManager({
      onHello: (c) => {
        const { code, reason } = wsClose('BR_WS_UNSUPPORTED_PROTOCOL', 'expected 2');
        c.socket.close(code, reason);
      },
    });
    const { lines } = start([manager.url]);
    await waitFor(() => manager.attempts.length >= 3);
    for (const gap of gaps(manager.attempts)) expect(gap).toBeGreaterThanOrEqual(95);
    expect(lines.find((l) => l.msg === 'cannot connect to the manager, retrying')).toMatchObject({
      closeCode: 4426,
      reason: 'unsupported_protocol: expected 2',
    });
  });

  it('closes with 4400 on a bad manager frame and reconnects after a backoff', async () => {
    const manager = await fakeManager();
    start([manager.url]);
    const first = await manager.connection(0);
    first.socket.send(JSON.stringify({ type: 'dispatch', lease: 0, queue: 'x', ranges: [[1, 1]] }));
    await waitFor(() => first.close !== undefined);
    expect(first.close?.code).toBe(4400);
    expect(first.close?.reason).toMatch(/^bad_frame: /);
    await manager.connection(1);
    expect((manager.attempts[1] as number) - (first.closedAt as number)).toBeGreaterThanOrEqual(95);
  });

  it('drops a link silent for 2.5 heartbeats and reconnects', async () => {
    // The welcome's interval counts, not the worker's own setting.
    const manager = await fakeManager({ heartbeatMs: 100 });
    start([manager.url], { BLOCKRUNNER_HEARTBEAT_MS: '60000' });
    const first = await manager.connection(0);
    await waitFor(() => first.closedAt !== undefined);
    expect(first.close?.code).toBe(1006); // terminated, no close frame
    expect((first.closedAt as number) - first.openedAt).toBeGreaterThanOrEqual(240);
    await manager.connection(1);
  });

  it('keeps a link that the manager pings', async () => {
    const manager = await fakeManager();
    const { lines } = start([manager.url], { BLOCKRUNNER_HEARTBEAT_MS: '100' });
    const first = await manager.connection(0);
    const pinger = setInterval(() => first.socket.ping(), 50);
    try {
      const until = performance.now() + 600;
      await waitFor(() => performance.now() > until || first.close !== undefined, 2_000);
    } finally {
      clearInterval(pinger);
    }
    expect(first.close).toBeUndefined();
    expect(manager.connections).toHaveLength(1);
    expect(lines.some((l) => l.msg === 'worker disconnected, reconnecting')).toBe(false);
  });

  it('stop() ends a backoff wait and a connect still in flight', async () => {
    const manager = await fakeManager({ refuse: () => 503 });
    const { worker } = start([manager.url]);
    await waitFor(() => manager.attempts.length >= 2);
    await worker.stop();
    const attempts = manager.attempts.length;
    // Nothing is left to try again: wait past the longest delay the next attempt could have.
    const until = performance.now() + 500;
    await waitFor(() => performance.now() > until, 1_000);
    expect(manager.attempts.length).toBe(attempts);

    const silent = await fakeManager({ welcome: false });
    const second = start([silent.url]);
    await silent.connection(0);
    await second.worker.stop();
    await waitFor(() => silent.connections[0]?.close !== undefined);
  });

  it('logs URLs without credentials', () => {
    expect(displayUrl('wss://user:pass@example.com:9/v1/ws?token=abc')).toBe(
      'wss://example.com:9/v1/ws',
    );
  });
});

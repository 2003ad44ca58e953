/**
 * BLOCKRUNNER_HEALTH_PORT (worker/health-server.ts) on a real `blockrunner worker` against real
 * managers: /healthz answers while the process runs, /readyz only while a leading manager has
 * the worker linked (not while it waits on a standby, not once its manager is gone), and the
 * settings it cannot serve stop the worker with exit 2 and one line naming the variable.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/ports.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase | undefined;

afterEach(async () => {
  await stopAll();
  await db?.drop();
  db = undefined;
});

async function probe(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.json() };
}

/** Waits until `path` answers `status` on `port`. */
function answers(port: number, path: string, status: number, message: string): Promise<unknown> {
  return waitFor(
    async () => {
      const answer = await probe(port, path);
      return answer.status === status ? answer : undefined;
    },
    { timeoutMs: 15_000, message },
  );
}

describe('the worker health port', () => {
  it('is ready while a leader has the worker linked, and only alive once the manager is gone', async () => {
    db = await createTestDatabase();
    const manager = await startManager({ databaseUrl: db.url });
    const port = await freePort();
    const worker = await startWorker({
      managerUrl: manager.wsUrl,
      env: { BLOCKRUNNER_HEALTH_PORT: String(port), BLOCKRUNNER_HEARTBEAT_MS: '15000' },
    });
    const listening = await worker.waitForLog((entry) => entry.msg === 'health server listening');
    expect(listening.port).toBe(port);

    expect(await probe(port, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await answers(port, '/readyz', 200, 'the linked worker is ready')).toEqual({
      status: 200,
      body: { status: 'ready' },
    });
    expect((await probe(port, '/nothing')).status).toBe(404);
    const head = await fetch(`http://127.0.0.1:${port}/readyz`, { method: 'HEAD' });
    expect(head.status).toBe(200);

    // The manager dies: the link closes, the worker keeps retrying, alive but not ready.
    await manager.kill();
    expect(await answers(port, '/readyz', 503, 'the unlinked worker is not ready')).toEqual({
      status: 503,
      body: { status: 'not ready' },
    });
    expect(await probe(port, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });

    // A graceful stop closes the port with the process.
    expect(await worker.stop()).toEqual({ code: 0, signal: null });
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('is not ready while its only manager is a standby, and ready once that one leads', async () => {
    db = await createTestDatabase();
    const leader = await startManager({ databaseUrl: db.url });
    const standby = await startManager({ databaseUrl: db.url, waitForReady: false });
    await standby.waitForLog((entry) => String(entry.msg).startsWith('standby'), 10_000);
    const port = await freePort();
    // Pointed at the standby alone: refused at the upgrade (503) and retrying.
    await startWorker({
      managerUrl: standby.wsUrl,
      env: { BLOCKRUNNER_HEALTH_PORT: String(port) },
      waitForConnected: false,
    });
    await answers(port, '/healthz', 200, 'the worker is alive');
    expect((await probe(port, '/readyz')).status).toBe(503);

    await leader.kill();
    await answers(port, '/readyz', 200, 'ready once the standby took over and welcomed it');
  });

  it('refuses a port in use and BLOCKRUNNER_PROCESSES above 1, with exit 2 and one line', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const inUse = await startWorker({
        managerUrl: 'ws://127.0.0.1:9/v1/ws',
        env: { BLOCKRUNNER_HEALTH_PORT: String(port) },
        waitForConnected: false,
      });
      expect(await inUse.exited).toEqual({ code: 2, signal: null });
      const lines = inUse.logs().filter((line) => line.includes('BLOCKRUNNER_HEALTH_PORT'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`cannot listen on ${port} (EADDRINUSE)`);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }

    const supervised = await startWorker({
      managerUrl: 'ws://127.0.0.1:9/v1/ws',
      env: { BLOCKRUNNER_HEALTH_PORT: String(await freePort()), BLOCKRUNNER_PROCESSES: '2' },
      waitForConnected: false,
    });
    expect(await supervised.exited).toEqual({ code: 2, signal: null });
    expect(supervised.logs().join('\n')).toContain(
      'BLOCKRUNNER_HEALTH_PORT: serves one worker process; unset it or set BLOCKRUNNER_PROCESSES=1',
    );
  });
});

/**
 * The manager refills a worker once for all the results frames it read together: one dispatch
 * (one lease) for the capacity they freed, not one per results frame. A raw WebSocket client
 * plays the worker so that two results frames can leave in one TCP write.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type DispatchFrame, heightsIn, PROTOCOL_VERSION } from '../../shared/protocol.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { type ManagerProcess, startManager, stopAll } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase;
let manager: ManagerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
  await api(manager.url).post('/v1/queues/refill/heights', { from: 0, to: 99 });
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

/** Dispatch frames in arrival order; `next()` waits for the next one. */
function dispatches(ws: WebSocket) {
  const received: DispatchFrame[] = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { type: string };
    if (frame.type !== 'dispatch') return;
    received.push(frame as DispatchFrame);
  });
  let taken = 0;
  return async (): Promise<DispatchFrame> => {
    await waitFor(() => received.length > taken, {
      timeoutMs: 10_000,
      intervalMs: 5,
      message: `dispatch number ${taken + 1}`,
    });
    return received[taken++] as DispatchFrame;
  };
}

it('answers results frames read together with one dispatch', async () => {
  const ws = new WebSocket(manager.wsUrl);
  await new Promise((resolve) => ws.once('open', resolve));
  const next = dispatches(ws);
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      name: 'raw',
      queues: ['refill'],
      capacity: 4,
    }),
  );
  const first = await next();
  expect(first.ranges).toEqual([[0, 3]]);
  const results = (lease: number, height: number) =>
    JSON.stringify({ type: 'results', lease, done: [[height, height]], failed: [] });

  ws.send(results(first.lease, 0));
  const second = await next();
  expect(second.ranges).toEqual([[4, 4]]);

  // Two results frames of two leases in one TCP write: the manager reads them in one turn.
  const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
  socket.cork();
  ws.send(results(first.lease, 1));
  ws.send(results(second.lease, 4));
  socket.uncork();
  const third = await next();
  expect(third.ranges).toEqual([[5, 6]]);
  expect(heightsIn(third.ranges ?? [])).toBe(2);
  ws.close();
});

/**
 * The `welcome` frame of a real manager (docs/protocol.md, "Connecting"): it carries the
 * manager's own BLOCKRUNNER_LEASE_MS and BLOCKRUNNER_HEARTBEAT_MS, and the manager pings the link
 * at that heartbeat, so a worker in any language can watch for a half-open link.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, welcomeFrameSchema } from '../../shared/protocol.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type ManagerProcess, startManager, stopAll } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const HEARTBEAT_MS = 300;
const LEASE_MS = 4_321;

let db: TestDatabase;
let manager: ManagerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({
    databaseUrl: db.url,
    env: { BLOCKRUNNER_HEARTBEAT_MS: String(HEARTBEAT_MS), BLOCKRUNNER_LEASE_MS: String(LEASE_MS) },
  });
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

it("welcome carries the manager's heartbeatMs and leaseMs, and pings come at that interval", async () => {
  const ws = new WebSocket(manager.wsUrl);
  const frames: unknown[] = [];
  const pings: number[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  ws.on('ping', () => pings.push(performance.now()));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  try {
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        name: 'welcome-test',
        queues: ['default'],
        capacity: 1,
      }),
    );
    const welcome = await waitFor(() => frames[0], { timeoutMs: 10_000, message: 'the welcome' });
    expect(welcomeFrameSchema.parse(welcome)).toEqual({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      workerId: expect.any(String),
      leaseMs: LEASE_MS,
      heartbeatMs: HEARTBEAT_MS,
    });
    // Pings every heartbeat: three of them take about two intervals after the first.
    await waitFor(() => pings.length >= 3, { timeoutMs: 10_000, message: 'three pings' });
    const gap = ((pings[2] as number) - (pings[0] as number)) / 2;
    expect(gap).toBeGreaterThan(HEARTBEAT_MS * 0.5);
    expect(gap).toBeLessThan(HEARTBEAT_MS * 3);
  } finally {
    ws.close();
  }
});

/**
 * Range deltas on the worker link (docs/protocol.md, "Range deltas"): a sparse queue drains
 * through real worker processes that said `deltas` in hello, every height run exactly once;
 * a raw link that said it gets its dispatches as deltas and may answer with doneDeltas; one that
 * did not gets pairs and is closed with 4400 for a doneDeltas.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type DispatchFrame,
  managerFrameSchema,
  PROTOCOL_VERSION,
  parseFrame,
} from '../../shared/protocol.js';
import { pairsOfDeltas } from '../../shared/range-codec.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import {
  logEntries,
  type ManagerProcess,
  startManager,
  startWorker,
  stopAll,
} from '../helpers/processes.js';
import { queueSummary, waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

const recordStarts = fileURLToPath(new URL('../fixtures/record-starts.mjs', import.meta.url));
const HEIGHTS = 20_000;
const PER_REQUEST = 5_000;

let db: TestDatabase;
let manager: ManagerProcess;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
  dir = mkdtempSync(join(tmpdir(), 'blockrunner-deltas-'));
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

it('drains a sparse queue through workers that speak range deltas, each height run once', async () => {
  const client = api(manager.url);
  const expected: number[] = [];
  for (let r = 0; r < HEIGHTS / PER_REQUEST; r++) {
    const heights = Array.from({ length: PER_REQUEST }, (_, i) => 2 * (r * PER_REQUEST + i) + 1);
    expected.push(...heights);
    const answer = await client.post('/v1/queues/sparse/heights', { heights });
    expect(answer.status).toBe(202);
  }
  const files = [join(dir, 'a.txt'), join(dir, 'b.txt')];
  for (const file of files) {
    await startWorker({
      managerUrl: manager.wsUrl,
      env: {
        BLOCKRUNNER_QUEUES: 'sparse',
        BLOCKRUNNER_HANDLER: recordStarts,
        BLOCKRUNNER_CONCURRENCY: '16',
        BLOCKRUNNER_PREFETCH: '512',
        TEST_RECORD_FILE: file,
        TEST_SLEEP_MS: '0',
      },
    });
  }
  await waitForQueue(manager.url, (s) => s.done === HEIGHTS, 'the sparse queue drained', {
    queue: 'sparse',
    timeoutMs: 60_000,
  });
  // Both links negotiated deltas, so every dispatch and results frame of the drain used them.
  const connected = logEntries(manager).filter((entry) => entry.msg === 'worker connected');
  expect(connected.map((entry) => entry.deltas)).toEqual([true, true]);
  const ran = files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => Number(line.split(' ')[0])),
  );
  expect(ran.length).toBe(HEIGHTS);
  expect(ran.sort((a, b) => a - b)).toEqual(expected);
  expect(await queueSummary(manager.url, 'sparse')).toMatchObject({
    done: HEIGHTS,
    pending: 0,
    leased: 0,
    failed: 0,
  });
});

/** A raw link to the manager: its hello, then the frames it gets, parsed. */
async function rawLink(queue: string, deltas: boolean) {
  const ws = new WebSocket(manager.wsUrl);
  const frames: unknown[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      name: `raw-${queue}`,
      queues: [queue],
      capacity: 8,
      ...(deltas ? { deltas: true } : {}),
    }),
  );
  /** The first dispatch, checked as a worker checks it. */
  const dispatch = async (): Promise<DispatchFrame> => {
    const found = await waitFor(
      () => frames.find((f) => (f as { type: string }).type === 'dispatch'),
      { timeoutMs: 10_000, message: `a dispatch for ${queue}` },
    );
    const parsed = parseFrame(managerFrameSchema, JSON.stringify(found));
    if (!parsed.ok || parsed.frame.type !== 'dispatch') throw new Error('not a valid dispatch');
    return parsed.frame;
  };
  return { ws, closed, dispatch };
}

describe('negotiation', () => {
  it('a link that said deltas gets deltas and may answer with doneDeltas', async () => {
    const client = api(manager.url);
    await client.post('/v1/queues/raw-deltas/heights', { heights: [10, 12, 14, 15, 16, 30] });
    const link = await rawLink('raw-deltas', true);
    const first = await link.dispatch();
    expect(first.ranges).toBeUndefined();
    expect(first.deltas).toEqual([10, 0, 2, 0, 2, 2, 14, 0]);
    const done = pairsOfDeltas(first.deltas ?? []);
    expect(done).toEqual([
      [10, 10],
      [12, 12],
      [14, 16],
      [30, 30],
    ]);
    link.ws.send(
      JSON.stringify({ type: 'results', lease: first.lease, doneDeltas: first.deltas, failed: [] }),
    );
    await waitForQueue(manager.url, (s) => s.done === 6, 'raw results taken', {
      queue: 'raw-deltas',
      timeoutMs: 10_000,
    });
    expect(link.ws.readyState).toBe(WebSocket.OPEN);
    link.ws.close();
  });

  it('a link that did not say deltas gets pairs, and a doneDeltas closes it with 4400', async () => {
    const client = api(manager.url);
    await client.post('/v1/queues/raw-pairs/heights', { heights: [3, 5] });
    const link = await rawLink('raw-pairs', false);
    const first = await link.dispatch();
    expect(first.deltas).toBeUndefined();
    expect(first.ranges).toEqual([
      [3, 3],
      [5, 5],
    ]);
    link.ws.send(
      JSON.stringify({ type: 'results', lease: first.lease, doneDeltas: [3, 0, 2, 0], failed: [] }),
    );
    const closed = await link.closed;
    expect(closed).toEqual({
      code: 4400,
      reason: 'bad_frame: doneDeltas: the hello did not say deltas',
    });
    // Nothing was taken from it: the heights went back on the close, none done.
    await waitForQueue(manager.url, (s) => s.leased === 0, 'heights back after the close', {
      queue: 'raw-pairs',
      timeoutMs: 10_000,
    });
    expect(await queueSummary(manager.url, 'raw-pairs')).toMatchObject({ done: 0, pending: 2 });
  });
});

/**
 * A range handler against a node that refuses ranges over 1,000 heights ("block range too
 * large"): every height is covered exactly once by a successful call, a poison height ends
 * dead-lettered alone while its neighbours finish, and the queue finds the working size in a
 * handful of refused calls (docs/workers.md, "Range handlers").
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';

const rangeLogs = fileURLToPath(new URL('../fixtures/range-logs.mjs', import.meta.url));
const MAX_RANGE = 1_000;
const POISON = 12_345;
const LAST = 19_999;

interface LogServer {
  url: string;
  /** Ranges answered 200, in the order they were asked. */
  served: [number, number][];
  tooLarge: number;
  poisoned: number;
  close(): Promise<void>;
}

/** In-process: what it records is counts and ranges, not times. */
async function startLogServer(): Promise<LogServer> {
  const state = { served: [] as [number, number][], tooLarge: 0, poisoned: 0 };
  const server: Server = createServer((request, response) => {
    const query = new URL(request.url ?? '/', 'http://x').searchParams;
    const from = Number(query.get('from'));
    const to = Number(query.get('to'));
    if (to - from + 1 > MAX_RANGE) {
      state.tooLarge++;
      response.writeHead(400).end('block range too large');
    } else if (from <= POISON && POISON <= to) {
      state.poisoned++;
      response.writeHead(500).end(`cannot decode the logs of block ${POISON}`);
    } else {
      state.served.push([from, to]);
      response.writeHead(200, { 'content-type': 'application/json' }).end('[]');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get served() {
      return state.served;
    },
    get tooLarge() {
      return state.tooLarge;
    },
    get poisoned() {
      return state.poisoned;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await stopAll();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('range handlers', () => {
  it('covers every height once, dead-letters a poison height alone and learns the range size', async () => {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    const logs = await startLogServer();
    cleanups.push(logs.close);
    const manager = await startManager({
      databaseUrl: db.url,
      env: {
        BLOCKRUNNER_MAX_ATTEMPTS: '3',
        BLOCKRUNNER_RETRY_BASE_MS: '5',
        BLOCKRUNNER_RETRY_MAX_MS: '20',
      },
    });
    const worker = await startWorker({
      managerUrl: manager.wsUrl,
      env: {
        BLOCKRUNNER_HANDLER: rangeLogs,
        BLOCKRUNNER_QUEUES: 'logs',
        BLOCKRUNNER_CONCURRENCY: '2',
        TEST_LOGS_URL: logs.url,
      },
    });
    const client = api(manager.url);
    const put = await client.put('/v1/queues/logs/settings', { rangeSize: 5_000 });
    expect(put.status).toBe(200);
    await client.post('/v1/queues/logs/heights', { from: 0, to: LAST });

    const summary = await waitForQueue(
      manager.url,
      (s) => s.done === LAST && s.failed === 1,
      'every height but the poison one done, the poison one dead-lettered',
      { queue: 'logs', timeoutMs: 30_000 },
    ).catch((error: Error) => {
      // What the processes said is what tells a stuck lease from a slow run.
      const served = `${logs.served.length} ranges served, ${logs.tooLarge} refused as too large, ${logs.poisoned} poisoned`;
      throw new Error(
        `${error.message}\n${served}\n${manager.describe(40)}\n${worker.describe(40)}`,
      );
    });
    expect(summary).toMatchObject({ pending: 0, leased: 0, retrying: 0 });

    const failed = (await client.get('/v1/queues/logs/failed')).body as {
      items: { height: number; attempts: number; lastError: string }[];
    };
    expect(failed.items).toEqual([
      {
        height: POISON,
        attempts: 3,
        lastError: `${POISON}..${POISON}: cannot decode the logs of block ${POISON}`,
      },
    ]);

    // Every height but the poison one in exactly one successful call.
    const served = [...logs.served].sort((a, b) => a[0] - b[0]);
    let next = 0;
    for (const [from, to] of served) {
      if (next === POISON) next++;
      expect(from).toBe(next);
      expect(to - from + 1).toBeLessThanOrEqual(MAX_RANGE);
      next = to + 1;
    }
    expect(next).toBe(LAST + 1);

    // The queue remembered the size: a handful of refusals over 20 calls or more, no more.
    expect(logs.tooLarge).toBeGreaterThan(0);
    expect(logs.tooLarge).toBeLessThanOrEqual(8);
    // The poison height's calls: one per halving of a call of at most 4,000 heights (the
    // worker's capacity), then its 3 attempts alone.
    expect(logs.poisoned).toBeLessThanOrEqual(12 + 3);
    const { effectiveRangeSize } = (await client.get(`/v1/queues/logs`)).body as {
      effectiveRangeSize: number;
    };
    console.log(
      `range handler, node limit ${MAX_RANGE} heights per call: ${served.length} calls served every height once, ${logs.tooLarge} refused as too large, ${logs.poisoned} calls met the poison height, effective range size ${effectiveRangeSize} at the end`,
    );
    // Still well below the 5,000 asked: it grows back 10% per 10 calls that succeed, and each
    // step past 1,000 meets a refusal again (how far it got depends on the machine's pace).
    expect(effectiveRangeSize).toBeLessThan(2_500);

    // A restarted manager starts the queue at the size the node served, not at 5,000 again.
    await manager.stop();
    const restarted = await startManager({ databaseUrl: db.url });
    const after = (await api(restarted.url).get('/v1/queues/logs')).body as {
      effectiveRangeSize: number;
      settings: { rangeSize: number };
    };
    expect(after.settings.rangeSize).toBe(5_000);
    expect(after.effectiveRangeSize).toBe(effectiveRangeSize);
  });
});

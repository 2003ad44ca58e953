/**
 * Thousands of hostile HTTP bodies and WebSocket frames, generated with fast-check: each is
 * answered with a 4xx or a close code (or, when it happens to be valid, handled as such), the
 * manager keeps serving, and the counts of a queue nobody may touch stay as they were.
 * The oracle for "valid" is the very zod schema the manager validates with.
 */
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { enqueueBodySchema } from '../../manager/http/schemas.js';
import { PROTOCOL_VERSION, workerFrameSchema } from '../../shared/protocol.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { type ManagerProcess, startManager, stopAll } from '../helpers/processes.js';
import { queueSummary, waitForQueue } from '../helpers/queues.js';
import { waitFor } from '../helpers/wait.js';

let db: TestDatabase;
let manager: ManagerProcess;
let before: Awaited<ReturnType<typeof queueSummary>>;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
  await api(manager.url).post('/v1/queues/guarded/heights', { from: 0, to: 999 });
  before = await queueSummary(manager.url, 'guarded');
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

const height = fc.oneof(
  fc.integer({ min: 0, max: 1_000 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(2 ** 53, 2 ** 53 - 1, -1, 1e308, Number.NaN),
  fc.string(),
);
const hostileBody = fc.oneof(
  fc.jsonValue(),
  fc.record({ from: height, to: height }, { requiredKeys: [] }),
  fc.record(
    { heights: fc.array(height, { maxLength: 5 }), force: fc.anything() },
    { requiredKeys: [] },
  ),
  fc.record({ ranges: fc.array(fc.record({ from: height, to: height }), { maxLength: 3 }) }),
  fc.dictionary(fc.string(), fc.jsonValue()),
);
const queueName = fc.oneof(
  fc.constantFrom('other', 'x', 'a-b_c'),
  fc.stringMatching(/^[a-z0-9_-]{0,70}$/),
);

describe('hostile HTTP bodies', () => {
  it('answers each with 202 when valid, else a 4xx in Fastify shape', async () => {
    const client = api(manager.url);
    await fc.assert(
      fc.asyncProperty(hostileBody, queueName, async (body, queue) => {
        fc.pre(queue !== 'guarded');
        const json = JSON.stringify(body);
        const answer = await client.postRaw(
          `/v1/queues/${encodeURIComponent(queue)}/heights`,
          json ?? 'null',
          'application/json',
        );
        const valid =
          /^[a-z0-9][a-z0-9_-]{0,62}$/.test(queue) &&
          enqueueBodySchema.safeParse(JSON.parse(json ?? 'null')).success;
        if (valid) {
          expect(answer.status).toBe(202);
        } else {
          expect(answer.status).toBeGreaterThanOrEqual(400);
          expect(answer.status).toBeLessThan(500);
          expect(answer.body).toMatchObject({
            statusCode: answer.status,
            code: expect.stringMatching(/^BR_ERR_/),
          });
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('answers the whole height range, enqueued twice, with its counts (2^53 heights)', async () => {
    const client = api(manager.url);
    const all = { from: 0, to: Number.MAX_SAFE_INTEGER };
    const first = await client.post('/v1/queues/every-height/heights', all);
    expect(first).toMatchObject({ status: 202, body: { added: 2 ** 53, skipped: 0 } });
    const again = await client.post('/v1/queues/every-height/heights', all);
    expect(again).toMatchObject({ status: 202, body: { added: 0, skipped: 2 ** 53 } });
  });

  it('answers raw garbage and oversize bodies with 4xx', async () => {
    const client = api(manager.url);
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (raw) => {
        let parses = true;
        try {
          JSON.parse(raw);
        } catch {
          parses = false;
        }
        fc.pre(!parses);
        const answer = await client.postRaw('/v1/queues/other/heights', raw, 'application/json');
        expect(answer.status).toBe(400);
      }),
      { numRuns: 500 },
    );
    const huge = JSON.stringify({ heights: Array.from({ length: 1_000_000 }, (_, i) => i) });
    expect(await postOversize('/v1/queues/other/heights', huge)).toMatchObject({
      status: 413,
      body: { code: 'BR_ERR_BODY_TOO_LARGE' },
    });
  });
});

/**
 * The manager answers 413 from the Content-Length alone, before reading the body: send the
 * headers and a first piece, read the answer, then drop the rest.
 */
function postOversize(path: string, body: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${manager.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    request.once('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        text += chunk;
      });
      response.once('end', () => {
        request.destroy();
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) });
      });
    });
    request.once('error', reject);
    request.write(body.slice(0, 1024));
  });
}

interface Link {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  frames: { type: string; lease?: number; ranges?: [number, number][] }[];
}

async function connect(queues: string[], capacity: number): Promise<Link> {
  const ws = new WebSocket(manager.wsUrl);
  const frames: Link['frames'] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      name: 'hostile',
      queues,
      capacity,
    }),
  );
  await waitFor(() => frames.some((f) => f.type === 'welcome'), {
    timeoutMs: 10_000,
    intervalMs: 5,
    message: 'the welcome frame',
  });
  return { ws, closed, frames };
}

/** Resolves with the close, or 'open' once a ping came back (the frame was taken in). */
function outcome(link: Link): Promise<{ code: number; reason: string } | 'open'> {
  const pong = new Promise<'open'>((resolve) => link.ws.once('pong', () => resolve('open')));
  link.ws.ping();
  return Promise.race([link.closed, pong]);
}

const hostileFrame = fc.oneof(
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.string({ maxLength: 100 }),
  fc
    .record(
      {
        type: fc.constantFrom('results', 'release', 'hello', 'dispatch', 'nope'),
        lease: height,
        done: fc.array(fc.oneof(height, fc.tuple(height, height)), { maxLength: 4 }),
        failed: fc.array(fc.record({ height, error: fc.string() }), { maxLength: 2 }),
        ranges: fc.array(fc.tuple(height, height), { maxLength: 4 }),
      },
      { requiredKeys: ['type'] },
    )
    .map((frame) => JSON.stringify(frame)),
);

describe('hostile WebSocket frames', () => {
  it('closes with 4400 for each invalid frame, and takes in valid ones without effect', async () => {
    let link = await connect(['other'], 4);
    let closes = 0;
    await fc.assert(
      fc.asyncProperty(hostileFrame, async (text) => {
        link.ws.send(text);
        const result = await outcome(link);
        let parsed: ReturnType<typeof workerFrameSchema.safeParse> | undefined;
        try {
          parsed = workerFrameSchema.safeParse(JSON.parse(text));
        } catch {
          parsed = undefined;
        }
        if (parsed?.success && parsed.data.type !== 'hello') {
          expect(result).toBe('open');
        } else {
          expect(result).toMatchObject({ code: 4400, reason: expect.stringMatching(/^bad_frame/) });
          closes++;
          link = await connect(['other'], 4);
        }
      }),
      { numRuns: 600 },
    );
    link.ws.close();
    expect(closes).toBeGreaterThan(100);
  });

  it('refuses a frame over the size limit with 1009', async () => {
    const link = await connect(['other'], 4);
    link.ws.send('x'.repeat(17 * 1024 * 1024));
    expect((await link.closed).code).toBe(1009);
  });

  it('ignores results for leases the sender does not hold', async () => {
    const holder = await connect(['guarded'], 10);
    await waitFor(() => holder.frames.some((f) => f.type === 'dispatch'), {
      timeoutMs: 10_000,
      intervalMs: 5,
      message: 'a dispatch to the holder',
    });
    const dispatch = holder.frames.find((f) => f.type === 'dispatch') as {
      lease: number;
      ranges: [number, number][];
    };
    const thief = await connect(['nothing-here'], 1);
    thief.ws.send(
      JSON.stringify({
        type: 'results',
        lease: dispatch.lease,
        done: dispatch.ranges,
        failed: [],
      }),
    );
    expect(await outcome(thief)).toBe('open');
    const during = await queueSummary(manager.url, 'guarded');
    expect(during).toMatchObject({ done: 0, leased: 10 });
    holder.ws.close();
    thief.ws.close();
    await holder.closed;
  });

  it('leaves the guarded queue as it was, and the manager serving', async () => {
    // The manager takes the holder's leases back when it sees the close: wait for that.
    const after = await waitForQueue(manager.url, (s) => s.leased === 0, 'leases handed back', {
      queue: 'guarded',
    });
    expect({ ...after, rate: 0 }).toEqual({ ...before, rate: 0 });
    expect((await api(manager.url).get('/readyz')).status).toBe(200);
  });
});

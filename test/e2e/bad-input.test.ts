/**
 * Malformed HTTP requests get a 4xx in Fastify's error shape with a stable code; malformed
 * WebSocket frames close the link with a code and a reason; the manager keeps serving and the
 * queue is unchanged by any of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../../shared/protocol.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { type ManagerProcess, startManager, stopAll } from '../helpers/processes.js';

let db: TestDatabase;
let manager: ManagerProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url });
  await api(manager.url).post('/v1/queues/chain/heights', { from: 0, to: 9 });
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

const badBodies: [string, unknown, number, string][] = [
  ['from > to', { from: 10, to: 5 }, 400, 'BR_ERR_RANGE_REVERSED'],
  ['a reversed range in a list', { ranges: [{ from: 3, to: 1 }] }, 400, 'BR_ERR_RANGE_REVERSED'],
  ['negative height', { from: -1, to: 5 }, 400, 'BR_ERR_VALIDATION'],
  ['fractional height', { heights: [1.5] }, 400, 'BR_ERR_VALIDATION'],
  ['height over 2^53', { from: 0, to: 2 ** 53 }, 400, 'BR_ERR_VALIDATION'],
  ['string height', { from: '0', to: 5 }, 400, 'BR_ERR_VALIDATION'],
  ['heights not a list', { heights: 5 }, 400, 'BR_ERR_VALIDATION'],
  ['empty object', {}, 400, 'BR_ERR_VALIDATION'],
  ['two forms at once', { from: 0, to: 1, heights: [3] }, 400, 'BR_ERR_VALIDATION'],
  ['unknown field', { from: 0, to: 1, priority: 9 }, 400, 'BR_ERR_VALIDATION'],
  ['force not a boolean', { from: 0, to: 1, force: 'yes' }, 400, 'BR_ERR_VALIDATION'],
  ['a JSON array', [1, 2, 3], 400, 'BR_ERR_VALIDATION'],
  [
    'too many heights',
    { heights: Array.from({ length: 100_001 }, (_, i) => i) },
    400,
    'BR_ERR_VALIDATION',
  ],
];

describe('bad HTTP input', () => {
  it.each(badBodies)('%s is refused', async (_name, body, status, code) => {
    const answer = await api(manager.url).post('/v1/queues/chain/heights', body);
    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({ statusCode: status, code, error: 'Bad Request' });
    expect(typeof (answer.body as { message: unknown }).message).toBe('string');
  });

  it('a bad height in a list is refused at its own place, and nothing of the list is added', async () => {
    const client = api(manager.url);
    for (const bad of [-1, 2.5, 2 ** 53, '7', null]) {
      const answer = await client.post('/v1/queues/listed/heights', { heights: [1, 2, bad, 4] });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ code: 'BR_ERR_VALIDATION' });
      expect((answer.body as { message: string }).message).toContain('heights.2');
    }
    const summary = await client.get('/v1/queues/listed');
    expect(summary.status).toBe(404);
  });

  it('broken JSON is refused with BR_ERR_INVALID_JSON', async () => {
    const answer = await api(manager.url).postRaw(
      '/v1/queues/chain/heights',
      '{"from": 1,',
      'application/json',
    );
    expect(answer).toMatchObject({
      status: 400,
      body: { statusCode: 400, code: 'BR_ERR_INVALID_JSON' },
    });
  });

  it('a form body is refused with 415, a text body with 400', async () => {
    const client = api(manager.url);
    const form = await client.postRaw(
      '/v1/queues/chain/heights',
      'from=1&to=2',
      'application/x-www-form-urlencoded',
    );
    expect(form).toMatchObject({ status: 415, body: { code: 'BR_ERR_UNSUPPORTED_MEDIA_TYPE' } });
    const text = await client.postRaw(
      '/v1/queues/chain/heights',
      '{"from":1,"to":2}',
      'text/plain',
    );
    expect(text).toMatchObject({ status: 400, body: { code: 'BR_ERR_VALIDATION' } });
  });

  it.each([
    ['Bad_Name', '/v1/queues/Bad_Name/heights'],
    ['a name too long', `/v1/queues/${'a'.repeat(64)}/heights`],
    ['a leading dash', '/v1/queues/-chain/heights'],
  ])('a queue name with %s is refused', async (_name, path) => {
    const answer = await api(manager.url).post(path, { from: 0, to: 1 });
    expect(answer).toMatchObject({ status: 400, body: { code: 'BR_ERR_VALIDATION' } });
  });

  it('query and path parameters are validated too', async () => {
    const client = api(manager.url);
    expect(await client.get('/v1/queues/chain/heights/abc')).toMatchObject({
      status: 400,
      body: { code: 'BR_ERR_VALIDATION' },
    });
    expect(await client.get('/v1/queues/chain/gaps?limit=0')).toMatchObject({
      status: 400,
      body: { code: 'BR_ERR_VALIDATION' },
    });
    expect(await client.get('/v1/queues/chain/failed?after=-3')).toMatchObject({
      status: 400,
      body: { code: 'BR_ERR_VALIDATION' },
    });
  });

  it('unknown queues, heights and routes are 404 with their own codes', async () => {
    const client = api(manager.url);
    expect(await client.get('/v1/queues/nope')).toMatchObject({
      status: 404,
      body: { code: 'BR_ERR_QUEUE_NOT_FOUND' },
    });
    expect(await client.get('/v1/queues/chain/heights/99')).toMatchObject({
      status: 404,
      body: { code: 'BR_ERR_HEIGHT_NOT_FOUND' },
    });
    expect(await client.get('/v1/nothing-here')).toMatchObject({
      status: 404,
      body: { code: 'BR_ERR_ROUTE_NOT_FOUND' },
    });
  });

  it.each([
    ['an evm source without its url', { kind: 'evm' }, 'body.url: an evm source needs its url'],
    [
      'a push source with a url',
      { kind: 'push', url: 'http://127.0.0.1:1' },
      'a push source has no url',
    ],
    ['an ftp url', { kind: 'evm', url: 'ftp://node' }, 'http://, https://, ws:// or wss://'],
    ['a negative confirmations', { kind: 'push', confirmations: -1 }, 'body.confirmations'],
    ['an unknown kind', { kind: 'solana' }, 'body.kind'],
    ['an unknown field', { kind: 'push', extra: 1 }, 'extra'],
  ])('a source body with %s is refused with 400 BR_ERR_VALIDATION', async (_name, body, words) => {
    const answer = await api(manager.url).put('/v1/queues/chain/source', body);
    expect(answer).toMatchObject({ status: 400, body: { code: 'BR_ERR_VALIDATION' } });
    expect((answer.body as { message: string }).message).toContain(words);
    expect((await api(manager.url).get('/v1/queues/chain/source')).status).toBe(404);
  });

  it('the chain routes answer 404 for an unknown queue or a queue without a source', async () => {
    const client = api(manager.url);
    for (const answer of [
      await client.get('/v1/queues/nope/reorgs'),
      await client.post('/v1/queues/nope/pause'),
      await client.post('/v1/queues/nope/resume'),
    ])
      expect(answer).toMatchObject({ status: 404, body: { code: 'BR_ERR_QUEUE_NOT_FOUND' } });
    for (const answer of [
      await client.get('/v1/queues/chain/source'),
      await client.delete('/v1/queues/chain/source'),
    ])
      expect(answer).toMatchObject({ status: 404, body: { code: 'BR_ERR_SOURCE_NOT_FOUND' } });
  });

  it('URLs Fastify refuses before routing get codes of the catalogue too', async () => {
    const client = api(manager.url);
    expect(await client.get('/v1/queues/%zz')).toMatchObject({
      status: 400,
      body: { statusCode: 400, code: 'BR_ERR_BAD_URL', error: 'Bad Request' },
    });
    expect(await client.get(`/v1/queues/${'a'.repeat(101)}`)).toMatchObject({
      status: 414,
      body: { statusCode: 414, code: 'BR_ERR_PARAM_TOO_LONG' },
    });
  });

  it('leaves the queue unchanged and the manager serving', async () => {
    const summary = await api(manager.url).get('/v1/queues/chain');
    expect(summary).toMatchObject({ status: 200, body: { queue: 'chain', pending: 10, done: 0 } });
    expect((await api(manager.url).get('/readyz')).status).toBe(200);
  });
});

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.once('error', reject);
  });
}

async function sendFrames(frames: string[]): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(manager.wsUrl);
  const closed = closeOf(ws);
  await new Promise((resolve) => ws.once('open', resolve));
  for (const frame of frames) ws.send(frame);
  return closed;
}

const hello = JSON.stringify({
  type: 'hello',
  protocol: PROTOCOL_VERSION,
  name: 't',
  queues: ['other'],
  capacity: 4,
});

describe('bad WebSocket frames', () => {
  it.each([
    ['not JSON', ['{nope'], 4400, /^bad_frame: not JSON/],
    ['an unknown frame type', ['{"type":"gimme"}'], 4400, /^bad_frame/],
    ['results before hello', ['{"type":"results","lease":1,"done":[],"failed":[]}'], 4400, /hello/],
    [
      'a hello without queues',
      ['{"type":"hello","protocol":1,"name":"x","queues":[],"capacity":1}'],
      4400,
      /queues/,
    ],
    [
      'a negative height',
      [hello, '{"type":"results","lease":1,"done":[[-1,0]],"failed":[]}'],
      4400,
      /done/,
    ],
    ['a second hello', [hello, hello], 4400, /hello sent twice/],
    [
      'a bare height where a range belongs',
      [hello, '{"type":"results","lease":1,"done":[7],"failed":[]}'],
      4400,
      /done/,
    ],
    [
      'an old protocol version',
      [hello.replace(`"protocol":${PROTOCOL_VERSION}`, '"protocol":1')],
      4426,
      /unsupported_protocol/,
    ],
  ])('%s closes the link', async (_name, frames, code, reason) => {
    const closed = await sendFrames(frames as string[]);
    expect(closed.code).toBe(code);
    expect(closed.reason).toMatch(reason as RegExp);
  });

  it('results for a lease the worker does not hold are ignored, the link stays', async () => {
    const ws = new WebSocket(manager.wsUrl);
    await new Promise((resolve) => ws.once('open', resolve));
    const welcome = new Promise((resolve) => ws.once('message', resolve));
    ws.send(hello);
    await welcome;
    ws.send(JSON.stringify({ type: 'results', lease: 424242, done: [[0, 2]], failed: [] }));
    const pong = new Promise((resolve) => ws.once('pong', resolve));
    ws.ping();
    await pong;
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
    const summary = await api(manager.url).get('/v1/queues/chain');
    expect(summary.body).toMatchObject({ pending: 10, done: 0 });
  });

  it('an upgrade on another path is refused with 404 before any frame', async () => {
    const ws = new WebSocket(manager.wsUrl.replace('/v1/ws', '/elsewhere'));
    const refusal = await new Promise<{ status?: number; body: string } | undefined>((resolve) => {
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      ws.once('error', () => resolve(undefined));
    });
    expect(refusal).toEqual({
      status: 404,
      body: 'BR_UPGRADE_NOT_FOUND: no WebSocket endpoint at /elsewhere; use /v1/ws\n',
    });
  });
});

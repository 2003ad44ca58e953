/**
 * The typed HTTP client, `blockrunner/client` (shared/client.ts, docs/workers.md "The HTTP
 * client"), against a real manager with an API token: each call's checked answer, the JSON
 * text beside it, and errors that say what went wrong (a missing token and a wrong one each
 * with their own hint, an unknown queue, a manager that is not there).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, Client } from '../../shared/client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/ports.js';
import { type ManagerProcess, startManager, stopAll } from '../helpers/processes.js';

const TOKEN = 'library-test-token';

let db: TestDatabase;
let manager: ManagerProcess;
let client: Client;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({
    databaseUrl: db.url,
    env: { BLOCKRUNNER_API_TOKEN: TOKEN },
  });
  client = new Client({ url: `${manager.url}/`, token: TOKEN });
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

async function failure(call: Promise<unknown>): Promise<Error> {
  const error = await call.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

describe('Client', () => {
  it('enqueues, reads summaries, dead letters and sources, each answer checked', async () => {
    expect(await client.enqueue('lib', { from: 0, to: 9 })).toEqual({
      queue: 'lib',
      added: 10,
      skipped: 0,
    });
    expect(await client.enqueue('lib', { heights: [9, 10] }, { lane: 'tip' })).toEqual({
      queue: 'lib',
      added: 1,
      skipped: 1,
    });
    expect(await client.enqueue('lib', { ranges: [{ from: 20, to: 21 }] })).toMatchObject({
      added: 2,
    });
    const summary = await client.summary('lib');
    expect(summary).toMatchObject({ queue: 'lib', pending: 13, done: 0, watermark: null });
    expect((await client.summaries()).map((s) => s.queue)).toEqual(['lib']);
    expect(await client.failed('lib', { limit: 10 })).toEqual({ items: [], next: null });
    expect(await client.retry('lib')).toEqual({ requeued: 0 });
    expect(await client.retry('lib', { from: 0, to: 5 })).toEqual({ requeued: 0 });

    const source = await client.setSource('lib', { kind: 'push', confirmations: 2 });
    expect(source).toMatchObject({ queue: 'lib', kind: 'push', confirmations: 2, head: null });
    expect((await client.source('lib')).kind).toBe('push');
    expect(await client.reorgs('lib', { limit: 5 })).toEqual([]);
    await client.deleteSource('lib');
    const gone = await failure(client.source('lib'));
    expect(gone).toBeInstanceOf(ApiError);
    expect((gone as ApiError).status).toBe(404);
  });

  it('gives the JSON text beside the body through client.answers', async () => {
    const { body, raw } = await client.answers.summary('lib');
    expect(JSON.parse(raw)).toMatchObject({ queue: body.queue, pending: body.pending });
  });

  it('says an unknown queue is unknown', async () => {
    const error = await failure(client.summary('nothing-here'));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.message).toMatch(/^BR_ERR_QUEUE_NOT_FOUND: /);
  });

  it('hints at the token when it is missing, and differently when it is wrong', async () => {
    const missing = await failure(new Client({ url: manager.url }).summaries());
    expect(missing).toMatchObject({ status: 401, answerCode: 'BR_ERR_UNAUTHORIZED' });
    expect(missing.message).toMatch(/ \(pass --token or set BLOCKRUNNER_API_TOKEN\)$/);

    const wrong = await failure(new Client({ url: manager.url, token: 'not-it' }).summaries());
    expect(wrong).toMatchObject({ status: 401, answerCode: 'BR_ERR_UNAUTHORIZED' });
    expect(wrong.message).toMatch(
      / \(the token given was refused: check --token or BLOCKRUNNER_API_TOKEN against the manager's\)$/,
    );
    expect(wrong.message).not.toContain('not-it');
  });

  it('names the address of a manager that is not there', async () => {
    // A port that was free a moment ago: nothing listens there.
    const url = `http://127.0.0.1:${await freePort()}`;
    const error = await failure(new Client({ url }).summaries());
    expect(error.message).toBe(
      `cannot reach the manager at ${url}: connection refused (is a manager running at that address?)`,
    );
  });
});

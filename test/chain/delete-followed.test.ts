/**
 * Deleting a queue that follows a real chain (anvil; docs/api.md, "Deleting a queue"): its
 * source follower stops, so blocks mined afterwards do not make the queue again, while another
 * queue following the same node sees them; its source and head rows are gone.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Anvil, startAnvil, stopAllAnvils } from '../helpers/anvil.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { type ManagerProcess, startManager, stopAll } from '../helpers/processes.js';
import { waitForQueue } from '../helpers/queues.js';

let anvil: Anvil;
let db: TestDatabase;
let manager: ManagerProcess;

beforeAll(async () => {
  [anvil, db] = await Promise.all([startAnvil(), createTestDatabase()]);
  manager = await startManager({ databaseUrl: db.url });
});

afterAll(async () => {
  await stopAll();
  await stopAllAnvils();
  await db?.drop();
});

it('stops the follower of a deleted queue: later blocks do not make it again', async () => {
  const client = api(manager.url);
  const source = { kind: 'evm', url: anvil.url, pollMs: 100 };
  const first = await anvil.mine(5);
  expect((await client.put('/v1/queues/followed/source', source)).status).toBe(200);
  // No worker serves it: its heights stay pending, the head is what the follower saw.
  await waitForQueue(manager.url, (s) => (s.head ?? -1) >= first, 'followed at the head', {
    queue: 'followed',
  });

  expect((await client.delete('/v1/queues/followed')).status).toBe(204);
  const later = await anvil.mine(3);
  // A live follower of the same node, polling as often, sees the new head...
  expect((await client.put('/v1/queues/probe/source', source)).status).toBe(200);
  await waitForQueue(manager.url, (s) => (s.head ?? -1) >= later, 'probe at the new head', {
    queue: 'probe',
  });
  // Two more blocks, each seen by the probe: more than two poll intervals have passed since.
  for (let i = 0; i < 2; i++) {
    const next = await anvil.mine(1);
    await waitForQueue(manager.url, (s) => (s.head ?? -1) >= next, `probe at ${next}`, {
      queue: 'probe',
    });
  }
  // ...and the deleted queue's follower did not: the queue was not made again.
  expect((await client.get('/v1/queues/followed')).status).toBe(404);
  const { rows } = await db.pool.query<{ n: string }>(
    `SELECT ((SELECT count(*) FROM queues WHERE name = 'followed')
           + (SELECT count(*) FROM queue_sources WHERE queue = 'followed'))::text AS n`,
  );
  expect(rows).toEqual([{ n: '0' }]);
  const list = (await client.get<{ queues: { queue: string }[] }>('/v1/queues')).body;
  expect(list.queues.map((q) => q.queue)).toEqual(['probe']);
});

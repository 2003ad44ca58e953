/**
 * checkOut (manager/store/check-out.ts): the 'error' listener is on the client in the turn the
 * pool hands it out. A pool that hands out a client and then, in the same synchronous run, has it
 * report an error (as the driver does when the server's "terminating connection" arrives in the
 * same read as the end of the connection's start-up) must not throw; with `await pool.connect()`
 * that error has no listener and is thrown.
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { checkOut } from '../../../manager/store/check-out.js';

/** Hands out a client, then makes it emit `error` before any microtask can run. */
function poolThatBreaksAtOnce(): { pool: pg.Pool; thrown: unknown[] } {
  const thrown: unknown[] = [];
  const pool = {
    connect(callback?: (error: Error | undefined, client: pg.PoolClient) => void) {
      const client = new EventEmitter() as unknown as pg.PoolClient;
      const handOut = (give: () => void) => {
        give();
        try {
          client.emit('error', new Error('terminating connection due to administrator command'));
        } catch (error) {
          thrown.push(error);
        }
      };
      if (callback) {
        handOut(() => callback(undefined, client));
        return undefined;
      }
      return new Promise((resolve) => handOut(() => resolve(client)));
    },
  } as unknown as pg.Pool;
  return { pool, thrown };
}

describe('checkOut', () => {
  it('listens for errors from the turn the client is handed out', async () => {
    const { pool, thrown } = poolThatBreaksAtOnce();
    const seen: Error[] = [];
    const client = await checkOut(pool, (error) => seen.push(error));
    expect(thrown).toEqual([]);
    expect(seen.map((error) => error.message)).toEqual([
      'terminating connection due to administrator command',
    ]);
    expect(client.listenerCount('error')).toBe(1);
  });

  it('is needed: awaiting pool.connect() leaves that error without a listener', async () => {
    const { pool, thrown } = poolThatBreaksAtOnce();
    const client = await pool.connect();
    client.on('error', () => {});
    expect(thrown).toHaveLength(1);
  });

  it('passes on a pool that cannot connect', async () => {
    const pool = {
      connect(callback: (error: Error) => void) {
        callback(new Error('connection refused'));
      },
    } as unknown as pg.Pool;
    await expect(checkOut(pool, () => {})).rejects.toThrow('connection refused');
  });
});

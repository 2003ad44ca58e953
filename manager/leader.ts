/**
 * One active manager per database (DESIGN "One active manager"): the leader holds a session
 * advisory lock on a connection of its own; a second manager waits as standby until the lock
 * is free. Commits check that the same session still holds the lock (store.ts commitBatch).
 */
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from '../shared/logger.js';

/** "BRld": the same key for every Blockrunner manager on a database. */
export const LEADER_LOCK_KEY = 0x4252_6c64;
const STANDBY_POLL_MS = 1_000;

export interface Leadership {
  /** Backend pid of the session holding the lock: the write fence. */
  pid: number;
  /** Resolves when the lock session is lost (connection error or end). */
  lost: Promise<Error>;
  release(): Promise<void>;
}

export async function acquireLeadership(
  connectionString: string,
  log: Logger,
  signal: AbortSignal,
): Promise<Leadership> {
  const client = new pg.Client({ connectionString, application_name: 'blockrunner-leader' });
  let resolveLost: (error: Error) => void = () => {};
  const lost = new Promise<Error>((resolve) => {
    resolveLost = resolve;
  });
  client.on('error', (error) => resolveLost(error));
  client.on('end', () => resolveLost(new Error('leader lock connection ended')));
  await client.connect();
  let announced = false;
  try {
    for (;;) {
      const { rows } = await client.query<{ locked: boolean; pid: number }>(
        'SELECT pg_try_advisory_lock($1::bigint) AS locked, pg_backend_pid() AS pid',
        [LEADER_LOCK_KEY],
      );
      const row = rows[0];
      if (row?.locked) {
        return {
          pid: row.pid,
          lost,
          release: async () => {
            client.removeAllListeners('end');
            await client.end().catch(() => {});
          },
        };
      }
      if (!announced) {
        log.info('standby: another manager leads this database; waiting for its lock');
        announced = true;
      }
      await delay(STANDBY_POLL_MS, undefined, { signal });
    }
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
}

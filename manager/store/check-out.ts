/**
 * A client of the pool with an 'error' listener attached in the very turn the pool hands it out.
 * `await pool.connect()` gives it a microtask later, and the driver may read the server's next
 * message first: a connection the server ends right after making it (pg_terminate_backend, a
 * restart) then reports that as an 'error' event with no listener, which ends the process.
 * The listener stays on a client released with an error: while it closes, more can arrive.
 */
import type pg from 'pg';

export function checkOut(pool: pg.Pool, onError: (error: Error) => void): Promise<pg.PoolClient> {
  return new Promise((resolve, reject) => {
    pool.connect((error, client) => {
      if (error || !client) {
        reject(error ?? new Error('the pool gave no client'));
        return;
      }
      client.on('error', onError);
      resolve(client);
    });
  });
}

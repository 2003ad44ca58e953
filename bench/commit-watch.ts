/**
 * Watches what the manager has committed, straight from PostgreSQL: a height counts only once its
 * result is in the `done` of `queue_sets` (migrations/003_queue_chunks.sql), which is where the S1 clock of
 * docs/performance.md stops. One small indexed query per probe, so polling every few milliseconds
 * costs the server little and the measured time is off by at most one interval.
 */
import pg from 'pg';
import { waitUntil } from './wait.js';

export const COMMIT_POLL_MS = 5;

export class CommitWatch {
  private constructor(private readonly client: pg.Client) {}

  static async open(databaseUrl: string): Promise<CommitWatch> {
    const client = new pg.Client({ connectionString: databaseUrl, application_name: 'bench' });
    client.on('error', () => {});
    await client.connect();
    return new CommitWatch(client);
  }

  /** True once every height of from..to (inclusive) is committed as done in `queue`. */
  async allDone(queue: string, from: number, to: number): Promise<boolean> {
    const { rows } = await this.client.query<{ complete: boolean }>({
      name: 'bench_all_done',
      text: `SELECT done @> int8range($2::bigint, $3::bigint, '[]') AS complete
             FROM queue_sets WHERE name = $1`,
      values: [queue, from, to],
    });
    return rows[0]?.complete === true;
  }

  /** How many heights of `queue` are committed as done (0 for a queue not yet stored). */
  async doneCount(queue: string): Promise<number> {
    const { rows } = await this.client.query<{ count: string }>(
      `SELECT coalesce(sum(upper(r) - lower(r)), 0)::text AS count
       FROM queue_chunks, unnest(done) AS r WHERE queue = $1`,
      [queue],
    );
    return Number(rows[0]?.count ?? 0);
  }

  /**
   * Resolves with `performance.now()` of the first probe that saw from..to all done, probing
   * every `intervalMs` (default COMMIT_POLL_MS). `check` runs before each probe and throws when
   * waiting has become pointless (a process died).
   */
  async waitForAllDone(
    queue: string,
    from: number,
    to: number,
    options: { timeoutMs: number; check?: () => void; intervalMs?: number },
  ): Promise<number> {
    return waitUntil(
      async () => {
        options.check?.();
        return (await this.allDone(queue, from, to)) && performance.now();
      },
      {
        timeoutMs: options.timeoutMs,
        intervalMs: options.intervalMs ?? COMMIT_POLL_MS,
        message: `heights ${from}..${to} of queue ${queue} to be committed as done`,
      },
    );
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}

/**
 * Watches what the manager has committed, straight from PostgreSQL: a height counts only once its
 * result is in the `done` of `queue_sets` (migrations/003_queue_chunks.sql), which is where the S1 clock of
 * docs/performance.md stops. One small indexed query per probe, and probes grow sparse while the
 * end is far (waitForAllDone), so the watch takes little from the run it times.
 */
import pg from 'pg';
import { waitUntil } from './wait.js';

export const COMMIT_POLL_MS = 5;
/** The longest pause between two probes while the end is still far. */
export const MAX_PROBE_GAP_MS = 250;

/**
 * The pause before the next probe of a wait for `total` heights, `done` of them seen after
 * `elapsedMs`: a quarter of the time the rate so far says is left, between `shortMs` and
 * MAX_PROBE_GAP_MS. Before the first height is seen there is no rate, and probes come every
 * `shortMs`.
 */
export function probeGapMs(wait: {
  total: number;
  done: number;
  elapsedMs: number;
  shortMs: number;
}): number {
  const { total, done, elapsedMs, shortMs } = wait;
  const leftMs = done > 0 ? ((total - done) * elapsedMs) / done : 0;
  return Math.min(MAX_PROBE_GAP_MS, Math.max(shortMs, leftMs / 4));
}

export class CommitWatch {
  private constructor(private readonly client: pg.Client) {}

  static async open(databaseUrl: string): Promise<CommitWatch> {
    const client = new pg.Client({ connectionString: databaseUrl, application_name: 'bench' });
    client.on('error', () => {});
    await client.connect();
    return new CommitWatch(client);
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

  /** How many heights of from..to (inclusive) are committed as done in `queue`. */
  async doneWithin(queue: string, from: number, to: number): Promise<number> {
    const { rows } = await this.client.query<{ count: string | null }>({
      name: 'bench_done_within',
      text: `SELECT (SELECT sum(upper(r) - lower(r))
                     FROM unnest(done * int8multirange(int8range($2::bigint, $3::bigint, '[]'))) AS r
                    )::text AS count
             FROM queue_sets WHERE name = $1`,
      values: [queue, from, to],
    });
    return Number(rows[0]?.count ?? 0);
  }

  /**
   * Resolves with `performance.now()` of the first probe that saw from..to all done. Probes
   * come as `probeGapMs` says: sparse while the end is far, so that the probes, each a wake-up
   * of this process and of a PostgreSQL backend, do not take the cores from the run they time
   * (S3 sleeps are that sensitive), and every `intervalMs` (default COMMIT_POLL_MS) near it, so
   * the measured time stays off by at most one short interval. `check` runs before each probe
   * and throws when waiting has become pointless (a process died).
   */
  async waitForAllDone(
    queue: string,
    from: number,
    to: number,
    options: { timeoutMs: number; check?: () => void; intervalMs?: number },
  ): Promise<number> {
    const total = to - from + 1;
    const shortMs = options.intervalMs ?? COMMIT_POLL_MS;
    let done = 0;
    return waitUntil(
      async () => {
        options.check?.();
        done = await this.doneWithin(queue, from, to);
        return done >= total && performance.now();
      },
      {
        timeoutMs: options.timeoutMs,
        intervalMs: (elapsedMs) => probeGapMs({ total, done, elapsedMs, shortMs }),
        message: () =>
          `heights ${from}..${to} of queue ${queue} to be committed as done (${done} of ${total})`,
      },
    );
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}

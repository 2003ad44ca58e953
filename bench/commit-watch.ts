/**
 * Watches what the manager has committed, straight from PostgreSQL: a height counts only once its
 * result is in the `done` of `queue_sets` (migrations/003_queue_chunks.sql), which is where the S1 clock of
 * docs/performance.md stops. One small indexed query per probe, and probes grow sparse while the
 * end is far (waitForAllDone), so the watch takes little from the run it times.
 */
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';

export const COMMIT_POLL_MS = 5;
/** The longest pause between two probes while the end is still far. */
const MAX_PROBE_GAP_MS = 250;

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

  /**
   * How many heights of from..to (inclusive) are committed as done in `queue`, and whether that
   * is all of them.
   */
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
   * come every `intervalMs` (default COMMIT_POLL_MS) once the end is near; before that, at a
   * quarter of the time the rate so far says is left (at most MAX_PROBE_GAP_MS), so that the
   * probes, each a wake-up of this process and of a PostgreSQL backend, do not take the cores
   * from the run they time (S3 sleeps are that sensitive). The measured time stays off by at
   * most one short interval. `check` runs before each probe and throws when waiting has become
   * pointless (a process died).
   */
  async waitForAllDone(
    queue: string,
    from: number,
    to: number,
    options: { timeoutMs: number; check?: () => void; intervalMs?: number },
  ): Promise<number> {
    const total = to - from + 1;
    const shortMs = options.intervalMs ?? COMMIT_POLL_MS;
    const started = performance.now();
    const deadline = started + options.timeoutMs;
    for (;;) {
      options.check?.();
      const done = await this.doneWithin(queue, from, to);
      const now = performance.now();
      if (done >= total) return now;
      if (now >= deadline) {
        throw new Error(
          `timed out after ${options.timeoutMs} ms waiting for heights ${from}..${to} of queue ${queue} to be committed as done (${done} of ${total})`,
        );
      }
      const leftMs = done > 0 ? ((total - done) * (now - started)) / done : 0;
      await delay(Math.min(MAX_PROBE_GAP_MS, Math.max(shortMs, leftMs / 4)));
    }
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}

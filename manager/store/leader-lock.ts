/**
 * One active manager per database (docs/operations.md, "One leader, standbys"): the leader
 * holds a session advisory lock on a connection of its own; a second manager waits as standby
 * until the lock is free. Commits check that the lock session is still ours (queue-sql.ts,
 * commitBatch), so a manager that lost the lock cannot write.
 *
 * When the lock connection breaks (PostgreSQL restarted, connection killed), the leader keeps
 * its workers and memory and takes the lock again on a new connection, with capped backoff.
 * Only when another manager took it meanwhile is leadership lost for good (`onLost`).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../shared/logger.js';
import { RETRY_POLICIES, retry } from '../../shared/retry.js';

/** "BRld": the same key for every Blockrunner manager on a database. */
export const LEADER_LOCK_KEY = 0x4252_6c64;
/** A lock connection that does not answer a probe within this is treated as broken. */
const PROBE_INTERVAL_MS = 2_000;
const PROBE_TIMEOUT_MS = 5_000;

export interface Fence {
  lockKey: number;
  leaderPid: number;
}

/**
 * The `fence` CTE every leader write starts with: `held` is true while the session `leaderPid`
 * (parameter `$pid`) still holds the lock on `lockKey` (parameter `$lock`). Each write's CTEs
 * guard themselves with `WHERE (SELECT held FROM fence)`.
 */
export function fenceCte(lock: string, pid: string): string {
  return `fence AS (
       SELECT EXISTS (
         SELECT 1 FROM pg_locks
         WHERE locktype = 'advisory' AND classid = 0 AND objid = ${lock}::bigint AND objsubid = 1
           AND pid = ${pid}::int AND granted
       ) AS held
     )`;
}

interface LockAttempt {
  client: pg.Client;
  locked: boolean;
  pid: number;
  /** Backend pid holding the lock when we did not get it; null if none is visible. */
  holder: number | null;
}

/** The lock is held by another manager's session: the standby waits on. */
class LockHeld extends Error {}

/**
 * A session setting the lock connection marks its session with, read back by every probe: a
 * connection whose statements reach a session this manager did not mark is shared, as behind a
 * pooler in transaction mode, and a session lock on it excludes nothing (docs/deployment.md,
 * "Poolers").
 */
const SESSION_MARK = 'blockrunner.lock_session';

export class SharedLockSessionError extends Error {
  constructor() {
    super(
      'the leader lock connection does not keep one session (DATABASE_URL goes through a pooler in transaction mode?): set BLOCKRUNNER_DIRECT_DATABASE_URL to a direct connection (docs/deployment.md, "Poolers")',
    );
    this.name = 'SharedLockSessionError';
  }
}

async function tryLock(
  connectionString: string,
  mark: string,
  previousPid?: number,
): Promise<LockAttempt> {
  const client = new pg.Client({
    connectionString,
    application_name: 'blockrunner-leader',
    keepAlive: true,
    connectionTimeoutMillis: PROBE_TIMEOUT_MS,
    query_timeout: PROBE_TIMEOUT_MS,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    // A fresh session carries no mark, or this manager's own (one shared PGlite session).
    const seen = await client.query<{ mark: string | null }>(
      'SELECT current_setting($1::text, true) AS mark',
      [SESSION_MARK],
    );
    const found = seen.rows[0]?.mark;
    if (found && found !== mark) throw new SharedLockSessionError();
    await client.query('SELECT set_config($1::text, $2::text, false)', [SESSION_MARK, mark]);
    // Our own old session may still hold the lock if its link broke only on our side: end it.
    if (previousPid !== undefined) {
      await client.query(
        `SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND classid = 0 AND objid = $1::bigint AND objsubid = 1
           AND granted AND pid = $2::int`,
        [LEADER_LOCK_KEY, previousPid],
      );
    }
    const { rows } = await client.query<{ locked: boolean; pid: number; holder: number | null }>(
      `SELECT pg_try_advisory_lock($1::bigint) AS locked, pg_backend_pid() AS pid,
         (SELECT pid FROM pg_locks
          WHERE locktype = 'advisory' AND classid = 0 AND objid = $1::bigint AND objsubid = 1
            AND granted LIMIT 1) AS holder`,
      [LEADER_LOCK_KEY],
    );
    const row = rows[0] ?? { locked: false, pid: 0, holder: null };
    return { client, ...row };
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
}

/** Whether `client`'s statements still reach the session it marked. */
async function keepsSession(client: pg.Client, mark: string): Promise<boolean> {
  const { rows } = await client.query<{ mark: string | null }>(
    'SELECT current_setting($1::text, true) AS mark',
    [SESSION_MARK],
  );
  return rows[0]?.mark === mark;
}

export class LeaderLock {
  private client: pg.Client;
  private currentPid: number | undefined;
  private released = false;
  /** Aborted by release(): ends a retry loop taking the lock again, its backoff included. */
  private readonly releasing = new AbortController();
  private probe: NodeJS.Timeout | undefined;
  private constructor(
    private readonly connectionString: string,
    private readonly log: Logger,
    /** Called once when another manager holds the lock: this one must stop. */
    private readonly onLost: (error: Error) => void,
    held: LockAttempt,
    /** This manager's session mark (SESSION_MARK), kept when the lock is taken again. */
    private readonly mark: string,
  ) {
    this.client = held.client;
    this.currentPid = held.pid;
    this.watch();
  }

  /** Waits as standby until the lock is ours. */
  static async acquire(options: {
    connectionString: string;
    log: Logger;
    /** Aborting it ends the wait (the manager stops while standby). */
    signal: AbortSignal;
    /** Called once if another manager takes the lock later: this one must stop. */
    onLost: (error: Error) => void;
  }): Promise<LeaderLock> {
    const { connectionString, log, signal, onLost } = options;
    let announced = false;
    const mark = randomUUID();
    const held = await retry(
      async () => {
        const attempt = await tryLock(connectionString, mark);
        if (attempt.locked) return attempt;
        await attempt.client.end().catch(() => {});
        throw new LockHeld('another manager holds the leader lock');
      },
      {
        policy: RETRY_POLICIES.standby,
        signal,
        // A pooler that shares sessions never gets better by waiting: the manager must stop.
        shouldRetry: ({ error }) => !(error instanceof SharedLockSessionError),
        onFailedAttempt: ({ error }) => {
          if (!(error instanceof LockHeld)) {
            log.warn({ err: error }, 'standby: cannot reach the database; retrying');
          } else if (!announced) {
            log.info('standby: another manager leads this database; waiting for its lock');
            announced = true;
          }
        },
      },
    );
    if (signal.aborted) {
      // Stopped while the attempt that took the lock ran: let go of it rather than leak it.
      await held.client.end().catch(() => {});
      signal.throwIfAborted();
    }
    return new LeaderLock(connectionString, log, onLost, held, mark);
  }

  /** True while the lock session is known to be ours. */
  get holding(): boolean {
    return this.currentPid !== undefined;
  }

  /** What commits check; undefined while the lock is being taken again. */
  fence(): Fence | undefined {
    return this.currentPid === undefined
      ? undefined
      : { lockKey: LEADER_LOCK_KEY, leaderPid: this.currentPid };
  }

  async release(): Promise<void> {
    this.released = true;
    this.releasing.abort();
    clearInterval(this.probe);
    await this.client.end().catch(() => {});
  }

  private watch(): void {
    const client = this.client;
    const broken = (error: Error) => {
      if (this.released || client !== this.client || this.currentPid === undefined) return;
      void this.reacquire(error);
    };
    client.on('error', broken);
    client.on('end', () => broken(new Error('leader lock connection ended')));
    clearInterval(this.probe);
    this.probe = setInterval(() => {
      keepsSession(client, this.mark).then(
        (kept) => {
          if (kept || this.released || client !== this.client) return;
          // Another session answered: the lock excludes nothing here. Stop, never lead on.
          this.currentPid = undefined;
          clearInterval(this.probe);
          this.onLost(new SharedLockSessionError());
        },
        (error: Error) => {
          broken(error);
          void client.end().catch(() => {});
        },
      );
    }, PROBE_INTERVAL_MS);
    this.probe.unref();
  }

  private async reacquire(cause: Error): Promise<void> {
    const previousPid = this.currentPid;
    this.currentPid = undefined;
    clearInterval(this.probe);
    this.log.error({ err: cause }, 'leader lock connection lost; taking the lock again');
    // Every failure is retried until release() aborts; a lock held by another manager ends it.
    const taken = await retry(
      async (attempt) => {
        const result = await tryLock(this.connectionString, this.mark, previousPid);
        if (result.locked) return { result, attempt };
        await result.client.end().catch(() => {});
        // A terminated session lets go of its lock a moment after it is told to: try again.
        if (result.holder === null || result.holder === previousPid) {
          throw new Error('our previous lock session has not ended yet');
        }
        return { result, attempt };
      },
      {
        policy: RETRY_POLICIES.leaderLock,
        signal: this.releasing.signal,
        unref: true,
        shouldRetry: ({ error }) => !(error instanceof SharedLockSessionError),
        onFailedAttempt: ({ error, delayMs }) => {
          this.log.warn(
            { err: error, retryInMs: delayMs },
            'cannot reach the database for the leader lock',
          );
        },
      },
    ).catch((error: unknown) => {
      // Rejects only once released, or if a log line threw: never end in silence.
      if (!this.released)
        this.onLost(new Error('cannot take the leader lock again', { cause: error }));
      return undefined;
    });
    if (!taken) return;
    const { result, attempt } = taken;
    if (this.released) {
      // Released while this attempt ran: the lock it took is not wanted any more.
      if (result.locked) await result.client.end().catch(() => {});
      return;
    }
    if (!result.locked) {
      this.onLost(new Error(`another manager took the leader lock (backend pid ${result.holder})`));
      return;
    }
    this.client = result.client;
    this.currentPid = result.pid;
    this.watch();
    this.log.info({ attempt }, 'leader lock taken again');
  }
}

/**
 * A database per test file, cloned from the migrated template that global-setup.ts prepares
 * (graphile-worker's `__tests__/helpers.ts` does the same): a clone takes milliseconds, where
 * migrating afresh would take much longer, and no two files see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { LEADER_LOCK_KEY } from '../../manager/store/leader-lock.js';

/** Every database a test creates starts with this; global-setup.ts drops stale ones. */
export const TEST_DATABASE_PREFIX = 'blockrunner_test_';
/** Where tests look for PostgreSQL when TEST_DATABASE_URL is unset: the local trust-auth cluster. */
export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** SQLSTATEs these helpers act on (PostgreSQL appendix A, "Error Codes"). */
export const SQLSTATE = {
  duplicateDatabase: '42P04',
  objectInUse: '55006',
  syntaxError: '42601',
} as const;

export interface TestDatabase {
  /** Connection URL for the manager under test (DATABASE_URL). */
  url: string;
  name: string;
  /** A pool on the database for the test's own queries; `drop` ends it. */
  pool: pg.Pool;
  /** Ends the pool, cuts any other connection and drops the database. Safe to call twice and unbound. */
  drop(): Promise<void>;
}

/**
 * A pool for a test's own queries. Tests cut connections on purpose (pg_terminate_backend,
 * dropping the database), and `pool.end()` resolves before its clients' sockets have closed, so
 * a drop right after it can still cut one: the pool then emits 'error', which without a listener
 * is an uncaught exception in the test process.
 */
export function openPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on('error', () => {});
  return pool;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const template = inject('templateDatabase');
  const adminUrl = inject('databaseUrl');
  if (!template || !adminUrl) {
    throw new Error(
      'no template database was provided: test/helpers/global-setup.ts must run first (vitest.config.ts globalSetup)',
    );
  }
  const name = uniqueDatabaseName(TEST_DATABASE_PREFIX);
  await withAdminClient(adminUrl, (client) => cloneDatabase(client, template, name));
  const url = databaseUrl(adminUrl, name);
  const pool = openPool(url, 4);
  let dropping: Promise<void> | undefined;
  const drop = () => {
    dropping ??= (async () => {
      await pool.end().catch(() => {});
      await dropDatabase(adminUrl, name);
    })();
    return dropping;
  };
  return { url, name, pool, drop };
}

/**
 * `<prefix><creation time, base-36 seconds>_<random>`: the time in the name lets a later run
 * tell a leftover from a database that a concurrent run is still using, without privileges.
 */
export function uniqueDatabaseName(prefix: string): string {
  const seconds = Math.floor(Date.now() / 1000).toString(36);
  return `${prefix}${seconds}_${randomBytes(4).toString('hex')}`;
}

/** Creation time (ms since the epoch) of a name made by `uniqueDatabaseName`, if it is one. */
export function databaseCreatedAt(prefix: string, name: string): number | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const match = /^([0-9a-z]+)_[0-9a-f]{8}$/.exec(name.slice(prefix.length));
  return match?.[1] === undefined ? undefined : Number.parseInt(match[1], 36) * 1000;
}

/** The same server and credentials as `baseUrl`, another database. */
export function databaseUrl(baseUrl: string, name: string): string {
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.href;
}

/** Database names here are made by this module; anything else is refused, not quoted. */
export function quoteDatabaseName(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`unexpected database name ${name}`);
  return `"${name}"`;
}

/** The SQLSTATE of an error PostgreSQL sent, undefined for anything else (a refused socket). */
export function sqlState(error: unknown): string | undefined {
  return error instanceof pg.DatabaseError ? error.code : undefined;
}

export async function withAdminClient<T>(
  adminUrl: string,
  use: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function cloneDatabase(client: pg.Client, template: string, name: string): Promise<void> {
  const sql = `CREATE DATABASE ${quoteDatabaseName(name)} TEMPLATE ${quoteDatabaseName(template)}`;
  // CREATE DATABASE refuses a template that has a session open (55006); the template does
  // not allow connections, so this only covers a moment of bad luck, such as a person's psql.
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query(sql);
      return;
    } catch (error) {
      if (sqlState(error) !== SQLSTATE.objectInUse || attempt >= 20) {
        throw new Error(`cannot create test database ${name} from ${template}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Drops `name` even while something (a killed manager's leftovers) is still connected. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const quoted = quoteDatabaseName(name);
  await withAdminClient(adminUrl, async (client) => {
    await client.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    try {
      await client.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`);
    } catch (error) {
      // WITH (FORCE) is PostgreSQL 13+; older servers reject the syntax.
      if (sqlState(error) !== SQLSTATE.syntaxError) throw error;
      await client.query(`DROP DATABASE IF EXISTS ${quoted}`);
    }
  });
}

/**
 * Takes the leader lock on one of the database's pooled sessions, as a leading manager holds it,
 * for tests that commit through the store's fenced statements; `release` lets it go.
 */
export async function holdLeaderLock(
  db: TestDatabase,
): Promise<{ fence: { lockKey: number; leaderPid: number }; release: () => void }> {
  const client = await db.pool.connect();
  const { rows } = await client.query<{ pid: number }>(
    'SELECT pg_advisory_lock($1::bigint), pg_backend_pid() AS pid',
    [LEADER_LOCK_KEY],
  );
  return {
    fence: { lockKey: LEADER_LOCK_KEY, leaderPid: rows[0]?.pid ?? -1 },
    release: () => client.release(),
  };
}

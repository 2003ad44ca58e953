/**
 * A fresh PostgreSQL database per scenario and per anchor, created next to the admin database
 * and dropped after, so no figure depends on what an earlier run left in a table.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Every database the bench creates starts with this; older leftovers are dropped at start. */
export const BENCH_DATABASE_PREFIX = 'blockrunner_bench_';
/** A bench database older than this belongs to a run that died, not to a concurrent one. */
const STALE_AFTER_MS = 60 * 60 * 1000;
/** Created and not yet dropped: what an interrupted bench must still drop. */
const live = new Map<string, BenchDatabase>();

export interface BenchDatabase {
  name: string;
  url: string;
  /** Cuts every connection and drops the database; safe to call twice. */
  drop(): Promise<void>;
}

export async function createDatabase(adminUrl: string, label: string): Promise<BenchDatabase> {
  const seconds = Math.floor(Date.now() / 1000).toString(36);
  const name = `${BENCH_DATABASE_PREFIX}${seconds}_${label}_${randomBytes(3).toString('hex')}`;
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${quoted(name)}`));
  let dropping: Promise<void> | undefined;
  const database: BenchDatabase = {
    name,
    url: databaseUrl(adminUrl, name),
    drop: () => {
      dropping ??= dropDatabase(adminUrl, name).then(() => {
        live.delete(name);
      });
      return dropping;
    },
  };
  live.set(name, database);
  return database;
}

/** Drops every database this process created and has not dropped yet. */
export async function dropLiveDatabases(): Promise<void> {
  await Promise.allSettled([...live.values()].map((database) => database.drop()));
}

export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.href;
}

export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // A connection cut by DROP DATABASE ... WITH (FORCE) must not crash the bench.
  client.on('error', () => {});
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Refreshes the planner's statistics of the database `url` points at. */
export async function analyze(url: string): Promise<void> {
  await withClient(url, (client) => client.query('ANALYZE'));
}

/** pg_database_size of the database `client` is connected to, in bytes. */
export async function databaseSize(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ size: string }>(
    'SELECT pg_database_size(current_database())::text AS size',
  );
  return Number(rows[0]?.size);
}

export async function serverVersion(adminUrl: string): Promise<string> {
  return withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version ?? 'unknown';
  });
}

/** Names may only be ones this module makes: refused, not quoted, otherwise. */
function quoted(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`unexpected database name ${name}`);
  return `"${name}"`;
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, (client) =>
    client.query(`DROP DATABASE IF EXISTS ${quoted(name)} WITH (FORCE)`),
  );
}

/** Best effort: leftovers of a run that was killed before it could clean up. */
export async function dropStaleDatabases(adminUrl: string): Promise<string[]> {
  const names = await withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'blockrunner\\_bench\\_%'`,
    );
    return rows.map((row) => row.datname);
  });
  const dropped: string[] = [];
  for (const name of names) {
    // Only names this module made (a creation time of 6 base-36 digits) are ever dropped.
    const match = /^blockrunner_bench_([0-9a-z]{6})_/.exec(name);
    if (match?.[1] === undefined) continue;
    if (Date.now() - Number.parseInt(match[1], 36) * 1000 < STALE_AFTER_MS) continue;
    await dropDatabase(adminUrl, name).then(
      () => dropped.push(name),
      () => {},
    );
  }
  return dropped;
}

export async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
  return withClient(adminUrl, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  });
}

/**
 * Applies migrations/NNN_name.sql in order, each in its own transaction, recording its id in
 * the same transaction. A session advisory lock makes two managers starting at once take turns,
 * and a database migrated by newer code is refused rather than guessed at.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { Logger } from '../../shared/logger.js';
import { packageRoot } from '../../shared/package-root.js';
import { checkOut } from './check-out.js';

/** Arbitrary constant shared by every Blockrunner manager: "BR" + "migr". */
const MIGRATION_LOCK_KEY = 0x4252_6d69;

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

export function loadMigrations(dir = join(packageRoot(), 'migrations')): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d{3}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      id: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      sql: readFileSync(join(dir, file), 'utf8'),
    }));
}

export async function migrate(pool: pg.Pool, log?: Logger, migrations = loadMigrations()) {
  // The caller's pool has its own 'error' handler for idle clients; this one is checked out.
  const ignore = () => {};
  const client = await checkOut(pool, ignore);
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS blockrunner_migrations (
      id integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ id: number }>('SELECT id FROM blockrunner_migrations');
    const applied = new Set(rows.map((row) => row.id));
    const latestKnown = migrations.at(-1)?.id ?? 0;
    const newest = Math.max(0, ...applied);
    if (newest > latestKnown) {
      throw new Error(
        `the database was migrated by a newer Blockrunner (migration ${newest}, this version knows up to ${latestKnown}); upgrade this manager`,
      );
    }
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue;
      await client.query('BEGIN');
      try {
        await client.query('INSERT INTO blockrunner_migrations (id, name) VALUES ($1, $2)', [
          migration.id,
          migration.name,
        ]);
        await client.query(migration.sql);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.id}_${migration.name} failed`, { cause: error });
      }
      log?.info({ migration: `${migration.id}_${migration.name}` }, 'applied migration');
    }
  } finally {
    const broken = await client
      .query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY])
      .then(
        () => undefined,
        (error: Error) => error,
      );
    // A broken connection leaves the pool and keeps the listener while it closes; a sound one
    // goes back without it, so the pool's clients gather no listeners.
    if (broken) {
      client.release(broken);
    } else {
      client.off('error', ignore);
      client.release();
    }
  }
}

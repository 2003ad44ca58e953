/**
 * The migration runner against a real, empty database: two managers migrating at once apply
 * each migration exactly once, a second run changes nothing, and a database migrated by a
 * newer Blockrunner is refused. The client it checks out goes back to the pool as it came.
 */
import type pg from 'pg';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { loadMigrations, migrate } from '../../../manager/store/migrate.js';
import {
  databaseUrl,
  dropDatabase,
  openPool,
  uniqueDatabaseName,
  withAdminClient,
} from '../../helpers/database.js';

const adminUrl = inject('databaseUrl');
const name = uniqueDatabaseName('blockrunner_test_');
let pools: pg.Pool[] = [];

function newPool(): pg.Pool {
  const pool = openPool(databaseUrl(adminUrl, name), 2);
  pools.push(pool);
  return pool;
}

beforeAll(async () => {
  await withAdminClient(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
});

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
  pools = [];
  await dropDatabase(adminUrl, name);
});

it('applies every migration once even when two managers start together', async () => {
  const migrations = loadMigrations();
  expect(migrations.map((m) => m.id)).toEqual(migrations.map((_, i) => i + 1));
  await Promise.all([migrate(newPool()), migrate(newPool())]);
  await migrate(newPool());
  const pool = newPool();
  const { rows } = await pool.query('SELECT id FROM blockrunner_migrations ORDER BY id');
  expect(rows.map((row) => row.id)).toEqual(migrations.map((m) => m.id));
  const tables = await pool.query(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
  );
  expect(tables.rows.map((row) => row.tablename)).toEqual([
    'block_hashes',
    'blockrunner_migrations',
    'height_attempts',
    'queue_chunks',
    'queue_settings',
    'queue_sources',
    'queues',
    'reorgs',
  ]);
});

it('refuses a database migrated by a newer Blockrunner', async () => {
  const pool = newPool();
  await pool.query("INSERT INTO blockrunner_migrations (id, name) VALUES (999, 'from_the_future')");
  await expect(migrate(pool)).rejects.toThrow(/newer Blockrunner \(migration 999/);
  await pool.query('DELETE FROM blockrunner_migrations WHERE id = 999');
});

it('gives its client back to the pool without the error listener it added', async () => {
  const pool = newPool();
  const client = await pool.connect();
  const before = client.listenerCount('error');
  client.release();
  await migrate(pool);
  const again = await pool.connect();
  // The pool hands out its idle client again: the one migrate used.
  expect(again).toBe(client);
  expect(again.listenerCount('error')).toBe(before);
  again.release();
});

it('compresses queue_chunks sets with lz4 where the server has it, and keeps pglz where not', async () => {
  const pool = newPool();
  await migrate(pool);
  const lz4 = await pool.query('CREATE TEMP TABLE lz4_probe (x text COMPRESSION lz4)').then(
    () => true,
    () => false,
  );
  const { rows } = await pool.query<{ attname: string; attcompression: string }>(
    `SELECT attname, attcompression FROM pg_attribute
     WHERE attrelid = 'queue_chunks'::regclass AND attname IN ('enqueued', 'done') ORDER BY attname`,
  );
  // 'l' is lz4; '' is the server's default_toast_compression (pglz unless configured).
  const method = lz4 ? 'l' : '';
  expect(rows).toEqual([
    { attname: 'done', attcompression: method },
    { attname: 'enqueued', attcompression: method },
  ]);
});

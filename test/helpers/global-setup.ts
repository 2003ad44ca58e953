/**
 * Runs once per vitest run, before any test file (vitest.config.ts `globalSetup`):
 * 1. a preflight that says exactly how to start PostgreSQL when none answers (pg-boss's
 *    `assertDbReachable`), instead of every test failing with ECONNREFUSED;
 * 2. drops test databases that earlier runs left behind;
 * 3. makes sure a migrated template database exists, named by a hash of the migrations, so
 *    that test files clone it (test/helpers/database.ts) instead of migrating each time.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../manager/store/migrate.js';
import { packageRoot } from '../../shared/package-root.js';
import {
  DEFAULT_TEST_DATABASE_URL,
  databaseCreatedAt,
  databaseUrl,
  dropDatabase,
  quoteDatabaseName,
  SQLSTATE,
  sqlState,
  TEST_DATABASE_PREFIX,
  uniqueDatabaseName,
  withAdminClient,
} from './database.js';

declare module 'vitest' {
  interface ProvidedContext {
    /** The migrated database that test databases are cloned from. */
    templateDatabase: string;
    /** URL of the maintenance database on the test server, for CREATE/DROP DATABASE. */
    databaseUrl: string;
  }
}

const TEMPLATE_PREFIX = 'blockrunner_tpl_';
/** A template being built under this prefix is renamed once it is complete. */
const BUILD_PREFIX = 'blockrunner_tplbuild_';
/** Test databases older than this are leftovers of a run that died, not of a concurrent run. */
const STALE_AFTER_MS = 60 * 60 * 1000;

export default async function setup(project: TestProject): Promise<void> {
  const adminUrl = process.env.TEST_DATABASE_URL ?? DEFAULT_TEST_DATABASE_URL;
  await assertDatabaseReachable(adminUrl);
  await dropStaleDatabases(adminUrl);
  const template = await ensureTemplate(adminUrl);
  project.provide('databaseUrl', adminUrl);
  project.provide('templateDatabase', template);
}

async function assertDatabaseReachable(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(unreachableMessage(adminUrl, error), { cause: error });
  } finally {
    await client.end().catch(() => {});
  }
}

function unreachableMessage(adminUrl: string, error: unknown): string {
  const url = new URL(adminUrl);
  const port = url.port || '5432';
  const where = `${url.hostname}:${port}`;
  const shown = redact(url);
  const code = sqlState(error);
  if (code !== undefined) {
    const message = error instanceof Error ? error.message : String(error);
    return [
      `PostgreSQL at ${where} answered but refused the tests (SQLSTATE ${code}: ${message}) for ${shown}.`,
      'Point the tests at a role that may log in and create databases, for example:',
      '  TEST_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres npm test',
    ].join('\n');
  }
  const reason = errorCode(error);
  const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql').sort() : [];
  const start =
    versions.length > 0
      ? `  pg_ctlcluster --skip-systemctl-redirect ${versions.at(-1)} main start`
      : '  apt-get install -y postgresql   (then: pg_ctlcluster --skip-systemctl-redirect <version> main start,\n   with <version> from `ls /etc/postgresql`)';
  return [
    `PostgreSQL does not answer at ${where} (${reason}); the tests need a real server.`,
    'Start the local cluster (as root):',
    start,
    `and check it with \`pg_isready -h ${url.hostname} -p ${port}\`; \`bash .ci/run\` does all of this.`,
    'Or point the tests at another server:',
    '  TEST_DATABASE_URL=postgres://user:password@host:5432/postgres npm test',
    `(tried ${shown}, 5 s timeout)`,
  ].join('\n');
}

/** Best effort: a database another run is dropping at the same moment is no failure. */
async function dropStaleDatabases(adminUrl: string): Promise<void> {
  try {
    const names = await withAdminClient(adminUrl, async (client) => {
      const { rows } = await client.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE 'blockrunner\\_test\\_%' OR datname LIKE 'blockrunner\\_tplbuild\\_%'`,
      );
      return rows.map((row) => row.datname);
    });
    const now = Date.now();
    for (const name of names) {
      const createdAt =
        databaseCreatedAt(TEST_DATABASE_PREFIX, name) ?? databaseCreatedAt(BUILD_PREFIX, name);
      if (createdAt === undefined || now - createdAt < STALE_AFTER_MS) continue;
      await dropDatabase(adminUrl, name).catch((error: unknown) => {
        console.warn(`global-setup: could not drop stale database ${name}: ${errorCode(error)}`);
      });
    }
  } catch (error) {
    console.warn(`global-setup: could not list stale test databases: ${errorCode(error)}`);
  }
}

async function ensureTemplate(adminUrl: string): Promise<string> {
  const template = `${TEMPLATE_PREFIX}${migrationsHash()}`;
  const exists = await withAdminClient(adminUrl, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      template,
    ]);
    return rowCount === 1;
  });
  if (exists) return template;

  // Built under a name of its own and renamed when complete, so a run never clones a
  // half-migrated template, and two runs racing each build one and keep the first renamed.
  const build = uniqueDatabaseName(BUILD_PREFIX);
  try {
    await withAdminClient(adminUrl, (client) =>
      client.query(`CREATE DATABASE ${quoteDatabaseName(build)}`),
    );
    const pool = new pg.Pool({ connectionString: databaseUrl(adminUrl, build), max: 1 });
    pool.on('error', () => {});
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
    const won = await withAdminClient(adminUrl, async (client) => {
      try {
        await client.query(
          `ALTER DATABASE ${quoteDatabaseName(build)} RENAME TO ${quoteDatabaseName(template)}`,
        );
      } catch (error) {
        if (sqlState(error) === SQLSTATE.duplicateDatabase) return false;
        throw error;
      }
      // Nobody connects to the template, so CREATE DATABASE ... TEMPLATE never finds it busy.
      await client.query(`ALTER DATABASE ${quoteDatabaseName(template)} ALLOW_CONNECTIONS false`);
      return true;
    });
    if (!won) await dropDatabase(adminUrl, build);
  } catch (error) {
    await dropDatabase(adminUrl, build).catch(() => {});
    throw new Error(`cannot prepare the template database ${template}`, { cause: error });
  }
  return template;
}

/**
 * Short hash of everything that shapes the migrated schema: the SQL files and the runner that
 * records them. A changed migration gets a new template; old ones stay until dropped by hand.
 */
function migrationsHash(): string {
  const root = packageRoot();
  const hash = createHash('sha256');
  const dir = join(root, 'migrations');
  for (const file of readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()) {
    hash
      .update(`${file}\0`)
      .update(readFileSync(join(dir, file)))
      .update('\0');
  }
  hash.update(readFileSync(join(root, 'manager', 'store', 'migrate.ts')));
  return hash.digest('hex').slice(0, 12);
}

function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === 'string') return code;
    if (typeof message === 'string' && message !== '') return message;
  }
  return String(error);
}

function redact(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password !== '') copy.password = '***';
  return copy.href;
}

/**
 * The database used when DATABASE_URL is unset: PGlite (PostgreSQL compiled to WASM) stored
 * under BLOCKRUNNER_DATA_DIR, served on 127.0.0.1 through pglite-socket, so the manager runs
 * the same `pg` code as against a PostgreSQL server. Every connection shares PGlite's single
 * session: advisory locks always succeed and never exclude anyone, so the data-dir lock file is
 * what keeps a second manager out. One manager, no standby (docs/deployment.md).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Logger } from '../../shared/logger.js';
import { lockDataDir } from './data-dir-lock.js';

/** The manager's pool size on the embedded database: one session, so one connection. */
export const EMBEDDED_POOL_SIZE = 1;
/** The pool's connection plus the leader-lock connection (leader-lock.ts); more are refused. */
const MAX_CONNECTIONS = EMBEDDED_POOL_SIZE + 1;

export interface EmbeddedDatabase {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** Absolute path of BLOCKRUNNER_DATA_DIR. */
  dataDir: string;
  /** Stops serving and closes PGlite; the data stays for the next start. */
  close(): Promise<void>;
}

export async function startEmbeddedDatabase(
  dataDir: string,
  log: Logger,
): Promise<EmbeddedDatabase> {
  const dir = resolve(dataDir);
  log.warn(
    { dataDir: dir },
    'embedded database: for trying Blockrunner out (one manager, no standby); set DATABASE_URL to a PostgreSQL server for production',
  );
  mkdirSync(dir, { recursive: true });
  const lock = lockDataDir(dir);
  const pgdata = join(dir, 'pgdata');
  let db: PGlite | undefined;
  try {
    const created = !existsSync(join(pgdata, 'PG_VERSION'));
    if (created) log.info({ pgdata }, 'creating the embedded database (several seconds, once)');
    const started = performance.now();
    db = await PGlite.create(pgdata);
    const opened = db;
    const server = new PGLiteSocketServer({
      db: opened,
      host: '127.0.0.1',
      port: 0,
      maxConnections: MAX_CONNECTIONS,
    });
    server.addEventListener('error', (event) => {
      log.warn({ err: (event as CustomEvent<unknown>).detail }, 'embedded database socket error');
    });
    await server.start();
    log.info({ ms: Math.round(performance.now() - started), created }, 'embedded database ready');
    return {
      url: `postgres://postgres@${server.getServerConn()}/postgres`,
      dataDir: dir,
      close: async () => {
        try {
          await server.stop();
          await opened.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (error) {
    await db?.close().catch(() => {});
    lock.release();
    throw new Error(`cannot start the embedded database in ${pgdata}`, { cause: error });
  }
}

/**
 * Keeps a second manager off an embedded data directory. PGlite opens a directory that another
 * process has open without complaint, and two writers would corrupt it; so the manager holds a
 * lock file naming its pid while the embedded database runs (docs/deployment.md).
 */
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataDirLockedError } from '../../shared/errors.js';

export const LOCK_FILE = 'manager.lock';

export interface DataDirLock {
  path: string;
  /** Removes the lock file if it is still ours. */
  release(): void;
}

/** Takes `dir/manager.lock`, replacing one left by a process that no longer runs. */
export function lockDataDir(dir: string, pid = process.pid): DataDirLock {
  const path = join(dir, LOCK_FILE);
  // Two tries: the second follows the removal of a stale lock.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (createWithContent(path, pid)) return { path, release: () => releaseIfOwned(path, pid) };
    const holder = readHolder(path);
    if (holder !== undefined && holder !== pid && isRunning(holder)) {
      throw new DataDirLockedError(
        `${dir} is in use by another manager (pid ${holder}): an embedded database serves one manager; stop that one, or set DATABASE_URL to share a PostgreSQL server (if no manager runs, delete ${path})`,
      );
    }
    // The holder died without releasing (kill -9), or a restarted container reuses its pid.
    unlinkSync(path);
  }
  throw new DataDirLockedError(`${path} keeps coming back: another manager is starting there`);
}

/**
 * The pid of another running process holding `dir/manager.lock`, if any: `blockrunner up` asks
 * before it starts anything (cli/up.ts), so a locked directory ends it with one line.
 */
export function lockHolder(dir: string, pid = process.pid): number | undefined {
  const holder = readHolder(join(dir, LOCK_FILE));
  return holder !== undefined && holder !== pid && isRunning(holder) ? holder : undefined;
}

/** Written aside, then linked into place: the lock never exists without its pid in it. */
function createWithContent(path: string, pid: number): boolean {
  const draft = `${path}.${pid}`;
  writeFileSync(draft, `${pid}\n`);
  try {
    linkSync(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(draft);
  }
}

function readHolder(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseIfOwned(path: string, pid: number): void {
  if (readHolder(path) !== pid) return;
  try {
    unlinkSync(path);
  } catch {
    // Already gone: nothing to release.
  }
}

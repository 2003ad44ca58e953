/**
 * The lock file that keeps a second manager off an embedded data directory: refused while its
 * holder runs, taken over when the holder died (kill -9) or when our own pid wrote it (a
 * restarted container gets the same pid).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDir } from '../../../manager/store/data-dir-lock.js';
import { DataDirLockedError } from '../../../shared/errors.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'data-dir-lock-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const { pid, status } = spawnSync(process.execPath, ['-e', '']);
  expect(status).toBe(0);
  return pid;
}

it('refuses a second holder while the first runs, and frees the directory on release', () => {
  const lock = lockDataDir(dir);
  expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
  // Another manager (another pid) while this process, the holder, runs.
  expect(() => lockDataDir(dir, process.pid + 1_000_000)).toThrow(DataDirLockedError);
  expect(() => lockDataDir(dir, process.pid + 1_000_000)).toThrow(/in use by another manager/);
  lock.release();
  expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  lockDataDir(dir, process.pid + 1_000_000).release();
});

it('takes over a lock whose holder died', () => {
  const dead = deadPid();
  writeFileSync(join(dir, LOCK_FILE), `${dead}\n`);
  const lock = lockDataDir(dir);
  expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
  lock.release();
});

it('takes over a lock with our own pid, as a restarted container finds it', () => {
  writeFileSync(join(dir, LOCK_FILE), `${process.pid}\n`);
  lockDataDir(dir).release();
  expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
});

it('leaves a lock that another process took meanwhile', () => {
  const lock = lockDataDir(dir);
  writeFileSync(join(dir, LOCK_FILE), '12345\n');
  lock.release();
  expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe('12345\n');
});

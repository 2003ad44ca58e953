/**
 * A network namespace of the test's own joined to this one by a veth pair, so a test can cut
 * and restore the link of a process running inside it. Addresses come from 198.18.0.0/30
 * (RFC 2544, reserved for benchmark tests): they exist on these two interfaces and nowhere else.
 * Needs root and `ip` (iproute2); `netnsUnavailable()` says why not when they are missing.
 * A namespace's name carries the pid of the process that made it: one left behind by a run that
 * was killed (its address would clash with the next one's) is removed before a new one is made.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { processExists } from './processes.js';

const run = promisify(execFile);
const ip = (...args: string[]) => run('ip', args, { timeout: 10_000 });

export const HOST_ADDRESS = '198.18.0.1';
export const NAMESPACE_ADDRESS = '198.18.0.2';

export interface NetworkNamespace {
  name: string;
  /** Prefix for running a command inside the namespace. */
  exec: string[];
  cut(): Promise<void>;
  restore(): Promise<void>;
  destroy(): Promise<void>;
}

/** Undefined when namespaces can be made here, else the reason they cannot. */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `brprobe${randomBytes(3).toString('hex')}`;
  try {
    await ip('netns', 'add', probe);
    await ip('netns', 'del', probe);
    return undefined;
  } catch (error) {
    return `ip netns is not permitted here: ${(error as Error).message.split('\n')[0]}`;
  }
}

/** Namespaces of this helper whose maker has exited, and their host-side links. */
async function removeStale(): Promise<void> {
  const { stdout } = await ip('netns', 'list');
  for (const line of stdout.split('\n')) {
    const match = /^brns-(\d+)-([0-9a-f]{6})\b/.exec(line);
    if (!match || processExists(Number(match[1]))) continue;
    await ip('netns', 'del', `brns-${match[1]}-${match[2]}`).catch(() => {});
    await ip('link', 'del', `brh${match[2]}`).catch(() => {});
  }
}

export async function createNetworkNamespace(): Promise<NetworkNamespace> {
  await removeStale();
  const id = randomBytes(3).toString('hex');
  const name = `brns-${process.pid}-${id}`;
  const hostSide = `brh${id}`;
  const nsSide = `brw${id}`;
  await ip('netns', 'add', name);
  try {
    await ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide);
    await ip('link', 'set', nsSide, 'netns', name);
    await ip('addr', 'add', `${HOST_ADDRESS}/30`, 'dev', hostSide);
    await ip('link', 'set', hostSide, 'up');
    await ip('-n', name, 'addr', 'add', `${NAMESPACE_ADDRESS}/30`, 'dev', nsSide);
    await ip('-n', name, 'link', 'set', nsSide, 'up');
    await ip('-n', name, 'link', 'set', 'lo', 'up');
  } catch (error) {
    await ip('netns', 'del', name).catch(() => {});
    throw error;
  }
  return {
    name,
    exec: ['ip', 'netns', 'exec', name],
    cut: async () => {
      await ip('link', 'set', hostSide, 'down');
    },
    restore: async () => {
      await ip('link', 'set', hostSide, 'up');
    },
    // Deleting the namespace deletes the veth pair with it.
    destroy: async () => {
      await ip('netns', 'del', name).catch(() => {});
      await ip('link', 'del', hostSide).catch(() => {});
    },
  };
}

/**
 * A network namespace of the test's own joined to this one by a veth pair, so a test can cut
 * and restore the link of a process running inside it. Addresses come from 198.18.0.0/30
 * (RFC 2544, reserved for benchmark tests): they exist on these two interfaces and nowhere else.
 * Needs root and `ip` (iproute2); `netnsUnavailable()` says why not when they are missing.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

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

export async function createNetworkNamespace(): Promise<NetworkNamespace> {
  const id = randomBytes(3).toString('hex');
  const name = `brns${id}`;
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

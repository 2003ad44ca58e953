/** What the figures were measured on and with: the machine, the servers, the package versions. */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../shared/package-root.js';
import { serverVersion } from './databases.js';
import type { BenchOptions } from './options.js';
import { redisVersion } from './redis.js';
import type { Machine } from './results.js';

/** Packages whose version shapes a figure: the anchors and Blockrunner's own hot path. */
const PACKAGES = ['pg-boss', 'graphile-worker', 'bullmq', 'ioredis', 'pg', 'ws', 'fastify', 'zod'];

export async function describeMachine(
  options: BenchOptions,
  loadAtStart: number,
): Promise<Machine> {
  const processors = cpus();
  return {
    cores: processors.length,
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    kernel: release(),
    postgres: await serverVersion(options.adminUrl).catch(
      (error: Error) => `unreachable (${error.message})`,
    ),
    redis:
      (await redisVersion(options.redisHost, options.redisPort)) ??
      `no answer at ${options.redisHost}:${options.redisPort}`,
    loadAverage: { start: loadAtStart, end: oneMinuteLoad() },
  };
}

/** Versions as installed (node_modules/<name>/package.json), not as ranges in package.json. */
export function packageVersions(): Record<string, string> {
  const root = packageRoot();
  const versions: Record<string, string> = { blockrunner: versionAt(root) };
  for (const name of PACKAGES) versions[name] = versionAt(join(root, 'node_modules', name));
  return versions;
}

function versionAt(dir: string): string {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      version?: string;
    };
    return manifest.version ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

export function oneMinuteLoad(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

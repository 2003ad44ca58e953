/**
 * Blockrunner as a user runs it: the built CLI (`node dist/cli/main.js manager` / `worker`) as
 * real processes, against a fresh PostgreSQL database, on loopback and a free port.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { packageRoot } from '../shared/package-root.js';
import { processCpuMs } from './cpu.js';
import { type BenchDatabase, createDatabase } from './databases.js';
import { connectedWorkers, isReady } from './manager-api.js';
import { BenchProcess } from './processes.js';
import { waitUntil } from './wait.js';

const START_TIMEOUT_MS = 30_000;
/** Bounds graceful stops: the scenario is over, nothing in flight matters any more. */
const SHUTDOWN_MS = '2000';

export interface WorkerSettings {
  queues: string[];
  concurrency: number;
  prefetch: number;
  /** A built-in name (`noop`, `sleep`) or an absolute module path. */
  handler: string;
  env?: Record<string, string>;
}

export class Cluster {
  readonly workers: BenchProcess[] = [];

  private constructor(
    readonly label: string,
    /** Node flags for every process of the cluster (--cpu-prof). */
    private readonly nodeArgs: string[],
    readonly database: BenchDatabase,
    readonly manager: BenchProcess,
    /** `http://127.0.0.1:<port>` */
    readonly url: string,
  ) {}

  /**
   * A fresh database and a manager on it, resolved once the manager leads. With `cpuProfDir`,
   * the manager and the workers write a CPU profile there when they exit.
   */
  static async start(adminUrl: string, label: string, cpuProfDir?: string): Promise<Cluster> {
    const nodeArgs =
      cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(cpuProfDir)}`];
    const database = await createDatabase(adminUrl, label);
    let manager: BenchProcess | undefined;
    try {
      const port = await freePort();
      manager = new BenchProcess(
        `${label} manager`,
        [...nodeArgs, cliPath(), 'manager'],
        {
          DATABASE_URL: database.url,
          HOST: '127.0.0.1',
          PORT: String(port),
          LOG_LEVEL: 'warn',
          BLOCKRUNNER_SHUTDOWN_MS: SHUTDOWN_MS,
        },
        packageRoot(),
      );
      const url = `http://127.0.0.1:${port}`;
      const started = manager;
      await waitUntil(
        async () => {
          assertRunning(started);
          return isReady(url);
        },
        { timeoutMs: START_TIMEOUT_MS, intervalMs: 50, message: `${label} manager to be ready` },
      );
      return new Cluster(label, nodeArgs, database, manager, url);
    } catch (error) {
      manager?.kill();
      await manager?.exited;
      await database.drop();
      throw new Error(`cannot start the ${label} manager: ${(error as Error).message}`, {
        cause: manager ? new Error(manager.describe()) : error,
      });
    }
  }

  get wsUrl(): string {
    return `${this.url.replace(/^http/, 'ws')}/v1/ws`;
  }

  /** Starts `count` workers and resolves once all of them are connected. */
  async addWorkers(count: number, settings: WorkerSettings): Promise<BenchProcess[]> {
    const expected = this.workers.length + count;
    const added: BenchProcess[] = [];
    for (let i = 0; i < count; i++) {
      const name = `bench-${this.label}-${this.workers.length + 1}`;
      const worker = new BenchProcess(
        `${this.label} worker ${name}`,
        [...this.nodeArgs, cliPath(), 'worker'],
        {
          BLOCKRUNNER_MANAGER_URL: this.wsUrl,
          BLOCKRUNNER_QUEUES: settings.queues.join(','),
          BLOCKRUNNER_CONCURRENCY: String(settings.concurrency),
          BLOCKRUNNER_PREFETCH: String(settings.prefetch),
          BLOCKRUNNER_HANDLER: settings.handler,
          BLOCKRUNNER_WORKER_NAME: name,
          BLOCKRUNNER_SHUTDOWN_MS: SHUTDOWN_MS,
          LOG_LEVEL: 'warn',
          ...settings.env,
        },
        packageRoot(),
      );
      this.workers.push(worker);
      added.push(worker);
    }
    await waitUntil(
      async () => {
        this.assertRunning();
        return (await connectedWorkers(this.url)) >= expected;
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 50, message: `${expected} connected workers` },
    );
    return added;
  }

  /** CPU time the workers have used so far, in ms, all of them together (cpu.ts). */
  workersCpuMs(): number {
    return this.workers.reduce((sum, worker) => sum + processCpuMs(worker.pid), 0);
  }

  /** Throws, with the process's last output, when the manager or a worker has exited. */
  assertRunning(): void {
    assertRunning(this.manager);
    for (const worker of this.workers) assertRunning(worker);
  }

  /** Workers first (their leases go back at once), then the manager, then the database. */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()));
    await this.manager.stop();
    await this.database.drop();
  }
}

function assertRunning(process: BenchProcess): void {
  if (process.exitStatus()) throw new Error(`${process.label} died: ${process.describe()}`);
}

function cliPath(): string {
  const path = join(packageRoot(), 'dist', 'cli', 'main.js');
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first`);
  return path;
}

/**
 * A port that was free a moment ago on 127.0.0.1 (the manager logs no URL at LOG_LEVEL warn;
 * anvil is given its port too).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

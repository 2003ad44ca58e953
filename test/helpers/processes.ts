/**
 * Real processes of the built CLI (`node dist/cli/main.js manager|worker`) for end-to-end and
 * crash tests: started on port 0, awaited until they serve, their output kept for the error
 * message, and every one of them registered so that `stopAll()` leaves nothing behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { packageRoot } from '../../shared/package-root.js';
import { waitFor } from './wait.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A parsed JSON log line; a line that is not JSON arrives as `{ stream, text }`. */
export type LogEntry = Record<string, unknown>;

export interface TrackedProcess {
  /** What the process is, for messages: `manager`, `worker w1`, ... */
  readonly label: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Resolves once the process has exited and its output has been read. */
  readonly exited: Promise<ExitStatus>;
  /** How the process ended; undefined while it runs. */
  exitStatus(): ExitStatus | undefined;
  /** The last lines of stdout and stderr (at most 2,000), oldest first. */
  logs(): string[];
  /**
   * The first log line, already printed or still to come, for which `predicate` holds.
   * Rejects when the process exits first or after `timeoutMs` (default 10,000).
   */
  waitForLog(predicate: (entry: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry>;
  /**
   * Sends `signal` (default SIGTERM) and waits up to `timeoutMs` (default 10,000) for the exit.
   * A process still running then is killed with SIGKILL and the call rejects: a graceful stop
   * that hangs is a bug. Resolves at once for a process that has already exited.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
  /** SIGKILL, as a crash test wants it, and waits for the exit. */
  kill(): Promise<void>;
  /** The label, pid, exit status and the last `lines` lines of output, for error messages. */
  describe(lines?: number): string;
}

export interface ManagerProcess extends TrackedProcess {
  /** `http://127.0.0.1:<port>`, as the manager logged it. */
  url: string;
  /** `ws://127.0.0.1:<port>/v1/ws`, for workers. */
  wsUrl: string;
}

export type WorkerProcess = TrackedProcess;

export interface StartManagerOptions {
  databaseUrl: string;
  /** Added to (and overriding) DATABASE_URL, HOST=127.0.0.1 and PORT=0. */
  env?: Record<string, string>;
  /** Wait for /readyz to answer 200 (leading). Default true; false for a standby test. */
  waitForReady?: boolean;
  /** Default 20,000. */
  timeoutMs?: number;
}

export interface StartWorkerOptions {
  managerUrl: string;
  env?: Record<string, string>;
  /** Wait for the first `worker connected` line. Default true; false for a refused worker. */
  waitForConnected?: boolean;
  /** Default 20,000. */
  timeoutMs?: number;
}

export interface StopAllOptions {
  /**
   * The test should have stopped everything itself: any process still running is killed and
   * reported. Default false: running processes are stopped gracefully, as `afterAll` wants.
   */
  strict?: boolean;
  /** How long each process may take to exit on SIGTERM. Default 10,000. */
  timeoutMs?: number;
}

const MAX_LINES = 2_000;
const DEFAULT_START_TIMEOUT_MS = 20_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const TAIL_LINES = 40;

/** Everything spawned and not yet handled by `stopAll`. */
const registry = new Set<TrackedProcess>();

/**
 * Last resort when a test file dies without its afterAll: no child outlives the test process.
 * One set and one 'exit' listener per process, shared by every test file that the process
 * runs (each file loads this module afresh).
 */
function liveChildren(): Set<ChildProcess> {
  const key = Symbol.for('blockrunner.test.liveChildren');
  const holder = globalThis as unknown as Record<symbol, Set<ChildProcess> | undefined>;
  let children = holder[key];
  if (children === undefined) {
    const created = new Set<ChildProcess>();
    process.once('exit', () => {
      for (const child of created) child.kill('SIGKILL');
    });
    holder[key] = created;
    children = created;
  }
  return children;
}

/** Variables of the developer's shell that would change what the process under test does. */
function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('BLOCKRUNNER_')) continue;
    if (['DATABASE_URL', 'HOST', 'PORT', 'LOG_LEVEL'].includes(key)) continue;
    env[key] = value;
  }
  return env;
}

/**
 * Spawns `command` with `env` over the inherited environment (minus Blockrunner's own
 * variables), output captured, and registers it for `stopAll`.
 */
export function spawnTracked(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  label = command,
): TrackedProcess {
  const child = spawn(command, args, {
    cwd: packageRoot(),
    env: { ...inheritedEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: { stream: 'stdout' | 'stderr'; text: string }[] = [];
  const waiters = new Set<{
    predicate: (entry: LogEntry) => boolean;
    resolve: (entry: LogEntry) => void;
    reject: (error: Error) => void;
  }>();
  let status: ExitStatus | undefined;
  let spawnError: Error | undefined;

  const tracked: TrackedProcess = {
    label,
    pid: child.pid ?? -1,
    process: child,
    exited: new Promise<ExitStatus>((resolve) => {
      child.once('error', (error) => {
        spawnError = error;
        // A process that never started emits no 'close'.
        if (child.pid === undefined) finish({ code: null, signal: null }, resolve);
      });
      child.once('close', (code, signal) => finish({ code, signal }, resolve));
      // 'close' waits for the pipes too, which a grandchild may hold open: after the exit
      // itself, give the output a moment to drain and then stop waiting for it.
      child.once('exit', (code, signal) => {
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          finish({ code, signal }, resolve);
        }, 1_000).unref();
      });
    }),
    exitStatus: () => status,
    logs: () => lines.slice(-MAX_LINES).map((line) => line.text),
    waitForLog: (predicate, timeoutMs = 10_000) =>
      new Promise<LogEntry>((resolve, reject) => {
        try {
          for (const line of lines) {
            const entry = parseLine(line.stream, line.text);
            if (predicate(entry)) return resolve(entry);
          }
        } catch (error) {
          return reject(error);
        }
        if (status !== undefined) {
          return reject(new Error(`no matching log line: ${tracked.describe()}`));
        }
        const waiter = {
          predicate,
          resolve: (entry: LogEntry) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(entry);
          },
          reject: (error: Error) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            reject(error);
          },
        };
        const timer = setTimeout(
          () =>
            waiter.reject(
              new Error(`no matching log line within ${timeoutMs} ms: ${tracked.describe()}`),
            ),
          timeoutMs,
        );
        waiters.add(waiter);
      }),
    stop: async (signal = 'SIGTERM', timeoutMs = DEFAULT_STOP_TIMEOUT_MS) => {
      if (status !== undefined) return status;
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      });
      const result = await Promise.race([tracked.exited, timedOut]);
      clearTimeout(timer);
      if (result !== undefined) return result;
      await tracked.kill();
      throw new Error(
        `${label} (pid ${tracked.pid}) did not exit within ${timeoutMs} ms of ${signal}; killed it: ${tracked.describe()}`,
      );
    },
    kill: async () => {
      if (status === undefined) child.kill('SIGKILL');
      await tracked.exited;
    },
    describe: (count = TAIL_LINES) => {
      const state =
        status === undefined
          ? 'running'
          : spawnError !== undefined && child.pid === undefined
            ? `failed to start (${spawnError.message})`
            : `exited (${formatStatus(status)})`;
      const tail = lines
        .slice(-count)
        .map((line) => (line.stream === 'stderr' ? `[stderr] ${line.text}` : line.text));
      const output = tail.length === 0 ? '(no output)' : tail.join('\n');
      return `${label} (pid ${tracked.pid}) ${state}; last ${tail.length} lines of output:\n${output}`;
    },
  };

  function finish(exit: ExitStatus, resolve: (exit: ExitStatus) => void) {
    if (status !== undefined) return;
    status = exit;
    liveChildren().delete(child);
    for (const waiter of waiters) {
      waiter.reject(new Error(`exited before a matching log line appeared: ${tracked.describe()}`));
    }
    resolve(exit);
  }

  function push(stream: 'stdout' | 'stderr', text: string) {
    lines.push({ stream, text });
    // Trim in batches so that a chatty process costs a copy per 2,000 lines, not per line.
    if (lines.length >= 2 * MAX_LINES) lines.splice(0, lines.length - MAX_LINES);
    if (waiters.size === 0) return;
    const entry = parseLine(stream, text);
    for (const waiter of waiters) {
      try {
        if (waiter.predicate(entry)) waiter.resolve(entry);
      } catch (error) {
        waiter.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  readLines(child.stdout, (text) => push('stdout', text));
  readLines(child.stderr, (text) => push('stderr', text));
  registry.add(tracked);
  if (status === undefined) liveChildren().add(child);
  if (child.pid === undefined) {
    throw new Error(`cannot start ${label}: ${command} ${args.join(' ')}`);
  }
  return tracked;
}

/** Starts `blockrunner manager` and resolves once it listens and (by default) leads. */
export async function startManager(options: StartManagerOptions): Promise<ManagerProcess> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const tracked = spawnTracked(
    process.execPath,
    [cliPath(), 'manager'],
    { DATABASE_URL: options.databaseUrl, HOST: '127.0.0.1', PORT: '0', ...options.env },
    'manager',
  );
  try {
    const listening = await tracked.waitForLog(
      (entry) => entry.msg === 'manager listening' && typeof entry.url === 'string',
      timeoutMs,
    );
    const url = String(listening.url).replace(/\/+$/, '');
    if (options.waitForReady ?? true) await waitUntilReady(tracked, url, deadline);
    return Object.assign(tracked, { url, wsUrl: `${url.replace(/^http/, 'ws')}/v1/ws` });
  } catch (error) {
    await tracked.kill();
    throw new Error(
      `manager did not start within ${timeoutMs} ms (${errorMessage(error)})\n${tracked.describe()}`,
      { cause: error },
    );
  }
}

/** Starts `blockrunner worker` and resolves once it has connected (by default). */
export async function startWorker(options: StartWorkerOptions): Promise<WorkerProcess> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const name = options.env?.BLOCKRUNNER_WORKER_NAME;
  const tracked = spawnTracked(
    process.execPath,
    [cliPath(), 'worker'],
    { BLOCKRUNNER_MANAGER_URL: options.managerUrl, ...options.env },
    name === undefined ? 'worker' : `worker ${name}`,
  );
  if (!(options.waitForConnected ?? true)) return tracked;
  try {
    await tracked.waitForLog((entry) => entry.msg === 'worker connected', timeoutMs);
    return tracked;
  } catch (error) {
    await tracked.kill();
    throw new Error(
      `${tracked.label} did not connect to ${options.managerUrl} within ${timeoutMs} ms (${errorMessage(error)})\n${tracked.describe()}`,
      { cause: error },
    );
  }
}

/**
 * For `afterEach`/`afterAll`: stops every process spawned since the last call, all at once.
 * Throws, after everything is down, when a process ignored SIGTERM for `timeoutMs` and had to
 * be killed, or (with `strict`) when any process was still running at all.
 */
export async function stopAll(options: StopAllOptions = {}): Promise<void> {
  const all = [...registry];
  registry.clear();
  const running = all.filter((tracked) => tracked.exitStatus() === undefined);
  if (options.strict) {
    await Promise.all(running.map((tracked) => tracked.kill()));
    if (running.length > 0) {
      throw new Error(
        `${running.length} process(es) left running by the test, killed now:\n${running
          .map((tracked) => tracked.describe(10))
          .join('\n\n')}`,
      );
    }
    return;
  }
  const results = await Promise.allSettled(
    running.map((tracked) => tracked.stop('SIGTERM', options.timeoutMs)),
  );
  const problems = results.flatMap((result) =>
    result.status === 'rejected' ? [errorMessage(result.reason)] : [],
  );
  if (problems.length > 0) throw new Error(problems.join('\n\n'));
}

export function cliPath(): string {
  const path = join(packageRoot(), 'dist', 'cli', 'main.js');
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build first with \`npm run build\` (\`npm test\` does)`);
  }
  return path;
}

async function waitUntilReady(tracked: TrackedProcess, url: string, deadline: number) {
  let last = 'no answer yet';
  // The probe reports an exit instead of throwing it: waitFor retries a throwing probe, and an
  // exited manager must fail the start at once, not at the deadline.
  const outcome = await waitFor(
    async () => {
      const status = tracked.exitStatus();
      if (status !== undefined) return { exited: status };
      try {
        const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1_000) });
        await response.text();
        if (response.status === 200) return { ready: true };
        last = `status ${response.status}`;
      } catch (error) {
        last = errorMessage(error);
      }
      return undefined;
    },
    { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 50, message: '/readyz' },
  ).catch((error: unknown) => {
    throw new Error(`/readyz did not answer 200 (last: ${last})`, { cause: error });
  });
  if (outcome.exited !== undefined) {
    throw new Error(`exited (${formatStatus(outcome.exited)}) before /readyz answered 200`);
  }
}

function readLines(stream: Readable | null, onLine: (text: string) => void) {
  if (stream === null) return;
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    partial += chunk;
    let end = partial.indexOf('\n');
    while (end !== -1) {
      onLine(partial.slice(0, end).replace(/\r$/, ''));
      partial = partial.slice(end + 1);
      end = partial.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (partial !== '') onLine(partial);
    partial = '';
  });
}

function parseLine(stream: 'stdout' | 'stderr', text: string): LogEntry {
  if (text.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        return parsed as LogEntry;
      }
    } catch {
      // Not JSON after all: handed over as text below.
    }
  }
  return { stream, text };
}

function formatStatus(status: ExitStatus): string {
  return status.signal !== null ? `signal ${status.signal}` : `code ${status.code}`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The process's exit status, or a rejection naming it when it is still running after `ms`. */
export async function exitWithin(tracked: TrackedProcess, ms: number): Promise<ExitStatus> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`still running after ${ms} ms: ${tracked.describe()}`)),
      ms,
    );
  });
  try {
    return await Promise.race([tracked.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The JSON log lines of a process's output, parsed; other lines are left out. */
export function logEntries(tracked: TrackedProcess): LogEntry[] {
  return tracked.logs().flatMap((line) => {
    try {
      return [JSON.parse(line) as LogEntry];
    } catch {
      return [];
    }
  });
}

/** Whether a process with this pid exists (one of another user's counts too). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

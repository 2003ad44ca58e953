/**
 * Running the Python worker library (clients/python/) as real processes, for the tests in this
 * folder: the interpreter (BLOCKRUNNER_PYTHON, default Debian's /usr/bin/python3, with
 * python3-websockets installed by .ci/install-python-websockets when missing), the example and
 * the test fixture, and their JSON log lines.
 */
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../shared/package-root.js';
import { api } from '../helpers/http.js';
import { type LogEntry, spawnTracked, type TrackedProcess } from '../helpers/processes.js';

export const PYTHON = process.env.BLOCKRUNNER_PYTHON ?? '/usr/bin/python3';
export const NOOP_WORKER = 'clients/python/examples/noop_worker.py';
export const TEST_WORKER = 'test/clients/fixtures/test_worker.py';
export const INSTALL_TIMEOUT_MS = 300_000;

/**
 * For `beforeAll`: Debian's python3 without python3-websockets gets it installed as CI does; a
 * BLOCKRUNNER_PYTHON of one's own is left alone.
 */
export async function ensurePythonWebsockets(): Promise<void> {
  if (process.env.BLOCKRUNNER_PYTHON !== undefined) return;
  if (spawnSync(PYTHON, ['-c', 'import websockets']).status === 0) return;
  try {
    await promisify(execFile)(join(packageRoot(), '.ci', 'install-python-websockets'), {
      timeout: INSTALL_TIMEOUT_MS,
    });
  } catch (error) {
    throw new Error(
      `${PYTHON} cannot import websockets and .ci/install-python-websockets failed: apt-get install python3-websockets and run again`,
      { cause: error },
    );
  }
}

export interface PythonWorkerOptions {
  /** Default the noop example. */
  script?: string;
  args: string[];
  env?: Record<string, string>;
  /** Wait for the first `worker connected` line. Default true. */
  waitForConnected?: boolean;
}

/** Starts a Python worker process, registered for `stopAll` like every tracked process. */
export async function startPythonWorker(options: PythonWorkerOptions): Promise<TrackedProcess> {
  const script = options.script ?? NOOP_WORKER;
  const worker = spawnTracked(PYTHON, [script, ...options.args], options.env, `python ${script}`);
  if (options.waitForConnected ?? true) {
    await worker.waitForLog((entry) => entry.msg === 'worker connected', 20_000);
  }
  return worker;
}

/** The worker's JSON log lines with this `msg`, oldest first. */
export function logEntries(worker: TrackedProcess, msg: string): LogEntry[] {
  return worker
    .logs()
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogEntry)
    .filter((entry) => entry.msg === msg);
}

/** The fixture's block hashes: heights from a fork on carry the chain's version. */
export function blockHash(value: number, version = 0): string {
  return `0x${version.toString(16)}${value.toString(16).padStart(63, '0')}`;
}

export interface HeightAnswer {
  height: number;
  state: string;
  attempts: number;
  lastError: string | null;
}

/** GET /v1/queues/default/heights/:height; throws unless it answers 200. */
export async function heightOf(managerUrl: string, value: number): Promise<HeightAnswer> {
  const { status, body } = await api(managerUrl).get<HeightAnswer>(
    `/v1/queues/default/heights/${value}`,
  );
  if (status !== 200) throw new Error(`height ${value}: ${status} ${JSON.stringify(body)}`);
  return body;
}

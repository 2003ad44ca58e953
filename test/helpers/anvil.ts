/**
 * A real local EVM node for tests: anvil, the binary that the `@foundry-rs/anvil` dev dependency
 * ships, on a free port of 127.0.0.1. It mines only when the test says so (`mine`), or every
 * `blockTime` seconds when a test wants steady production, and drives reorganisations with
 * `anvil_reorg` and `anvil_rollback`. Every node started is registered so that
 * `stopAllAnvils()` in an `afterEach`/`afterAll` leaves nothing running, and a watchdog kills
 * any that are still running when the test process ends, however it ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { packageRoot } from '../../shared/package-root.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface AnvilOptions {
  /**
   * Seconds between two blocks that anvil mines by itself (interval mining, `--block-time`;
   * fractions allowed). Default: none, blocks are mined by the test only.
   */
  blockTime?: number;
  /**
   * States anvil keeps in memory (`--prune-history <n>`). `anvil_reorg` and `anvil_rollback`
   * need the state of the block they go back to, so the deepest reorg or rollback is
   * `keptStates - 1`; a bare `--prune-history` keeps none and both fail. Default 128.
   */
  keptStates?: number;
  /** Default: a free port found with `freePort()`. */
  port?: number;
  /** Longest wait for the node to answer `eth_blockNumber`. Default 15,000 ms. */
  startTimeoutMs?: number;
}

export interface AnvilExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It ignored SIGTERM until the deadline and was sent SIGKILL. */
  killed: boolean;
}

/** A transaction as `eth_getBlockByNumber(height, true)` returns it (the fields tests read). */
export interface RpcTransaction {
  hash: string;
  blockNumber: string | null;
  transactionIndex: string | null;
  from: string;
  to: string | null;
  value: string;
  gas: string;
  input: string;
}

/** A block as `eth_getBlockByNumber` returns it: hex quantities, as the node sends them. */
export interface RpcBlock<Tx = string> {
  number: string;
  hash: string;
  parentHash: string;
  timestamp: string;
  gasUsed: string;
  miner: string;
  transactions: Tx[];
}

export interface TransferOptions {
  /** Index into anvil's funded dev accounts (`eth_accounts`). Default 0. */
  from?: number;
  /** Default 1. */
  to?: number;
  /** Wei. Default 1,000. */
  value?: bigint;
}

/** An error answer of the node; `code` is the JSON-RPC error code. */
export class AnvilRpcError extends Error {
  override name = 'AnvilRpcError';
  constructor(
    readonly method: string,
    readonly code: number,
    message: string,
  ) {
    super(`${method} failed: ${message} (JSON-RPC error ${code})`);
  }
}

const DEFAULT_KEPT_STATES = 128;
const DEFAULT_START_TIMEOUT_MS = 15_000;
const DEFAULT_STOP_TIMEOUT_MS = 5_000;
const RPC_TIMEOUT_MS = 10_000;
/** Lines of output kept for the error message of a failed start. */
const KEPT_LINES = 50;
/**
 * `reorg` signs its replacement transactions from its own pair of dev accounts, so that their
 * nonces never collide with transfers a test sends (accounts 0 and 1 by default) and left
 * pending in the pool, which a reorg leaves in place.
 */
const REORG_FROM = 9;
const REORG_TO = 8;

/** Every node started and not yet stopped. */
const running = new Set<Anvil>();

/**
 * Kills, when the test process exits or dies, every anvil it started: tracks them in a small
 * Node process that reads their pids from a pipe and SIGKILLs them when the pipe closes.
 * vitest ends its workers with SIGTERM, and SIGKILL half a second later, neither of which runs
 * 'exit' listeners; the closing pipe is the one sign that comes whatever way the process ends.
 */
const WATCHDOG_SOURCE = `
const pids = new Set();
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  const lines = (pending + chunk).split('\\n');
  pending = lines.pop();
  for (const line of lines) {
    if (line.startsWith('+')) pids.add(line.slice(1));
    else pids.delete(line.slice(1));
  }
});
process.stdin.on('end', () => {
  for (const pid of pids) {
    try { process.kill(Number(pid), 'SIGKILL'); } catch {}
  }
  process.exit(0);
});
`;

interface Reaper {
  children: Set<ChildProcess>;
  watchdog: ChildProcess | undefined;
}

/**
 * One reaper per process, shared by every test file that the process runs (each file loads
 * this module afresh): one 'exit' listener, one watchdog.
 */
function reaper(): Reaper {
  const key = Symbol.for('blockrunner.test.anvilReaper');
  const holder = globalThis as unknown as Record<symbol, Reaper | undefined>;
  let created = holder[key];
  if (created === undefined) {
    const children = new Set<ChildProcess>();
    process.once('exit', () => {
      for (const child of children) child.kill('SIGKILL');
    });
    created = { children, watchdog: undefined };
    holder[key] = created;
  }
  return created;
}

function track(child: ChildProcess) {
  const state = reaper();
  state.children.add(child);
  if (state.watchdog === undefined) {
    const watchdog = spawn(process.execPath, ['-e', WATCHDOG_SOURCE], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    // Neither the watchdog nor its pipe may keep the test process alive.
    watchdog.on('error', () => {});
    watchdog.stdin?.on('error', () => {});
    watchdog.unref();
    // A piped stdio stream is a Socket, which has unref().
    (watchdog.stdin as Socket | null)?.unref();
    state.watchdog = watchdog;
  }
  state.watchdog.stdin?.write(`+${child.pid}\n`);
}

function untrack(child: ChildProcess) {
  const state = reaper();
  state.children.delete(child);
  state.watchdog?.stdin?.write(`-${child.pid}\n`);
}

/** The anvil executable inside the platform package that `@foundry-rs/anvil` installs. */
export function anvilBinary(): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];
  const name = `@foundry-rs/anvil-${process.platform}-${arch ?? process.arch}`;
  const file = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  const require = createRequire(join(packageRoot(), 'package.json'));
  try {
    return require.resolve(`${name}/bin/${file}`);
  } catch (error) {
    throw new Error(
      `cannot find the anvil binary: ${name} is not installed (the @foundry-rs/anvil dev dependency brings it with \`npm install\`)`,
      { cause: error },
    );
  }
}

export class Anvil {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly pid: number;
  private accounts: string[] = [];
  private nextId = 1;
  /** Reorganisations made so far: each one's transfers carry values of their own. */
  private reorgs = 0;
  private exit: AnvilExit | undefined;
  private sentKill = false;
  private readonly exited: Promise<AnvilExit>;
  /** Resolves once stdout and stderr have ended, which may come after the exit. */
  private readonly closed: Promise<void>;
  private readonly lines: string[] = [];

  constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.pid = child.pid ?? -1;
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        this.exit ??= { code, signal, killed: this.sentKill };
        untrack(child);
        running.delete(this);
        resolve(this.exit);
      };
      child.once('exit', done);
      child.once('error', (error) => {
        this.keep(`[spawn] ${error.message}`);
        // A process that never started emits no 'exit'.
        if (child.pid === undefined) done(null, null);
      });
    });
    this.closed = new Promise((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => {
        if (child.pid === undefined) resolve();
      });
    });
    keepLines(child.stdout, (line) => this.keep(line));
    keepLines(child.stderr, (line) => this.keep(`[stderr] ${line}`));
  }

  /** How the process ended; undefined while it runs. */
  exitStatus(): AnvilExit | undefined {
    return this.exit;
  }

  /** The last lines anvil wrote (stderr ones marked), oldest first. */
  output(): string[] {
    return [...this.lines];
  }

  /** One JSON-RPC call; an error answer rejects with an AnvilRpcError. */
  async rpc<T = unknown>(
    method: string,
    params: unknown[] = [],
    timeoutMs = RPC_TIMEOUT_MS,
  ): Promise<T> {
    const id = this.nextId++;
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`${method}: HTTP ${response.status} from ${this.url}: ${text.slice(0, 300)}`);
    }
    const answer = JSON.parse(text) as {
      result?: T;
      error?: { code: number; message: string };
    };
    if (answer.error) throw new AnvilRpcError(method, answer.error.code, answer.error.message);
    return answer.result as T;
  }

  async blockNumber(): Promise<number> {
    return Number(await this.rpc<string>('eth_blockNumber'));
  }

  /** Mines `blocks` blocks at once (`anvil_mine`) and resolves with the new head. */
  async mine(blocks = 1): Promise<number> {
    assertCount('blocks', blocks);
    await this.rpc('anvil_mine', [hex(blocks)]);
    return this.blockNumber();
  }

  /** The block at `height` (with full transactions when asked), null when there is none. */
  block(height: number): Promise<RpcBlock | null>;
  block(height: number, withTxs: false): Promise<RpcBlock | null>;
  block(height: number, withTxs: true): Promise<RpcBlock<RpcTransaction> | null>;
  block(height: number, withTxs = false): Promise<RpcBlock<string | RpcTransaction> | null> {
    return this.rpc('eth_getBlockByNumber', [hex(height), withTxs]);
  }

  /**
   * Sends a small transfer between two funded dev accounts (anvil keeps them unlocked, so
   * `eth_sendTransaction` signs it) and resolves with its hash. Without interval mining it
   * stays pending until the next mined block.
   */
  async sendTransfer(options: TransferOptions = {}): Promise<string> {
    const { from = 0, to = 1, value = 1_000n } = options;
    return this.rpc<string>('eth_sendTransaction', [
      { from: this.account(from), to: this.account(to), value: hex(value) },
    ]);
  }

  /**
   * Replaces the top `depth` blocks with as many new ones (`anvil_reorg`): the head height stays
   * and the hashes of those blocks change, the block below them stays. The params are
   * `[depth, [[tx, offset], ...]]`, where `offset` 0 is the lowest replacement block and at most
   * `depth - 1`; anvil signs each tx with nonces counted from the common ancestor. `txCount`
   * transfers are spread over the replacement blocks from the lowest up, so the lowest one always
   * differs from the block it replaces and every hash above it changes through its parent. Each
   * call sends other values: two reorganisations in a row from the same ancestor would otherwise
   * sign the very same transfers (same nonces) and rebuild identical blocks, with the same hashes.
   */
  async reorg(depth: number, txCount = 1): Promise<void> {
    assertCount('depth', depth);
    assertCount('txCount', txCount);
    this.reorgs++;
    const pairs = Array.from({ length: txCount }, (_, index) => [
      {
        from: this.account(REORG_FROM),
        to: this.account(REORG_TO),
        value: hex(this.reorgs * 1_000 + index + 1),
      },
      index % depth,
    ]);
    await this.rpc('anvil_reorg', [depth, pairs]);
  }

  /** Removes the top `depth` blocks (`anvil_rollback`); their transactions are dropped. */
  async rollback(depth: number): Promise<void> {
    assertCount('depth', depth);
    await this.rpc('anvil_rollback', [depth]);
  }

  /** The hashes of heights `from`..`to` on the node's chain now, lowest first. */
  async canonicalHashes(from: number, to: number): Promise<string[]> {
    const heights = Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
    const blocks = await Promise.all(heights.map((height) => this.block(height)));
    return blocks.map((block, i) => {
      if (!block) throw new Error(`${this.url} has no block ${heights[i]}`);
      return block.hash;
    });
  }

  /**
   * SIGTERM, then SIGKILL if it has not exited within `timeoutMs`; resolves once it has exited.
   * Safe to call twice and on a node that has already exited.
   */
  async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<AnvilExit> {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    const exit = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (exit) return exit;
    this.sentKill = true;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** Waits up to `timeoutMs` for the last of the output after an exit. */
  async drained(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Label, state and last lines of output, for error messages. */
  describe(): string {
    const state = this.exit
      ? `exited (code ${this.exit.code}, signal ${this.exit.signal})`
      : 'running';
    const output = this.lines.length === 0 ? '(no output)' : this.lines.join('\n');
    return `anvil on ${this.url} (pid ${this.pid}) ${state}; last output:\n${output}`;
  }

  /** Called once by `startAnvil` when the node answers. */
  async loadAccounts(): Promise<void> {
    this.accounts = await this.rpc<string[]>('eth_accounts');
  }

  private account(index: number): string {
    const address = this.accounts[index];
    if (address === undefined) {
      throw new Error(`anvil has ${this.accounts.length} dev accounts, no account ${index}`);
    }
    return address;
  }

  private keep(line: string) {
    this.lines.push(line);
    if (this.lines.length > KEPT_LINES) this.lines.shift();
  }
}

/**
 * Starts anvil and resolves once it answers `eth_blockNumber`. A node that exits or stays
 * silent until the deadline is killed, and the error carries its last output.
 */
export async function startAnvil(options: AnvilOptions = {}): Promise<Anvil> {
  const port = options.port ?? (await freePort());
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--prune-history',
    String(options.keptStates ?? DEFAULT_KEPT_STATES),
    '--silent',
  ];
  // anvil mines a block per transaction unless told otherwise; tests decide when blocks come.
  if (options.blockTime === undefined) args.push('--no-mining');
  else args.push('--block-time', String(options.blockTime));

  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const anvil = new Anvil(child, port);
  if (child.pid !== undefined) track(child);
  running.add(anvil);
  try {
    const state = await waitFor(
      async () => {
        if (anvil.exitStatus()) return 'exited';
        await anvil.rpc('eth_blockNumber', [], 1_000);
        // An answer from a process that has exited came from whatever else holds the port.
        return anvil.exitStatus() ? 'exited' : 'answering';
      },
      { timeoutMs, message: `anvil on ${anvil.url} to answer eth_blockNumber` },
    );
    if (state === 'exited') throw new Error('anvil exited before it answered');
    await anvil.loadAccounts();
    return anvil;
  } catch (error) {
    await anvil.stop(1_000);
    await anvil.drained(1_000);
    throw new Error(
      `anvil did not start (${error instanceof Error ? error.message : String(error)})\n${anvil.describe()}`,
      { cause: error },
    );
  }
}

export interface StopAllAnvilsOptions {
  /**
   * The test should have stopped its nodes itself: any still running is stopped and reported
   * as an error. Default false: running nodes are stopped quietly, as `afterAll` wants.
   */
  strict?: boolean;
}

/**
 * For `afterEach`/`afterAll`: stops every node still running, all at once. Rejects, after all
 * are down, when one had to be killed or (with `strict`) when any was still running.
 */
export async function stopAllAnvils(options: StopAllAnvilsOptions = {}): Promise<void> {
  const nodes = [...running];
  const exits = await Promise.all(nodes.map((node) => node.stop()));
  const problems = nodes.flatMap((node, i) =>
    exits[i]?.killed ? [`ignored SIGTERM and was killed: ${node.describe()}`] : [],
  );
  if (options.strict && nodes.length > 0) {
    problems.unshift(
      `${nodes.length} anvil node(s) left running by the test, stopped now: ${nodes.map((node) => node.url).join(', ')}`,
    );
  }
  if (problems.length > 0) throw new Error(problems.join('\n\n'));
}

function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}

function assertCount(name: string, value: number) {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

function keepLines(stream: Readable | null, onLine: (line: string) => void) {
  if (stream === null) return;
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const part of parts) onLine(part.replace(/\r$/, ''));
  });
  stream.on('end', () => {
    if (partial !== '') onLine(partial);
    partial = '';
  });
}

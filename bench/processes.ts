/**
 * Child processes of the bench: Blockrunner managers and workers, anchor runs, anvil nodes and
 * the bare loops of S5. Each keeps the tail of its output for error messages, hands every line
 * to listeners (the S4 and S7 recorders print their timings on stdout), and is registered so
 * that an interrupted bench leaves none behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TAIL_LINES = 40;
const live = new Set<BenchProcess>();

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class BenchProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  private readonly tail: string[] = [];
  private readonly listeners = new Set<(line: string) => void>();

  constructor(
    readonly label: string,
    args: string[],
    env: Record<string, string>,
    cwd: string,
    /** What runs: Node by default, with `args` as its arguments; anvil gives its binary. */
    command: string = process.execPath,
  ) {
    this.child = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => {
        this.push(`[spawn error] ${error.message}`);
        if (this.child.pid === undefined) this.finish({ code: null, signal: null }, resolve);
      });
      // 'close', not 'exit': only then has every line of its output been read (the anchors'
      // result line is the last thing they print).
      this.child.once('close', (code, signal) => this.finish({ code, signal }, resolve));
    });
    readLines(this.child.stdout, (line) => this.push(line));
    readLines(this.child.stderr, (line) => this.push(`[stderr] ${line}`));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /** Calls `listener` for every later line of stdout (stderr lines carry a prefix). */
  onLine(listener: (line: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** SIGTERM, then SIGKILL when the process has not exited within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<ExitStatus> {
    if (this.status) return this.status;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    const status = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (status) return status;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  kill(): void {
    if (!this.status) this.child.kill('SIGKILL');
  }

  describe(): string {
    const state = this.status
      ? `exited (code ${this.status.code}, signal ${this.status.signal})`
      : 'running';
    const output = this.tail.length === 0 ? '(no output)' : this.tail.join('\n');
    return `${this.label} (pid ${this.pid}) ${state}; last lines:\n${output}`;
  }

  private push(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    for (const listener of this.listeners) listener(line);
  }

  private finish(status: ExitStatus, resolve: (status: ExitStatus) => void): void {
    if (this.status) return;
    this.status = status;
    live.delete(this);
    resolve(status);
  }
}

/** Every process the bench started that is still running: killed when the bench stops. */
export function liveProcesses(): BenchProcess[] {
  return [...live];
}

/** Resident set size of `pid` in bytes, from /proc/<pid>/status (VmRSS, in kB). */
export function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match?.[1]) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

function readLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    partial += chunk;
    let end = partial.indexOf('\n');
    while (end !== -1) {
      onLine(partial.slice(0, end));
      partial = partial.slice(end + 1);
      end = partial.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (partial !== '') onLine(partial);
    partial = '';
  });
}

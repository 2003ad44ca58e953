/**
 * One child process of a supervisor (worker/supervisor.ts, cli/up-supervisor.ts): spawned, its
 * exit awaited once whatever way it ends (a command that cannot start emits 'error' and never
 * 'exit'), and stopped with a deadline after which it is killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Env } from '../shared/config.js';

export interface ChildCommand {
  command: string;
  args: string[];
  env: Env;
}

export interface ChildOptions {
  stdio: 'inherit' | 'ignore';
  /** In a process group of its own, so a terminal's Ctrl-C does not reach it directly. */
  detached?: boolean;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Sent SIGKILL by us: it did not stop in time. */
  killed: boolean;
  /** Set when the command could not be started at all. */
  error: Error | undefined;
}

export class Child {
  readonly process: ChildProcess;
  readonly exited: Promise<ChildExit>;
  private exit: ChildExit | undefined;
  private killed = false;

  constructor(spec: ChildCommand, { stdio, detached = false }: ChildOptions) {
    this.process = spawn(spec.command, spec.args, {
      env: spec.env,
      // Children write their JSON lines straight to our stdout: one stream for the operator.
      stdio: ['ignore', stdio, stdio],
      detached,
    });
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
        this.exit ??= { code, signal, killed: this.killed, error };
        resolve(this.exit);
      };
      this.process.once('exit', (code, signal) => done(code, signal));
      this.process.once('error', (error) => {
        if (this.process.pid === undefined) done(null, null, error);
      });
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.running) return;
    if (signal === 'SIGKILL') this.killed = true;
    try {
      this.process.kill(signal);
    } catch {
      // Gone between the check and the kill: its exit is on its way.
    }
  }

  /** Sends `signal`, then SIGKILL once `timeoutMs` passed without an exit. */
  async stop(timeoutMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<ChildExit> {
    if (!this.running) return this.exited;
    this.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const first = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (first === 'late') this.kill('SIGKILL');
    return this.exited;
  }
}

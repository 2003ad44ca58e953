/**
 * One child process of a supervisor (worker/supervisor.ts, cli/up-supervisor.ts): spawned, its
 * exit awaited once whatever way it ends (a command that cannot start emits 'error' and never
 * 'exit'), and stopped with a deadline after which it is killed.
 *
 * Every child gets an IPC channel: it is how the child notices that its parent died, even of
 * SIGKILL (shared/parent-watch.ts), and how it says it is ready (`until`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Env } from './config.js';
import { type ChildMessage, childMessageSchema } from './parent-watch.js';

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
  private readonly messages: ChildMessage[] = [];
  private readonly listeners = new Set<(message: ChildMessage) => void>();

  constructor(spec: ChildCommand, { stdio, detached = false }: ChildOptions) {
    this.process = spawn(spec.command, spec.args, {
      env: spec.env,
      // Children write their JSON lines straight to our stdout: one stream for the operator.
      stdio: ['ignore', stdio, stdio, 'ipc'],
      detached,
    });
    this.process.on('message', (raw) => {
      // Anything else on the channel is not ours to act on.
      const parsed = childMessageSchema.safeParse(raw);
      if (!parsed.success) return;
      this.messages.push(parsed.data);
      for (const listener of this.listeners) listener(parsed.data);
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

  /** The first message of `type` the child sent; undefined once it exited without sending one. */
  until<T extends ChildMessage['type']>(
    type: T,
  ): Promise<Extract<ChildMessage, { type: T }> | undefined> {
    type Wanted = Extract<ChildMessage, { type: T }>;
    const isWanted = (message: ChildMessage): message is Wanted => message.type === type;
    const seen = this.messages.find(isWanted);
    if (seen) return Promise.resolve(seen);
    let listener: (message: ChildMessage) => void = () => {};
    const sent = new Promise<Wanted>((resolve) => {
      listener = (message) => {
        if (isWanted(message)) resolve(message);
      };
      this.listeners.add(listener);
    });
    return Promise.race([sent, this.exited.then(() => undefined)]).finally(() =>
      this.listeners.delete(listener),
    );
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

/**
 * The process tree behind `blockrunner up`: starts the manager, waits for its /readyz, starts
 * the workers, and stops them all together. Kept apart from cli/up.ts so tests drive it with
 * small stand-in processes and tiny timeouts (test/cli/up-supervisor.test.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Child } from '../shared/child-process.js';
import type { Env } from '../shared/config.js';

export interface ChildSpec {
  /** For messages: `manager`, `worker 1`. */
  name: string;
  command: string;
  args: string[];
  env: Env;
}

export interface SupervisorOptions {
  manager: ChildSpec;
  workers: ChildSpec[];
  /** Polled until it answers 200. */
  readyUrl: string;
  readyTimeoutMs: number;
  readyPollMs?: number;
  /** How long workers, then the manager, may take to stop before SIGKILL. */
  workerStopMs: number;
  managerStopMs: number;
  /** Called once every process is started. */
  onReady?: () => void;
  stdio?: 'inherit' | 'ignore';
}

export interface Exit {
  name: string;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Did not stop in time and was sent SIGKILL. */
  killed: boolean;
}

/** A started child and the spec it came from, its exit reported with the spec's name. */
class UpChild {
  readonly child: Child;
  readonly exited: Promise<Exit>;

  constructor(
    readonly spec: ChildSpec,
    stdio: 'inherit' | 'ignore',
  ) {
    // Its own process group: a Ctrl-C in the terminal reaches only `up`, which forwards it
    // once, in order (workers, then the manager), rather than every process at once.
    this.child = new Child(spec, { stdio, detached: true });
    this.exited = this.child.exited.then(({ code, signal, killed }) => ({
      name: spec.name,
      pid: this.child.pid,
      code,
      signal,
      killed,
    }));
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  async stop(signal: NodeJS.Signals, timeoutMs: number): Promise<Exit> {
    await this.child.stop(timeoutMs, signal);
    return this.exited;
  }
}

type Event =
  | { kind: 'stop'; signal: NodeJS.Signals }
  | { kind: 'exit'; exit: Exit }
  | { kind: 'ready' }
  | { kind: 'not-ready' };

export class UpSupervisor {
  private readonly children: UpChild[] = [];
  private stopSignal: NodeJS.Signals | undefined;
  private readonly stopRequested: Promise<Event>;
  private requestStop: (event: Event) => void = () => {};

  constructor(private readonly options: SupervisorOptions) {
    this.stopRequested = new Promise((resolve) => {
      this.requestStop = resolve;
    });
  }

  /** Every child's pid, for tests and for a last-resort kill on exit. */
  get pids(): number[] {
    return this.children.flatMap((c) => (c.child.pid === undefined ? [] : [c.child.pid]));
  }

  /**
   * First call: forward `signal` (workers first, then the manager). Second call: SIGKILL
   * everything at once, for an impatient second Ctrl-C.
   */
  stop(signal: NodeJS.Signals): void {
    if (this.stopSignal === undefined) {
      this.stopSignal = signal;
      this.requestStop({ kind: 'stop', signal });
    } else {
      for (const child of this.children) child.kill('SIGKILL');
    }
  }

  /** Synchronous SIGKILL of whatever still runs (process 'exit' handler). */
  killAll(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }

  /**
   * Resolves with every exit once a stop() finished; rejects when a process exits on its own
   * or the manager is not ready in time, after stopping the others.
   */
  async run(): Promise<Exit[]> {
    try {
      return await this.supervise();
    } catch (error) {
      await this.shutdown('SIGTERM');
      throw error;
    }
  }

  private async supervise(): Promise<Exit[]> {
    const { options } = this;
    const manager = this.start(options.manager);
    const exited = manager.exited.then((exit): Event => ({ kind: 'exit', exit }));
    const waiting = new AbortController();
    const ready = waitReady(
      options.readyUrl,
      options.readyTimeoutMs,
      options.readyPollMs ?? 100,
      waiting.signal,
    ).then((ok): Event => ({ kind: ok ? 'ready' : 'not-ready' }));
    const first = await Promise.race([this.stopRequested, exited, ready]);
    waiting.abort();
    await ready;
    if (first.kind === 'stop') return this.shutdown(first.signal);
    if (first.kind === 'exit')
      throw new Error(`manager ${describeExit(first.exit)} before it was ready`);
    if (first.kind === 'not-ready') {
      throw new Error(
        `manager not ready at ${options.readyUrl} within ${options.readyTimeoutMs} ms`,
      );
    }

    const workers = options.workers.map((spec) => this.start(spec));
    options.onReady?.();
    const next = await Promise.race([
      this.stopRequested,
      ...[manager, ...workers].map((c) => c.exited.then((exit): Event => ({ kind: 'exit', exit }))),
    ]);
    if (next.kind === 'stop') return this.shutdown(next.signal);
    if (next.kind === 'exit') throw new Error(`${next.exit.name} ${describeExit(next.exit)}`);
    throw new Error(`unexpected event ${next.kind}`);
  }

  private start(spec: ChildSpec): UpChild {
    const child = new UpChild(spec, this.options.stdio ?? 'inherit');
    this.children.push(child);
    return child;
  }

  /** Workers first, so they hand their heights back while the manager still listens. */
  private async shutdown(signal: NodeJS.Signals): Promise<Exit[]> {
    const [manager, ...workers] = this.children;
    const exits = await Promise.all(workers.map((w) => w.stop(signal, this.options.workerStopMs)));
    if (manager) exits.unshift(await manager.stop(signal, this.options.managerStopMs));
    return exits;
  }
}

export function describeExit(exit: Exit): string {
  if (exit.code === null && exit.signal === null) return 'could not be started';
  return exit.signal !== null
    ? `exited on ${exit.signal}`
    : `exited with code ${exit.code ?? 'unknown'}`;
}

/** True once `url` answers 200; false when `timeoutMs` passes or `signal` aborts first. */
async function waitReady(
  url: string,
  timeoutMs: number,
  pollMs: number,
  signal: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!signal.aborted && Date.now() < deadline) {
    try {
      const attempt = AbortSignal.any([signal, AbortSignal.timeout(Math.min(1_000, timeoutMs))]);
      const response = await fetch(url, { signal: attempt });
      await response.body?.cancel();
      if (response.status === 200) return true;
    } catch {
      // Not listening yet, or too slow to answer: poll again.
    }
    await sleep(pollMs, undefined, { signal }).catch(() => undefined);
  }
  return false;
}

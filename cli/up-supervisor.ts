/**
 * The process tree behind `blockrunner up` (docs/operations.md, "Process trees"): starts the
 * manager and waits until it is ready *itself*: it said over its IPC channel that it listens
 * (so the port answers for this child, not for another process that held it), then /readyz
 * answers 200. Then it starts the workers and waits until each says a manager welcomed it; only
 * then is `onReady` called. `reload()` (SIGHUP) replaces the workers one at a time; a stop ends
 * them all together, workers first. Kept apart from cli/up.ts so tests drive it with small
 * stand-in processes and tiny timeouts (test/cli/up-supervisor.test.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Child } from '../shared/child-process.js';
import type { Env } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';

/** What a child that refused its configuration exits with (cli/main.ts: ConfigError). */
const CONFIG_ERROR_EXIT = 2;

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
  /** Polled until it answers 200, once the manager said it listens. */
  readyUrl: string;
  /** Bounds the manager's start, and then the workers' connection. */
  readyTimeoutMs: number;
  readyPollMs?: number;
  /** How long workers, then the manager, may take to stop before SIGKILL. */
  workerStopMs: number;
  managerStopMs: number;
  /** Called once the manager is ready and every worker is connected to it. */
  onReady?: () => void;
  /** One line about a reload, for the operator. */
  onNotice?: (line: string) => void;
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

  get pid(): number | undefined {
    return this.child.pid;
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
  | { kind: 'exit'; exit: Exit; child: UpChild }
  | { kind: 'done'; ok: boolean }
  | { kind: 'changed' };

export class UpSupervisor {
  /** Every child ever started, retired workers included: for pids and the last-resort kill. */
  private readonly children: UpChild[] = [];
  /** The workers serving now, one per spec; a reload swaps them one by one. */
  private workers: UpChild[] = [];
  private stopSignal: NodeJS.Signals | undefined;
  private readonly stopRequested: Promise<Event>;
  private requestStop: (event: Event) => void = () => {};
  /** Aborted by the stop: ends every wait of a start or a reload. */
  private readonly stopped = new AbortController();
  private ready = false;
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  /** Resolved whenever `workers` changes, so the watch over their exits is re-armed. */
  private changed: { promise: Promise<Event>; resolve: () => void } = changeSignal();

  constructor(private readonly options: SupervisorOptions) {
    this.stopRequested = new Promise((resolve) => {
      this.requestStop = resolve;
    });
  }

  /** Every child's pid, for tests and for a last-resort kill on exit. */
  get pids(): number[] {
    return this.children.flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  }

  /**
   * First call: forward `signal` (workers first, then the manager). Second call: SIGKILL
   * everything at once, for an impatient second Ctrl-C.
   */
  stop(signal: NodeJS.Signals): void {
    if (this.stopSignal === undefined) {
      this.stopSignal = signal;
      this.stopped.abort();
      this.requestStop({ kind: 'stop', signal });
    } else {
      this.killAll();
    }
  }

  /** Synchronous SIGKILL of whatever still runs (process 'exit' handler). */
  killAll(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }

  /**
   * SIGHUP: replaces the workers one at a time, each by a new process (which imports the handler
   * again) that a manager welcomed before the old one is stopped. Ignored until up is ready; a
   * SIGHUP during a reload runs one more pass after it.
   */
  reload(): void {
    if (this.stopSignal !== undefined) return;
    if (!this.ready) {
      this.notice('not ready yet: SIGHUP ignored');
      return;
    }
    if (this.reloading) {
      this.reloadAgain = true;
      return;
    }
    this.reloading = this.replaceWorkers().finally(() => {
      this.reloading = undefined;
      if (this.reloadAgain) {
        this.reloadAgain = false;
        this.reload();
      }
    });
  }

  /**
   * Resolves with every exit once a stop() finished; rejects when a process exits on its own,
   * the manager is not ready in time or a worker does not connect in time, after stopping the
   * others.
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
    const deadline = Date.now() + options.readyTimeoutMs;
    const managerReady = (async () => {
      const listening = await within(
        manager.child.until('listening'),
        options.readyTimeoutMs,
        this.stopped.signal,
      );
      if (!listening) return false;
      return waitReady(
        options.readyUrl,
        deadline - Date.now(),
        options.readyPollMs ?? 100,
        this.stopped.signal,
      );
    })();
    const first = await this.race(managerReady, [manager]);
    if (first.kind === 'stop') return this.shutdown(first.signal);
    const managerExit = await this.exitOf(first, [manager]);
    if (managerExit?.code === CONFIG_ERROR_EXIT)
      throw new ConfigError('manager refused its configuration (exit 2; see its line above)');
    if (managerExit) throw new Error(`manager ${describeExit(managerExit)} before it was ready`);
    if (first.kind === 'done' && !first.ok) {
      throw new Error(
        `manager not ready at ${options.readyUrl} within ${options.readyTimeoutMs} ms`,
      );
    }

    this.workers = options.workers.map((spec) => this.start(spec));
    const connected = within(
      Promise.all(this.workers.map((w) => w.child.until('connected'))).then((all) =>
        all.every(Boolean),
      ),
      options.readyTimeoutMs,
      this.stopped.signal,
    ).then(Boolean);
    const second = await this.race(connected, [manager, ...this.workers]);
    if (second.kind === 'stop') return this.shutdown(second.signal);
    const early = await this.exitOf(second, [manager, ...this.workers]);
    if (early?.code === CONFIG_ERROR_EXIT) {
      // Its own line above names the setting (a handler that cannot be loaded): up exits 2 too.
      throw new ConfigError(`${early.name} refused its configuration (exit 2; see its line above)`);
    }
    if (early) throw new Error(`${early.name} ${describeExit(early)} before the workers connected`);
    if (second.kind === 'done' && !second.ok) {
      throw new Error(`workers not connected to the manager within ${options.readyTimeoutMs} ms`);
    }
    this.ready = true;
    options.onReady?.();

    for (;;) {
      const watched = [manager, ...this.workers];
      const next = await this.race(this.changed.promise, watched);
      if (next.kind === 'stop') return this.shutdown(next.signal);
      if (next.kind === 'exit' && this.serving(next.child))
        throw new Error(`${next.exit.name} ${describeExit(next.exit)}`);
      // A change of workers by a reload, or the exit of a worker it retired: watch again.
    }
  }

  /** The first of: `task` settled, one of `watched` exited, or a stop. */
  private race(task: Promise<boolean | Event>, watched: UpChild[]): Promise<Event> {
    return Promise.race([
      this.stopRequested,
      task.then(
        (value): Event => (typeof value === 'boolean' ? { kind: 'done', ok: value } : value),
      ),
      ...watched.map((child) =>
        child.exited.then((exit): Event => ({ kind: 'exit', exit, child })),
      ),
    ]);
  }

  /** The exit that ended a wait: the event's, or that of a child whose exit made it fail. */
  private async exitOf(event: Event, watched: UpChild[]): Promise<Exit | undefined> {
    if (event.kind === 'exit') return event.exit;
    if (event.kind !== 'done' || event.ok) return undefined;
    const gone = watched.find((child) => !child.child.running);
    return gone?.exited;
  }

  private serving(child: UpChild): boolean {
    return child === this.children[0] || this.workers.includes(child);
  }

  private start(spec: ChildSpec): UpChild {
    const child = new UpChild(spec, this.options.stdio ?? 'inherit');
    this.children.push(child);
    return child;
  }

  private notice(line: string): void {
    this.options.onNotice?.(line);
  }

  private async replaceWorkers(): Promise<void> {
    const { options } = this;
    this.notice(`reloading: replacing ${this.workers.length} workers one at a time`);
    for (let i = 0; i < this.workers.length; i++) {
      const old = this.workers[i] as UpChild;
      const spec = options.workers[i] as ChildSpec;
      if (this.stopSignal !== undefined) return;
      const successor = this.start(spec);
      const welcomed = await within(
        successor.child.until('connected'),
        options.readyTimeoutMs,
        this.stopped.signal,
      );
      if (this.stopSignal !== undefined) return; // shutdown() stops the successor too
      if (!welcomed) {
        const why = successor.child.running
          ? `did not connect within ${options.readyTimeoutMs} ms`
          : `${describeExit(await successor.exited)} before it connected`;
        await successor.stop('SIGTERM', options.workerStopMs);
        this.notice(`reload stopped: the new ${spec.name} ${why}; the old one keeps running`);
        return;
      }
      this.workers[i] = successor;
      this.changed.resolve();
      this.changed = changeSignal();
      // SIGTERM: the old worker hands back what it holds, finishes what runs, and ends.
      await old.stop('SIGTERM', options.workerStopMs);
      this.notice(`${spec.name} replaced (pid ${old.pid} -> pid ${successor.pid})`);
    }
    this.notice('reload done: every worker replaced');
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

function changeSignal(): { promise: Promise<Event>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<Event>((done) => {
    resolve = () => done({ kind: 'changed' });
  });
  return { promise, resolve };
}

/** What `promise` gives, or undefined once `ms` passed or `signal` aborted first. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  signal: AbortSignal,
): Promise<T | undefined> {
  const timeUp = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(Math.max(0, ms), undefined, { signal: AbortSignal.any([signal, timeUp.signal]) }).then(
        () => undefined,
        () => undefined,
      ),
    ]);
  } finally {
    timeUp.abort();
  }
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

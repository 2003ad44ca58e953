/**
 * `blockrunner worker --processes N` (docs/workers.md): N worker loops as child processes, each
 * replaced when it ends. A child that exits 0 without being asked to has retired at
 * BLOCKRUNNER_MAX_JOBS: it is replaced at once and is no crash. Any other end is a crash,
 * replaced after a capped backoff so that a crash loop is not a hot loop; more than
 * `restartLimit` crashes within `restartWindowMs` stop every child and end with code 1, so that
 * a container platform sees it. The child command is a parameter: tests drive the supervisor
 * with small stand-in processes (test/worker/supervisor.test.ts).
 */
import { type BackoffOptions, backoffDelay } from '../shared/backoff.js';
import { Child, type ChildCommand, type ChildExit } from '../shared/child-process.js';
import type { Logger } from '../shared/logger.js';

/** Before replacing a crashed child: 100 ms doubling to 5 s, per child, with jitter. */
export const CRASH_BACKOFF: BackoffOptions = { baseMs: 100, maxMs: 5_000 };

export interface SupervisorOptions {
  /** Children are `<name>-1` to `<name>-<processes>`; a replacement keeps the name it replaces. */
  name: string;
  processes: number;
  /** What to run as the child called `child`. */
  command(child: string): ChildCommand;
  restartLimit: number;
  restartWindowMs: number;
  /** How long children may take to exit after SIGTERM before they are killed. */
  stopTimeoutMs: number;
  /** Default CRASH_BACKOFF. */
  backoff?: BackoffOptions;
  log: Logger;
  /** Default inherit: the children's log lines go to our stdout and stderr. */
  stdio?: 'inherit' | 'ignore';
}

interface Slot {
  readonly name: string;
  child: Child | undefined;
  /** The replacement of a crashed child, waiting out its backoff. */
  restart: NodeJS.Timeout | undefined;
  /** When this slot's children crashed, within the window: sets the backoff. */
  crashes: number[];
}

export class WorkerSupervisor {
  /** Resolves with the exit code once every child is gone: 0 only after a clean stop. */
  readonly done: Promise<number>;
  private readonly slots: Slot[];
  private readonly log: Logger;
  /** When any child crashed, within the window. */
  private crashes: number[] = [];
  private stopping: Promise<void> | undefined;
  private exitCode = 0;
  private resolveDone: (code: number) => void = () => {};

  constructor(private readonly options: SupervisorOptions) {
    this.log = options.log;
    this.slots = Array.from({ length: options.processes }, (_, i) => ({
      name: `${options.name}-${i + 1}`,
      child: undefined,
      restart: undefined,
      crashes: [],
    }));
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** The pids of the children running now. */
  get pids(): number[] {
    return this.slots.flatMap((slot) =>
      slot.child?.running && slot.child.pid !== undefined ? [slot.child.pid] : [],
    );
  }

  start(): void {
    const { processes, restartLimit, restartWindowMs } = this.options;
    this.log.info({ processes, restartLimit, restartWindowMs }, 'supervisor started');
    for (const slot of this.slots) this.spawn(slot);
  }

  /** First call: SIGTERM to every child, SIGKILL after the deadline. Second: SIGKILL now. */
  stop(signal: NodeJS.Signals): void {
    if (this.stopping) {
      this.log.warn({ signal }, 'second signal, killing the children');
      this.killAll();
      return;
    }
    this.log.info({ signal }, 'supervisor stopping');
    void this.shutdown();
  }

  /** Synchronous SIGKILL of every child, for a process 'exit' handler. */
  killAll(): void {
    for (const slot of this.slots) slot.child?.kill('SIGKILL');
  }

  private spawn(slot: Slot): void {
    const child = new Child(this.options.command(slot.name), {
      stdio: this.options.stdio ?? 'inherit',
    });
    slot.child = child;
    // A command that cannot start has no pid; its crash line follows with the reason.
    if (child.pid !== undefined)
      this.log.info({ child: slot.name, childPid: child.pid }, 'child started');
    void child.exited.then((exit) => this.exited(slot, child, exit));
  }

  private exited(slot: Slot, child: Child, exit: ChildExit): void {
    if (slot.child === child) slot.child = undefined;
    if (this.stopping) return; // shutdown() reports it
    const fields = { child: slot.name, childPid: child.pid, code: exit.code, signal: exit.signal };
    if (exit.code === 0) {
      this.log.info(fields, 'child retired, restarting');
      this.spawn(slot);
      return;
    }

    const now = Date.now();
    const since = now - this.options.restartWindowMs;
    this.crashes = [...this.crashes.filter((at) => at > since), now];
    slot.crashes = [...slot.crashes.filter((at) => at > since), now];
    const { restartLimit: limit, restartWindowMs: windowMs } = this.options;
    const err = exit.error?.message;
    if (this.crashes.length > limit) {
      this.log.error(
        { ...fields, err, crashes: this.crashes.length, limit, windowMs },
        `children crashed ${this.crashes.length} times within ${windowMs} ms, more than BLOCKRUNNER_RESTART_LIMIT (${limit}): stopping`,
      );
      this.exitCode = 1;
      void this.shutdown();
      return;
    }
    const delayMs = backoffDelay(slot.crashes.length, this.options.backoff ?? CRASH_BACKOFF);
    this.log.warn({ ...fields, err, delayMs }, 'child crashed, restarting');
    slot.restart = setTimeout(() => {
      slot.restart = undefined;
      this.spawn(slot);
    }, delayMs);
  }

  private shutdown(): Promise<void> {
    this.stopping ??= this.stopChildren();
    return this.stopping;
  }

  private async stopChildren(): Promise<void> {
    for (const slot of this.slots) clearTimeout(slot.restart);
    const exits = await Promise.all(
      this.slots.map(async (slot) => {
        const child = slot.child;
        if (!child?.running) return undefined;
        const exit = await child.stop(this.options.stopTimeoutMs);
        const fields = {
          child: slot.name,
          childPid: child.pid,
          code: exit.code,
          signal: exit.signal,
        };
        if (exit.killed) this.log.warn(fields, 'child did not stop in time, killed');
        else this.log.info(fields, 'child stopped');
        return exit;
      }),
    );
    // Dying of the SIGTERM we sent is a clean stop too: a child still starting has no handler.
    const clean = exits.every(
      (exit) =>
        exit === undefined || (!exit.killed && (exit.code === 0 || exit.signal === 'SIGTERM')),
    );
    if (!clean) this.exitCode = 1;
    this.log.info({ code: this.exitCode }, 'supervisor stopped');
    this.resolveDone(this.exitCode);
  }
}

/**
 * `blockrunner worker --processes N` (docs/workers.md): N worker loops as child processes, each
 * replaced when it ends. A child that exits 0 without being asked to has retired at
 * BLOCKRUNNER_MAX_JOBS: it is replaced at once and is no crash. Any other end is a crash,
 * replaced after a capped backoff so that a crash loop is not a hot loop; more than
 * `restartLimit` crashes within `restartWindowMs` stop every child and end with code 1, so that
 * a container platform sees it. The child command is a parameter: tests drive the supervisor
 * with small stand-in processes (test/worker/supervisor.test.ts).
 *
 * A child that exits with code 2 has refused its configuration (a bad variable, a handler that
 * cannot load, a refused BLOCKRUNNER_WORKER_TOKEN): a restart would fail the same way, so every
 * child is stopped and the supervisor ends with code 2.
 *
 * Each slot is one retry run (shared/retry.ts) for the supervisor's whole life: an attempt is
 * the life of the slot's children, replaced within the attempt when they retire, and rejects
 * when one crashes; `shouldRetry` enforces the crash-loop limit, and the stop aborts the run,
 * a restart still waiting out its backoff included.
 *
 * `reload()` (SIGHUP) replaces the children one slot at a time: a successor is started beside
 * the child, and once a manager welcomed it the old child gets SIGTERM, hands back what it holds
 * and ends; the slot's run then carries on with the successor (docs/workers.md, "Hot swap").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Child, type ChildCommand, type ChildExit } from '../shared/child-process.js';
import type { Logger } from '../shared/logger.js';
import { RETRY_POLICIES, type RetryPolicy, retry } from '../shared/retry.js';

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
  /** Default RETRY_POLICIES.childRestart: 100 ms doubling to 5 s, equal jitter. */
  backoff?: RetryPolicy;
  log: Logger;
  /** Default inherit: the children's log lines go to our stdout and stderr. */
  stdio?: 'inherit' | 'ignore';
  /** How long a reload waits for a successor to be welcomed. Default 60000. */
  successorReadyMs?: number;
}

/** The exit code of a child that refused its configuration (cli/main.ts: ConfigError). */
export const CONFIG_ERROR_EXIT = 2;
const SUCCESSOR_READY_MS = 60_000;

interface Slot {
  readonly name: string;
  child: Child | undefined;
  /** Started by a reload, welcomed or about to be: the slot's next child once `child` ends. */
  successor: Child | undefined;
  /** When this slot's children crashed, within the window: sets the backoff. */
  crashes: number[];
}

/** A child that refused its configuration: never restarted. */
class ChildRefusedConfig extends Error {
  constructor(
    readonly slot: Slot,
    readonly child: Child,
  ) {
    super(`${slot.name} exited with code ${CONFIG_ERROR_EXIT}: its configuration is refused`);
  }
}

/** A child that ended other than by retiring: the failed attempt of its slot. */
class ChildCrashed extends Error {
  constructor(
    readonly slot: Slot,
    readonly child: Child,
    readonly exit: ChildExit,
  ) {
    super(exit.error?.message ?? `${slot.name} exited: code ${exit.code}, signal ${exit.signal}`);
  }

  /** What the log lines about this crash say. */
  get fields() {
    const { code, signal, error } = this.exit;
    return { child: this.slot.name, childPid: this.child.pid, code, signal, err: error?.message };
  }
}

export class WorkerSupervisor {
  /** Resolves with the exit code once every child is gone: 0 only after a clean stop. */
  readonly done: Promise<number>;
  private readonly slots: Slot[];
  private readonly log: Logger;
  /** When any child crashed, within the window. */
  private crashes: number[] = [];
  /** Aborted by the stop: ends every slot's retry run. */
  private readonly stopped = new AbortController();
  private stopping: Promise<void> | undefined;
  /** The reload running now, and whether another SIGHUP came during it. */
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  private exitCode = 0;
  private resolveDone: (code: number) => void = () => {};

  constructor(private readonly options: SupervisorOptions) {
    this.log = options.log;
    this.slots = Array.from({ length: options.processes }, (_, i) => ({
      name: `${options.name}-${i + 1}`,
      child: undefined,
      successor: undefined,
      crashes: [],
    }));
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** The pids of the children running now, successors of a reload included. */
  get pids(): number[] {
    return this.running().flatMap(({ child }) => (child.pid === undefined ? [] : [child.pid]));
  }

  /** Every child running now with its slot. */
  private running(): { slot: Slot; child: Child }[] {
    return this.slots.flatMap((slot) =>
      [slot.child, slot.successor].flatMap((child) => (child?.running ? [{ slot, child }] : [])),
    );
  }

  start(): void {
    const { processes, restartLimit, restartWindowMs } = this.options;
    this.log.info({ processes, restartLimit, restartWindowMs }, 'supervisor started');
    for (const slot of this.slots) void this.keep(slot);
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
    for (const { child } of this.running()) child.kill('SIGKILL');
  }

  /**
   * SIGHUP: replaces every child, one at a time, with a fresh process (which imports the
   * handler again), without a moment of fewer children than configured. A SIGHUP during a
   * reload runs one more pass after it, so the last deploy is the one that runs.
   */
  reload(): void {
    if (this.stopping) return;
    if (this.reloading) {
      this.reloadAgain = true;
      this.log.info('reload already running: another pass follows it');
      return;
    }
    this.reloading = this.replaceAll().finally(() => {
      this.reloading = undefined;
      if (this.reloadAgain) {
        this.reloadAgain = false;
        this.reload();
      }
    });
  }

  private async replaceAll(): Promise<void> {
    this.log.info({ processes: this.slots.length }, 'reloading: replacing children one at a time');
    for (const slot of this.slots) {
      if (this.stopping) return;
      if (!(await this.replace(slot))) {
        this.log.error(
          { child: slot.name },
          'reload stopped: the new child was not welcomed, the old one keeps running',
        );
        return;
      }
    }
    if (!this.stopping) this.log.info('reload done: every child replaced');
  }

  /** One slot of a reload; false when the successor failed and the old child was kept. */
  private async replace(slot: Slot): Promise<boolean> {
    const old = slot.child;
    // A slot between children (a crash's backoff) starts a fresh one anyway.
    if (!old?.running) return true;
    const successor = new Child(this.options.command(slot.name), {
      stdio: this.options.stdio ?? 'inherit',
    });
    slot.successor = successor;
    this.log.info(
      { child: slot.name, childPid: successor.pid, replaces: old.pid },
      'child started',
    );
    const timeUp = new AbortController();
    const ready = await Promise.race([
      successor.until('connected'),
      sleep(this.options.successorReadyMs ?? SUCCESSOR_READY_MS, undefined, {
        signal: AbortSignal.any([timeUp.signal, this.stopped.signal]),
      }).then(
        () => undefined,
        () => undefined,
      ),
    ]);
    timeUp.abort();
    if (this.stopping) return false; // shutdown() stops the successor too
    if (!ready && slot.successor === successor) {
      slot.successor = undefined;
      const exitedFirst = !successor.running;
      const { code, signal } = await successor.stop(this.options.stopTimeoutMs);
      this.log.warn(
        { child: slot.name, childPid: successor.pid, code, signal },
        exitedFirst
          ? 'new child exited before a manager welcomed it'
          : 'new child not welcomed by a manager in time, stopped',
      );
      return false;
    }
    // The old child may have ended meanwhile; then the slot runs the successor already.
    if (slot.successor === successor && old.running) await old.stop(this.options.stopTimeoutMs);
    return true;
  }

  /** Keeps `slot` filled until the stop; on a crash loop, stops everything with code 1. */
  private async keep(slot: Slot): Promise<void> {
    try {
      await retry(() => this.live(slot), {
        policy: this.options.backoff ?? RETRY_POLICIES.childRestart,
        signal: this.stopped.signal,
        shouldRetry: ({ error }) => this.counted(error),
        failures: () => slot.crashes.length,
        onFailedAttempt: ({ error, delayMs }) => {
          // Only crashes are retried: `counted` refuses anything else.
          const fields = error instanceof ChildCrashed ? error.fields : { child: slot.name };
          this.log.warn({ ...fields, delayMs }, 'child crashed, restarting');
        },
      });
    } catch (error) {
      if (this.stopping) return; // shutdown() reports how the children ended
      const { restartLimit: limit, restartWindowMs: windowMs } = this.options;
      if (error instanceof ChildRefusedConfig) {
        this.log.error(
          { child: slot.name, childPid: error.child.pid, code: CONFIG_ERROR_EXIT },
          'child refused its configuration (its last line says why); a restart cannot help: stopping',
        );
        this.exitCode = CONFIG_ERROR_EXIT;
        void this.shutdown();
        return;
      }
      if (error instanceof ChildCrashed) {
        const crashes = this.crashes.length;
        this.log.error(
          { ...error.fields, crashes, limit, windowMs },
          `children crashed ${crashes} times within ${windowMs} ms, more than BLOCKRUNNER_RESTART_LIMIT (${limit}): stopping`,
        );
      } else {
        this.log.error({ child: slot.name, err: error }, 'cannot run a child: stopping');
      }
      this.exitCode = 1;
      void this.shutdown();
    }
  }

  /**
   * One attempt of `slot`: a child, and the replacements of those that retire, until one
   * crashes (rejects with ChildCrashed) or the stop (resolves).
   */
  private async live(slot: Slot): Promise<void> {
    let child = this.spawn(slot);
    for (;;) {
      const exit = await child.exited;
      if (slot.child === child) slot.child = undefined;
      if (this.stopping) return; // shutdown() reports it
      const { code, signal } = exit;
      const successor = slot.successor;
      if (successor) {
        // Replaced by a reload (or it ended while its successor started): the successor goes on.
        slot.successor = undefined;
        slot.child = successor;
        this.log.info(
          { child: slot.name, childPid: child.pid, code, signal, successorPid: successor.pid },
          'child replaced',
        );
        child = successor;
        continue;
      }
      if (code === CONFIG_ERROR_EXIT) throw new ChildRefusedConfig(slot, child);
      if (code !== 0) throw new ChildCrashed(slot, child, exit);
      this.log.info(
        { child: slot.name, childPid: child.pid, code, signal },
        'child retired, restarting',
      );
      child = this.spawn(slot);
    }
  }

  /** Records a crash; false once the crashes within the window exceed the limit. */
  private counted(error: Error): boolean {
    if (!(error instanceof ChildCrashed)) return false;
    const now = Date.now();
    const since = now - this.options.restartWindowMs;
    this.crashes = [...this.crashes.filter((at) => at > since), now];
    error.slot.crashes = [...error.slot.crashes.filter((at) => at > since), now];
    return this.crashes.length <= this.options.restartLimit;
  }

  private spawn(slot: Slot): Child {
    const child = new Child(this.options.command(slot.name), {
      stdio: this.options.stdio ?? 'inherit',
    });
    slot.child = child;
    // A command that cannot start has no pid; its crash line follows with the reason.
    if (child.pid !== undefined)
      this.log.info({ child: slot.name, childPid: child.pid }, 'child started');
    return child;
  }

  private shutdown(): Promise<void> {
    this.stopping ??= this.stopChildren();
    return this.stopping;
  }

  private async stopChildren(): Promise<void> {
    this.stopped.abort(); // ends every slot's run, a restart waiting out its backoff included
    const exits = await Promise.all(
      this.running().map(async ({ slot, child }) => {
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
    // A stop for a refused configuration keeps its code: another child refused at the same
    // moment exits 2 too, which is no crash.
    if (!clean && this.exitCode !== CONFIG_ERROR_EXIT) this.exitCode = 1;
    this.log.info({ code: this.exitCode }, 'supervisor stopped');
    this.resolveDone(this.exitCode);
  }
}

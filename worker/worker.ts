/**
 * A worker: one link to the manager at a time (reconnect.ts), heights run by the height loop
 * (height-loop.ts), or by the range loop (range-loop.ts) for a module with `handleRange`, and a graceful stop that owns every timer and socket (docs/architecture.md,
 * "Threads of control").
 */

import { HandlerSetupError, wsClose } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import {
  type HelloFrame,
  PROTOCOL_VERSION,
  type RevertFrame,
  type WorkerFrame,
} from '../shared/protocol.js';
import { capacityOf, type WorkerConfig } from './config.js';
import type { Handler, HandlerModule, RangeHandler } from './handler.js';
import { errorMessage } from './handler-run.js';
import { HeightLoop } from './height-loop.js';
import { type Link, openLink, SILENT_HEARTBEATS } from './link.js';
import { RangeLoop, rangeCapacityOf } from './range-loop.js';
import { displayUrl, keepConnected } from './reconnect.js';

export interface Worker {
  /**
   * Stops taking dispatches, releases buffered heights, lets running handlers finish within
   * BLOCKRUNNER_SHUTDOWN_MS (then aborts them), sends their results, closes with 1000 and calls
   * the module's close(). Idempotent: there is one stop, and every call resolves once it has
   * finished; it never rejects (`done` carries a failure).
   */
  stop(): Promise<void>;
  /**
   * Settles when the stop has finished, also after a retirement at BLOCKRUNNER_MAX_JOBS.
   * Rejects when the handler module could not be loaded (ConfigError) or its setup threw
   * (HandlerSetupError), or when the manager refused its token (a ConfigError naming
   * BLOCKRUNNER_WORKER_TOKEN; docs/protocol.md, "Connecting"); the worker has stopped then too.
   */
  readonly done: Promise<void>;
  /** Resolves when a manager first welcomed this worker. */
  readonly connected: Promise<void>;
  /**
   * Whether a welcomed link to a manager is open now. A link silent for 2.5 heartbeats is
   * dropped (link.ts), so true means a leading manager was heard from within that time; the
   * health port's /readyz answers it (health-server.ts).
   */
  readonly linked: boolean;
}

/** A handler, a module, or a module still loading (loadHandlerModule's promise). */
export type HandlerSource<State = unknown> =
  | Handler<State>
  | HandlerModule<State>
  | Promise<HandlerModule<State>>;

/**
 * Runs one worker: loads the module, awaits its setup, and only then connects, so no height
 * runs before setup and every run sees its state. The CLI's `worker` (worker/main.ts) and the
 * library's startWorker (worker/index.ts) both run through here.
 */
export function runWorker<State>(
  config: WorkerConfig,
  source: HandlerSource<State>,
  log: Logger,
): Worker {
  const shutdown = new AbortController();
  const hello: HelloFrame = {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    name: config.BLOCKRUNNER_WORKER_NAME,
    queues: [...config.BLOCKRUNNER_QUEUES],
    capacity: capacityOf(config),
    // Range lists travel as deltas both ways (docs/protocol.md, "Range deltas").
    deltas: true,
  };
  let module: HandlerModule<State> | undefined;
  let heightLoop: HeightLoop | RangeLoop | undefined;
  /** Set once setup resolved: close() is owed from then on. */
  let setUp: { state: State } | undefined;
  let loop: Promise<void> | undefined;
  let current: Link | undefined;
  /** Aborted when the current link closes: a revert it asked for is the manager's to re-send. */
  let linkAlive: AbortController | undefined;
  const reverts = new Set<Promise<void>>();
  let markConnected: () => void = () => {};
  const connected = new Promise<void>((resolve) => {
    markConnected = resolve;
  });
  /** Why the reconnect loop gave up (a refused token): `done` rejects with it. */
  let refused: Error | undefined;

  /** The last start BLOCKRUNNER_MAX_JOBS allows: the stop begins inside it (see drain). */
  function retire(jobs: number): void {
    log.info({ jobs }, 'worker retiring: BLOCKRUNNER_MAX_JOBS reached');
    void stop();
  }

  /** BLOCKRUNNER_MAX_JOBS: heights counted as they start, so that exactly that many run. */
  function countedHandler(handler: Handler): Handler {
    const maxJobs = config.BLOCKRUNNER_MAX_JOBS;
    // Unlimited workers run the handler itself, with nothing in between. A limited one begins
    // its stop inside the last start, before the height loop starts another one.
    if (maxJobs === 0) return handler;
    let started = 0;
    return (height, ctx) => {
      if (++started === maxJobs) retire(started);
      return handler(height, ctx);
    };
  }

  /** BLOCKRUNNER_MAX_JOBS for a range handler: calls counted as they start. */
  function countedRangeHandler(handler: RangeHandler): RangeHandler {
    const maxJobs = config.BLOCKRUNNER_MAX_JOBS;
    if (maxJobs === 0) return handler;
    let started = 0;
    return (range, ctx) => {
      if (++started === maxJobs) retire(started);
      return handler(range, ctx);
    };
  }

  const connect = (url: string, loop: HeightLoop | RangeLoop): Promise<Link> =>
    openLink({
      url,
      token: config.BLOCKRUNNER_WORKER_TOKEN,
      hello,
      silenceMs: SILENT_HEARTBEATS * config.BLOCKRUNNER_HEARTBEAT_MS,
      signal: shutdown.signal,
      onWelcome(link) {
        current = link;
        linkAlive = new AbortController();
        const { workerId, leaseMs } = link.welcome;
        loop.connected((frame) => link.send(frame), leaseMs);
        markConnected();
        log.info({ workerId, url: displayUrl(url), leaseMs }, 'worker connected');
      },
      onFrame(frame) {
        if (frame.type === 'dispatch') loop.dispatch(frame);
        else if (frame.type === 'cancel') loop.cancel(frame);
        else {
          // The answer goes back on the link that asked, or nowhere.
          const asking = current;
          const running = runRevert(frame, linkAlive?.signal, (reply) => asking?.send(reply));
          reverts.add(running);
          void running.finally(() => reverts.delete(running));
        }
      },
      onClose({ code, reason, error }) {
        current = undefined;
        linkAlive?.abort(new Error('link to the manager closed'));
        loop.disconnected();
        if (shutdown.signal.aborted) return;
        log.warn({ code, reason, err: error?.message }, 'worker disconnected, reconnecting');
      },
    });

  /** Load, setup, then the reconnect loop. Rejects with what stops the worker at start. */
  async function begin(): Promise<void> {
    const given = await source;
    const loaded: HandlerModule<State> = typeof given === 'function' ? { handle: given } : given;
    module = loaded;
    // Without a setup, every ctx.state is undefined (docs/workers.md, "Life cycle").
    let state = undefined as State;
    if (shutdown.signal.aborted) return; // stopped while loading: nothing was opened
    if (loaded.setup) {
      try {
        state = await loaded.setup({ queues: hello.queues, log, signal: shutdown.signal });
      } catch (error) {
        throw new HandlerSetupError(`handler setup failed: ${errorMessage(error)}`, {
          cause: error,
        });
      }
    }
    setUp = { state };
    if (shutdown.signal.aborted) return; // stopped during setup: close() is still owed
    let heights: HeightLoop | RangeLoop;
    if (loaded.handleRange) {
      // Calls of many heights: the worker holds enough heights for every slot's calls.
      hello.capacity = rangeCapacityOf(config);
      heights = new RangeLoop(
        countedRangeHandler(loaded.handleRange as RangeHandler),
        config.BLOCKRUNNER_CONCURRENCY,
        log,
      );
    } else {
      // The loop hands every run `state`, so each call gets the State it was typed for.
      heights = new HeightLoop(
        countedHandler(loaded.handle as Handler),
        config.BLOCKRUNNER_CONCURRENCY,
        log,
        config.BLOCKRUNNER_PREFETCH,
      );
    }
    heights.state = state;
    heightLoop = heights;
    loop = keepConnected({
      urls: config.BLOCKRUNNER_MANAGER_URL,
      signal: shutdown.signal,
      log,
      connect: (url) => connect(url, heights),
    }).catch((error: unknown) => {
      // keepConnected gives up only on a refused token; the stop reports it through `done`.
      refused = error instanceof Error ? error : new Error(String(error));
      log.error({ err: refused.message }, 'worker cannot connect, stopping');
      void stop();
    });
  }

  /** The module's close(), within what is left of the shutdown time. */
  async function closeModule(deadline: number): Promise<void> {
    if (!module?.close || !setUp) return;
    try {
      const closing = Promise.resolve(module.close(setUp.state));
      if (!(await within(closing, deadline - Date.now())))
        log.warn('the handler module did not close within the shutdown time');
    } catch (error) {
      log.warn({ err: errorMessage(error) }, 'the handler module failed to close');
    }
  }

  /** Runs the module's revert for a range a reorganisation orphaned; always answers. */
  async function runRevert(
    frame: RevertFrame,
    signal: AbortSignal | undefined,
    reply: (frame: WorkerFrame) => void,
  ): Promise<void> {
    const { queue, from, to } = frame;
    const revertLog = log.child({ queue, revert: [from, to] });
    let error: string | undefined;
    try {
      if (module?.revert) {
        await module.revert(
          { from, to },
          {
            queue,
            signal: signal ?? shutdown.signal,
            log: revertLog,
            state: setUp?.state as State,
          },
        );
        revertLog.info('reverted an orphaned range');
      }
    } catch (thrown) {
      error = errorMessage(thrown);
      revertLog.warn({ err: error }, 'revert failed');
    }
    reply({ type: 'reverted', revert: frame.revert, ...(error === undefined ? {} : { error }) });
  }

  let stopping: Promise<void> | undefined;
  const starting = begin();
  // A start that fails stops the worker; `done` rejects with the reason.
  starting.catch(() => stop());

  async function drain(): Promise<void> {
    // One deadline for the whole stop: setup still running, heights and reverts, then close().
    const deadline = Date.now() + config.BLOCKRUNNER_SHUTDOWN_MS;
    shutdown.abort(); // ends setup (its signal), backoff delays and connects in flight
    // Before the first await: a stop begun inside a start (a retirement) must not let the loop
    // go on starting buffered heights in the same turn, up to STARTS_PER_TURN of a handler that
    // returns at once (a worker retired at 100 ran 512). No loop is made after this point: the
    // setup that would make one sees the abort first.
    heightLoop?.releaseBuffered();
    let failure: unknown;
    const began = starting.then(
      () => true,
      (error: unknown) => {
        failure = error;
        return true;
      },
    );
    if (!(await within(began, deadline - Date.now())))
      log.warn('the handler module did not load or set up within the shutdown time');
    const heights = heightLoop;
    const link = current;
    if (heights && link) {
      const settled = Promise.all([heights.idle(), ...reverts]).then(() => {});
      await within(Promise.race([settled, link.closed]), deadline - Date.now());
      if (heights.runningCount > 0) {
        log.warn({ running: heights.runningCount }, 'shutdown time is up, aborting handlers');
        heights.abortRunning(new Error('worker stopping'));
      }
      heights.flush();
      link.close(wsClose('BR_WS_NORMAL', 'worker stopping'));
    }
    await loop;
    heights?.close();
    await closeModule(deadline);
    log.info('worker stopped');
    if (failure !== undefined) throw failure;
    if (refused) throw refused;
  }

  // `done` follows the first stop()'s drain, rejection included.
  let follow: (stopped: Promise<void>) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    follow = (stopped) => void stopped.then(resolve, reject);
  });

  function stop(): Promise<void> {
    if (!stopping) {
      stopping = drain();
      follow(stopping);
    }
    return stopping.catch(() => {});
  }

  return {
    stop,
    done,
    connected,
    get linked() {
      return current !== undefined;
    },
  };
}

/** Whether `promise` settled within `ms` (it keeps running either way); rejects as it does. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise.then(() => true), timeUp]);
  } finally {
    clearTimeout(timer);
  }
}

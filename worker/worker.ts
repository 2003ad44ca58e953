/**
 * A worker: one link to the manager at a time (reconnect.ts), heights run by the height loop
 * (height-loop.ts), and a graceful stop that owns every timer and socket (docs/architecture.md,
 * "Threads of control").
 */

import { wsClose } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import {
  type HelloFrame,
  PROTOCOL_VERSION,
  type RevertFrame,
  type WorkerFrame,
} from '../shared/protocol.js';
import { capacityOf, type WorkerConfig } from './config.js';
import type { Handler, HandlerModule } from './handler.js';
import { errorMessage } from './handler-run.js';
import { HeightLoop } from './height-loop.js';
import { type Link, openLink, SILENT_HEARTBEATS } from './link.js';
import { displayUrl, keepConnected } from './reconnect.js';

export interface Worker {
  /**
   * Stops taking dispatches, releases buffered heights, lets running handlers finish within
   * BLOCKRUNNER_SHUTDOWN_MS (then aborts them), sends their results and closes with 1000.
   * Idempotent: every call returns the same promise.
   */
  stop(): Promise<void>;
  /** Resolves when stop() has finished, also after a retirement at BLOCKRUNNER_MAX_JOBS. */
  readonly stopped: Promise<void>;
  /** Resolves when a manager first welcomed this worker. */
  readonly connected: Promise<void>;
  /**
   * Set when the worker stopped on its own because it cannot go on: its token was refused
   * (a ConfigError naming BLOCKRUNNER_WORKER_TOKEN; docs/protocol.md, "Connecting").
   */
  readonly failure: Error | undefined;
}

export function startWorker(
  config: WorkerConfig,
  handlerOrModule: Handler | HandlerModule,
  log: Logger,
): Worker {
  const module: HandlerModule =
    typeof handlerOrModule === 'function' ? { handle: handlerOrModule } : handlerOrModule;
  const handler = module.handle;
  const maxJobs = config.BLOCKRUNNER_MAX_JOBS;
  // BLOCKRUNNER_MAX_JOBS: heights are counted as they start, one increment each, so that exactly
  // that many run: the stop begins inside the last start, before the height loop starts another one.
  // Unlimited workers run the handler itself, with nothing in between.
  let started = 0;
  const counted: Handler = (height, ctx) => {
    if (++started === maxJobs) {
      log.info({ jobs: started }, 'worker retiring: BLOCKRUNNER_MAX_JOBS reached');
      void stop();
    }
    return handler(height, ctx);
  };
  const heightLoop = new HeightLoop(
    maxJobs > 0 ? counted : handler,
    config.BLOCKRUNNER_CONCURRENCY,
    log,
    config.BLOCKRUNNER_PREFETCH,
  );
  const shutdown = new AbortController();
  const hello: HelloFrame = {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    name: config.BLOCKRUNNER_WORKER_NAME,
    queues: [...config.BLOCKRUNNER_QUEUES],
    capacity: capacityOf(config),
  };
  let current: Link | undefined;
  /** Aborted when the current link closes: a revert it asked for is the manager's to re-send. */
  let linkAlive: AbortController | undefined;
  const reverts = new Set<Promise<void>>();
  let markConnected: () => void = () => {};
  const connected = new Promise<void>((resolve) => {
    markConnected = resolve;
  });
  let failure: Error | undefined;

  const connect = (url: string): Promise<Link> =>
    openLink({
      url,
      token: config.BLOCKRUNNER_WORKER_TOKEN,
      hello,
      silenceMs: SILENT_HEARTBEATS * config.BLOCKRUNNER_HEARTBEAT_MS,
      signal: shutdown.signal,
      onWelcome(link) {
        current = link;
        linkAlive = new AbortController();
        heightLoop.connected((frame) => link.send(frame));
        markConnected();
        const { workerId, leaseMs } = link.welcome;
        log.info({ workerId, url: displayUrl(url), leaseMs }, 'worker connected');
      },
      onFrame(frame) {
        if (frame.type === 'dispatch') heightLoop.dispatch(frame);
        else if (frame.type === 'cancel') heightLoop.cancel(frame);
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
        heightLoop.disconnected();
        if (shutdown.signal.aborted) return;
        log.warn({ code, reason, err: error?.message }, 'worker disconnected, reconnecting');
      },
    });

  /** The module's close(), within what is left of the shutdown time. */
  async function closeModule(deadline: number): Promise<void> {
    if (!module.close) return;
    try {
      const closing = Promise.resolve(module.close());
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
      if (module.revert) {
        await module.revert(
          { from, to },
          { queue, signal: signal ?? shutdown.signal, log: revertLog },
        );
        revertLog.info('reverted an orphaned range');
      }
    } catch (thrown) {
      error = errorMessage(thrown);
      revertLog.warn({ err: error }, 'revert failed');
    }
    reply({ type: 'reverted', revert: frame.revert, ...(error === undefined ? {} : { error }) });
  }

  const loop = keepConnected({
    urls: config.BLOCKRUNNER_MANAGER_URL,
    signal: shutdown.signal,
    log,
    connect,
  }).catch((error: unknown) => {
    // keepConnected gives up only on a refused token; the stop below reports it.
    failure = error instanceof Error ? error : new Error(String(error));
    log.error({ err: failure.message }, 'worker cannot connect, stopping');
    void stop();
  });

  let stopping: Promise<void> | undefined;
  let markStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    markStopped = resolve;
  });

  async function drain(): Promise<void> {
    // One deadline for the whole stop: running heights and reverts, then the module's close().
    const deadline = Date.now() + config.BLOCKRUNNER_SHUTDOWN_MS;
    shutdown.abort(); // ends backoff delays and connects in flight; a welcomed link stays up
    heightLoop.releaseBuffered();
    const link = current;
    if (link) {
      const settled = Promise.all([heightLoop.idle(), ...reverts]).then(() => {});
      await within(Promise.race([settled, link.closed]), deadline - Date.now());
      if (heightLoop.runningCount > 0) {
        log.warn({ running: heightLoop.runningCount }, 'shutdown time is up, aborting handlers');
        heightLoop.abortRunning(new Error('worker stopping'));
      }
      heightLoop.flush();
      link.close(wsClose('BR_WS_NORMAL', 'worker stopping'));
    }
    await loop;
    await closeModule(deadline);
    log.info('worker stopped');
    markStopped();
  }

  function stop(): Promise<void> {
    stopping ??= drain();
    return stopping;
  }

  return {
    stop,
    stopped,
    connected,
    get failure() {
      return failure;
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

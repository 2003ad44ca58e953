/**
 * The handler contract (docs/workers.md, "Writing a handler"): a module whose default export is
 * `async (height, ctx) => void`, with optional `setup`, `revert` and `close`. A thrown error or
 * rejection is a failed attempt with its message as lastError. Handlers must be idempotent: a
 * height may run more than once (docs/operations.md, "Guarantees"). handler-loader.ts picks
 * which one a worker runs. These types are public: worker/index.ts exports them.
 */
import type { Logger } from '../shared/logger.js';

/** What every call of a handler module is given. */
export interface HandlerContext<State = unknown> {
  readonly queue: string;
  /** 1 on the first attempt of this height. */
  readonly attempt: number;
  /** Fires when the manager cancels the height, the link drops, or shutdown runs out of time. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** What the module's `setup` resolved to (undefined without a `setup`). */
  readonly state: State;
}

/** The block of a height, as a handler may report it (docs/chains.md, "Hashes"). */
export interface BlockHashes {
  hash: string;
  parentHash: string;
}

/**
 * May also return synchronously; a synchronous throw is a failed attempt like a rejection.
 * Returning `{hash, parentHash}` lets the manager notice reorganisations.
 */
export type Handler<State = unknown> = (
  height: number,
  ctx: HandlerContext<State>,
) => Promise<HandlerResult> | HandlerResult;
// biome-ignore lint/suspicious/noConfusingVoidType: `async (height) => {}` returns Promise<void>.
export type HandlerResult = BlockHashes | undefined | void;

export interface RevertContext<State = unknown> {
  readonly queue: string;
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** What the module's `setup` resolved to. */
  readonly state: State;
}

/** What `setup` is given, once per process before the first height. */
export interface SetupContext {
  /** The queues this worker takes heights from. */
  readonly queues: readonly string[];
  readonly log: Logger;
  /** Fires when the worker is stopped while `setup` still runs. */
  readonly signal: AbortSignal;
}

/**
 * A handler module: the height handler and, optionally, `setup` (open pools and clients once,
 * before the first height; what it resolves to is every call's `ctx.state`), `revert`, which
 * the manager asks one worker to run for heights a reorganisation orphaned (delete what those
 * heights wrote), and `close` (end what `setup` opened, at stop).
 */
export interface HandlerModule<State = unknown> {
  setup?: (ctx: SetupContext) => Promise<State> | State;
  handle: Handler<State>;
  revert?: (range: { from: number; to: number }, ctx: RevertContext<State>) => Promise<void> | void;
  /**
   * Called once at stop, after the last height and revert, within the shutdown time
   * (BLOCKRUNNER_SHUTDOWN_MS): close pools and clients the module opened. Not called when
   * `setup` failed.
   */
  close?: (state: State) => Promise<void> | void;
}

/**
 * The handler contract (docs/workers.md, "Writing a handler"): a module whose default export is
 * `async (height, ctx) => void`, or which exports `handleRange({from, to}, ctx)` instead
 * (docs/workers.md, "Range handlers"), with optional `setup`, `revert` and `close`. A thrown error or
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

/** The inclusive heights of one range handler call. */
export interface HandlerRange {
  readonly from: number;
  readonly to: number;
}

/** A block report of a range handler: the hashes of one height of its range. */
export interface RangeBlockHashes extends BlockHashes {
  height: number;
}

/**
 * Runs every height of `range` in one call (one `eth_getLogs` over the range). `ctx.attempt` is
 * the highest attempt among the range's heights. Returning one `{height, hash, parentHash}` per
 * height lets the manager notice reorganisations; a thrown error splits the range in halves
 * (docs/workers.md, "Range handlers").
 */
export type RangeHandler<State = unknown> = (
  range: HandlerRange,
  ctx: HandlerContext<State>,
) => Promise<RangeHandlerResult> | RangeHandlerResult;
// biome-ignore lint/suspicious/noConfusingVoidType: `async (range) => {}` returns Promise<void>.
export type RangeHandlerResult = readonly RangeBlockHashes[] | undefined | void;

/** What a module may export beside its handler. */
export interface HandlerHooks<State = unknown> {
  setup?: (ctx: SetupContext) => Promise<State> | State;
  revert?: (range: { from: number; to: number }, ctx: RevertContext<State>) => Promise<void> | void;
  /**
   * Called once at stop, after the last height and revert, within the shutdown time
   * (BLOCKRUNNER_SHUTDOWN_MS): close pools and clients the module opened. Not called when
   * `setup` failed.
   */
  close?: (state: State) => Promise<void> | void;
}

/**
 * A handler module: the height handler (`handle`) or the range handler (`handleRange`), one of
 * the two, and, optionally, `setup` (open pools and clients once,
 * before the first height; what it resolves to is every call's `ctx.state`), `revert`, which
 * the manager asks one worker to run for heights a reorganisation orphaned (delete what those
 * heights wrote), and `close` (end what `setup` opened, at stop).
 */
export type HandlerModule<State = unknown> = HandlerHooks<State> &
  (
    | { handle: Handler<State>; handleRange?: undefined }
    | { handleRange: RangeHandler<State>; handle?: undefined }
  );

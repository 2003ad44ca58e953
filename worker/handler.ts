/**
 * The handler contract (README.md, "Your handler"): a module whose default export is
 * `async (height, ctx) => void`. A thrown error or rejection is a failed attempt with its
 * message as lastError. Handlers must be idempotent: a height may run more than once
 * (docs/operations.md, "Guarantees"). handler-loader.ts picks which one a worker runs.
 */
import type { Logger } from '../shared/logger.js';

export interface HandlerContext {
  readonly queue: string;
  /** 1 on the first attempt of this height. */
  readonly attempt: number;
  /** Fires when the manager cancels the height, the link drops, or shutdown runs out of time. */
  readonly signal: AbortSignal;
  readonly log: Logger;
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
export type Handler = (
  height: number,
  ctx: HandlerContext,
) => Promise<HandlerResult> | HandlerResult;
// biome-ignore lint/suspicious/noConfusingVoidType: `async (height) => {}` returns Promise<void>.
export type HandlerResult = BlockHashes | undefined | void;

export interface RevertContext {
  readonly queue: string;
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/**
 * A handler module: the height handler and, optionally, `revert`, which the manager asks one
 * worker to run for heights a reorganisation orphaned (delete what those heights wrote).
 */
export interface HandlerModule {
  handle: Handler;
  revert?: (range: { from: number; to: number }, ctx: RevertContext) => Promise<void> | void;
  /** Called once at stop, after the last height: close pools and clients the module opened. */
  close?: () => Promise<void> | void;
}

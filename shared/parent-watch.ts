/**
 * The child's side of a supervised process tree (`blockrunner up`, `worker --processes N`;
 * docs/operations.md, "Process trees"). A supervisor spawns its children with an IPC channel
 * (shared/child-process.ts). The kernel closes that channel when the supervisor dies, however it
 * dies, SIGKILL included, and the child sees `disconnect`: no signal is needed, no polling, and
 * a child never outlives its parent. The same channel carries the few messages by which a child
 * tells its supervisor that it is ready, each checked with the schema below.
 */
import { z } from 'zod';
import type { Logger } from './logger.js';

/** A child whose parent died stops gracefully, and is made to exit after this, whatever runs. */
export const PARENT_GONE_EXIT_MS = 1_500;

/** What a child tells its supervisor. */
export const childMessageSchema = z.discriminatedUnion('type', [
  /** A manager listens at `url`: whoever answers there now is this child. */
  z.object({ type: z.literal('listening'), url: z.string() }),
  /** A worker was welcomed by its manager. */
  z.object({ type: z.literal('connected') }),
]);

export type ChildMessage = z.infer<typeof childMessageSchema>;

/** Tells the supervisor, when there is one; a process started by hand has no channel. */
export function tellParent(message: ChildMessage): void {
  if (!process.send || !process.connected) return;
  try {
    process.send(message);
  } catch {
    // The channel closed in between: the parent is gone and `disconnect` follows.
  }
}

export interface WatchParentOptions {
  /** Starts the graceful stop: what the process does on SIGTERM. */
  onGone(): void;
  log: Logger;
  /** Default PARENT_GONE_EXIT_MS. */
  exitAfterMs?: number;
}

/**
 * Calls `onGone` once the supervisor that started this process is gone, then exits with code 1
 * after `exitAfterMs` if the stop has not ended the process by then. Does nothing in a process
 * without an IPC channel. Returns a function that stops watching.
 */
export function watchParent({
  onGone,
  log,
  exitAfterMs = PARENT_GONE_EXIT_MS,
}: WatchParentOptions): () => void {
  const channel = process.channel;
  if (!channel) return () => {};
  const onDisconnect = (): void => {
    log.warn({ exitAfterMs }, 'parent process gone, stopping');
    setTimeout(() => process.exit(1), exitAfterMs).unref();
    onGone();
  };
  process.once('disconnect', onDisconnect);
  // A 'disconnect' listener keeps the channel, and so the process, alive: the process must end
  // when its work ends, as it would without a supervisor.
  channel.unref();
  return () => {
    process.off('disconnect', onDisconnect);
  };
}

/**
 * Keeps one link to a manager up until shutdown (STYLE "Connections and shutdown"): capped,
 * jittered exponential backoff through p-retry, a new retry run after every link that was
 * welcomed (so the attempt count starts over), and the next URL after every failed attempt.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import type { Logger } from '../shared/logger.js';
import { CloseCode } from '../shared/protocol.js';
import { type Link, LinkError } from './link.js';

/** Backoff between attempts: 100 ms doubling to 10 s, each delay times a random 1..2. */
export const RECONNECT_BACKOFF = {
  factor: 2,
  minTimeout: 100,
  maxTimeout: 10_000,
  randomize: true,
} as const;

/** Close codes that mean the manager refused what we sent: reconnecting at once would loop. */
const PROTOCOL_ERRORS = new Set<number>([
  CloseCode.badFrame,
  CloseCode.unsupportedProtocol,
  CloseCode.tooBig,
]);

export interface KeepConnectedOptions {
  urls: readonly string[];
  /** Aborting it ends the loop: cancels a backoff delay and a connect still in flight. */
  signal: AbortSignal;
  log: Logger;
  /** Opens a link to `url`; resolves once welcomed. */
  connect(url: string): Promise<Link>;
}

/** Resolves once `signal` aborted and the current link, if any, closed. */
export async function keepConnected(options: KeepConnectedOptions): Promise<void> {
  const { urls, signal, log } = options;
  let index = 0;
  const attempt = async (): Promise<void> => {
    const url = urls[index % urls.length] as string;
    let link: Link;
    try {
      link = await options.connect(url);
    } catch (error) {
      // p-retry gives up on a TypeError: make sure every failure here is retried.
      throw error instanceof LinkError
        ? error
        : new LinkError(String((error as Error)?.message ?? error), {}, { cause: error });
    }
    const end = await link.closed;
    if (PROTOCOL_ERRORS.has(end.code)) {
      // Welcomed, then refused: count it as a failed attempt so that backoff applies.
      throw new LinkError(`link closed: ${end.code} ${end.reason}`, {
        closeCode: end.code,
        reason: end.reason,
      });
    }
  };

  while (!signal.aborted) {
    try {
      await pRetry(attempt, {
        ...RECONNECT_BACKOFF,
        retries: Number.POSITIVE_INFINITY,
        signal,
        onFailedAttempt: ({ error, attemptNumber }) => {
          const url = urls[index % urls.length] as string;
          index = (index + 1) % urls.length;
          if (signal.aborted) return;
          const details = error instanceof LinkError ? error.details : {};
          log.warn(
            { url: displayUrl(url), attempt: attemptNumber, ...details, err: error.message },
            'cannot connect to the manager, retrying',
          );
        },
      });
    } catch (error) {
      if (signal.aborted) return;
      // Not expected (every failure is retried); still never a hot loop nor a silent end.
      log.error({ err: error }, 'reconnect loop failed, starting over');
      await sleep(RECONNECT_BACKOFF.maxTimeout, undefined, { signal }).catch(() => {});
    }
  }
}

/** The URL without credentials or query, for log lines. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}

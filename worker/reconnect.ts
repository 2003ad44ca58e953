/**
 * Keeps one link to a manager up until shutdown (docs/protocol.md): capped, jittered exponential
 * backoff through shared/retry.ts (RETRY_POLICIES.reconnect), a new retry run after every link
 * that was welcomed (so the attempt count starts over), and the next URL after every failed
 * attempt. A manager that cannot be reached, or that refuses for now (503), is retried forever;
 * a token refused (401) TOKEN_REFUSALS times without a welcome in between ends the loop with a
 * ConfigError, since retrying the same token cannot help (docs/protocol.md, "Connecting").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, closeCodes, LinkError, upgradeRefusals } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { RETRY_POLICIES, retry } from '../shared/retry.js';
import type { Link } from './link.js';

/**
 * Close codes that mean the manager refused what we sent: reconnecting at once would loop
 * (docs/protocol.md, "Close codes").
 */
const PROTOCOL_ERRORS = new Set<number>(
  (
    [
      'BR_WS_BAD_FRAME',
      'BR_WS_UNSUPPORTED_PROTOCOL',
      'BR_WS_TOO_BIG',
      'BR_WS_PROTOCOL_ERROR',
      'BR_WS_INVALID_UTF8',
    ] as const
  ).map((name) => closeCodes[name].closeCode),
);

/** Upgrades refused with 401 since the last welcome after which the worker gives up. */
export const TOKEN_REFUSALS = 3;

export interface KeepConnectedOptions {
  urls: readonly string[];
  /** Aborting it ends the loop: cancels a backoff delay and a connect still in flight. */
  signal: AbortSignal;
  log: Logger;
  /** Opens a link to `url`; resolves once welcomed. */
  connect(url: string): Promise<Link>;
}

/**
 * Resolves once `signal` aborted and the current link, if any, closed. Rejects with a
 * ConfigError naming BLOCKRUNNER_WORKER_TOKEN after TOKEN_REFUSALS refused upgrades.
 */
export async function keepConnected(options: KeepConnectedOptions): Promise<void> {
  const { urls, signal, log } = options;
  let index = 0;
  let refusals = 0;
  const attempt = async (): Promise<void> => {
    const link: Link = await options.connect(urls[index % urls.length] as string);
    refusals = 0;
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
      // Every failure but a token refused again and again is retried, until `signal` aborts.
      await retry(attempt, {
        policy: RETRY_POLICIES.reconnect,
        signal,
        shouldRetry: ({ error }) => {
          if (isTokenRefusal(error)) refusals += 1;
          return refusals < TOKEN_REFUSALS;
        },
        onFailedAttempt: ({ error, attemptNumber }) => {
          const url = urls[index % urls.length] as string;
          index = (index + 1) % urls.length;
          const details = error instanceof LinkError ? error.details : {};
          log.warn(
            { url: displayUrl(url), attempt: attemptNumber, ...details, err: error.message },
            'cannot connect to the manager, retrying',
          );
        },
      });
    } catch (error) {
      if (signal.aborted) return;
      if (refusals >= TOKEN_REFUSALS) {
        const url = displayUrl(urls[index % urls.length] as string);
        throw new ConfigError(
          `BLOCKRUNNER_WORKER_TOKEN was refused by the manager (HTTP 401 at ${url}, ${refusals} times): set it to the manager's BLOCKRUNNER_WORKER_TOKEN`,
          { cause: error },
        );
      }
      // Not expected (every failure is retried); still never a hot loop nor a silent end.
      log.error({ err: error }, 'reconnect loop failed, starting over');
      await sleep(RETRY_POLICIES.reconnect.maxMs, undefined, { signal }).catch(() => {});
    }
  }
}

function isTokenRefusal(error: Error): boolean {
  return (
    error instanceof LinkError &&
    error.details.status === upgradeRefusals.BR_UPGRADE_UNAUTHORIZED.status
  );
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

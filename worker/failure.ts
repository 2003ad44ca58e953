/**
 * What a worker reports for a handler that threw (docs/protocol.md, "Results"): the message as
 * lastError, and whether the node rate-limited it, which the manager does not count as a failed
 * attempt. Errors are told apart by `name`, so a user's own class named RateLimitedError counts.
 */
import { MAX_RETRY_AFTER_MS } from '../shared/protocol.js';
import { errorMessage } from './handler-run.js';

export interface Failure {
  height: number;
  error: string;
  kind?: 'rate-limited';
  retryAfterMs?: number;
}

export function failureOf(height: number, thrown: unknown): Failure {
  const failure: Failure = { height, error: errorMessage(thrown) };
  if (thrown instanceof Error && thrown.name === 'RateLimitedError') {
    failure.kind = 'rate-limited';
    const after = (thrown as { retryAfterMs?: unknown }).retryAfterMs;
    if (typeof after === 'number' && Number.isFinite(after) && after >= 0)
      failure.retryAfterMs = Math.min(MAX_RETRY_AFTER_MS, Math.round(after));
  }
  return failure;
}

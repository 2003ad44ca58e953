/**
 * Changing the manager's log level at run time (PUT /v1/admin/log-level, docs/observability.md).
 * Fastify logs through a child of the manager's logger while the other parts hold the logger
 * itself, and a pino child keeps the level it was made with. A pino child inherits from its
 * parent by prototype, so walking the prototype chain of the logger Fastify holds reaches
 * every ancestor: each gets the new level. Children made later (one per request) inherit it.
 */
import { symbols } from 'pino';
import type { LOG_LEVELS } from '../../shared/config.js';

export type LogLevel = (typeof LOG_LEVELS)[number];

/** Sets `level` on `log` and on every logger it descends from; returns the previous level. */
export function setLogLevel(log: { level: string }, level: LogLevel): string {
  const previous = log.level;
  // Only pino logger objects have their own bindings; pino's shared prototype does not.
  for (
    let logger: unknown = log;
    logger !== null && typeof logger === 'object' && Object.hasOwn(logger, symbols.chindingsSym);
    logger = Object.getPrototypeOf(logger)
  ) {
    (logger as { level: string }).level = level;
  }
  return previous;
}

/**
 * JSON-lines logging through pino, the logger Fastify uses. Secrets are redacted by path so a
 * token or a database password never reaches a log line, whatever object is logged.
 */
import { type Logger, pino } from 'pino';

export type { Logger };

const REDACTED_PATHS = [
  'token',
  '*.token',
  'apiToken',
  'workerToken',
  '*.apiToken',
  '*.workerToken',
  'password',
  '*.password',
  'databaseUrl',
  '*.databaseUrl',
  'DATABASE_URL',
  '*.DATABASE_URL',
  'req.headers.authorization',
  'headers.authorization',
];

export function createLogger(options: { level: string; name: string }): Logger {
  return pino({
    name: options.name,
    level: options.level,
    base: { pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  });
}

/** postgres://user:secret@host/db -> postgres://user:***@host/db, for log lines. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}

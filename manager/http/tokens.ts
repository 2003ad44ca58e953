/** Bearer-token checks for the HTTP API, the dashboard and the worker endpoint. */
import { timingSafeEqual } from 'node:crypto';

/** True when `header` is exactly `Bearer <token>`, compared in constant time. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

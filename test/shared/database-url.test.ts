/**
 * DATABASE_URL is checked by the manager's schema like every other variable: a connection
 * string `pg` can use passes as written; anything else is a ConfigError (exit 2) naming the
 * variable, with the form expected and never the value's password.
 */
import { describe, expect, it } from 'vitest';
import { loadManagerConfig } from '../../manager/config.js';
import { POSTGRES_URL_FORM, postgresUrlProblem } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';

const PASSWORD = 'hunter2-s3cret';

function problemOf(value: string): string {
  try {
    loadManagerConfig({ DATABASE_URL: value });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error(`expected ${value} to be refused`);
}

describe('DATABASE_URL', () => {
  it.each([
    'postgres://user:pw@db.example:5432/indexer',
    'postgresql://localhost/br',
    'postgres://user@[::1]:5433/br',
    'postgres:///br?host=/var/run/postgresql',
    'postgres://user@/br?host=/var/run/postgresql',
    'postgres://%2Fvar%2Frun%2Fpostgresql/br',
    'socket:/var/run/postgresql?db=br',
    '/var/run/postgresql br',
  ])('accepts %s as written', (value) => {
    expect(postgresUrlProblem(value)).toBeUndefined();
    expect(loadManagerConfig({ DATABASE_URL: ` ${value} ` }).DATABASE_URL).toBe(value);
  });

  it('leaves it unset when empty: the embedded database', () => {
    expect(loadManagerConfig({ DATABASE_URL: '' }).DATABASE_URL).toBeUndefined();
    expect(loadManagerConfig({ DATABASE_URL: '  ' }).DATABASE_URL).toBeUndefined();
  });

  it('refuses a value that is no URL, in one line naming the variable and the form', () => {
    expect(problemOf('notaurl')).toBe(
      `invalid configuration: DATABASE_URL: not a PostgreSQL URL (${POSTGRES_URL_FORM})`,
    );
    expect(POSTGRES_URL_FORM).toBe('postgres://user:***@host:5432/db');
  });

  it.each([
    ['notaurl', /not a PostgreSQL URL/],
    ['localhost:5432', /expected postgres:\/\/ or postgresql:\/\/, got localhost:/],
    [
      `mysql://root:${PASSWORD}@db/indexer`,
      /expected postgres:\/\/ or postgresql:\/\/, got mysql:/,
    ],
    [`http://u:${PASSWORD}@db/indexer`, /got http:/],
    [`postgres://u:${PASSWORD}@db:99999/indexer`, /not a PostgreSQL URL/],
    [`postgres://u:${PASSWORD}@db:port/indexer`, /not a PostgreSQL URL/],
    ['postgres://', /no host/],
    [`postgres://u:${PASSWORD}@/indexer`, /no host/],
    ['postgres:///indexer', /no host/],
    ['socket:', /socket: without a directory/],
  ])('refuses %s without showing its password', (value, expected) => {
    const message = problemOf(value);
    expect(message).toMatch(/^invalid configuration: DATABASE_URL: /);
    expect(message).toMatch(expected);
    expect(message).not.toContain(PASSWORD);
    expect(message).not.toContain('\n');
  });

  it('is reported beside the other bad variables', () => {
    let message = '';
    try {
      loadManagerConfig({ DATABASE_URL: 'notaurl', PORT: 'x' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/DATABASE_URL: not a PostgreSQL URL/);
    expect(message).toMatch(/PORT: expected a whole number/);
  });
});

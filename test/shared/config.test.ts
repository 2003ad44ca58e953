import { describe, expect, it } from 'vitest';
import { loadManagerConfig, managerConfigSchema } from '../../manager/config.js';
import { flagName, flagsToEnv, parseConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('fills in the defaults and freezes the result', () => {
    const config = loadManagerConfig({});
    expect(config).toEqual({
      DATABASE_URL: undefined,
      BLOCKRUNNER_DATA_DIR: './.blockrunner',
      HOST: '127.0.0.1',
      PORT: 8080,
      BLOCKRUNNER_API_TOKEN: undefined,
      BLOCKRUNNER_WORKER_TOKEN: undefined,
      BLOCKRUNNER_LEASE_MS: 30_000,
      BLOCKRUNNER_MAX_ATTEMPTS: 5,
      BLOCKRUNNER_RETRY_BASE_MS: 1_000,
      BLOCKRUNNER_RETRY_MAX_MS: 60_000,
      BLOCKRUNNER_SHUTDOWN_MS: 10_000,
      BLOCKRUNNER_HEARTBEAT_MS: 15_000,
      LOG_LEVEL: 'info',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(parseConfig(managerConfigSchema, {})).toEqual(config);
  });

  it('reads set values, trims them, and treats empty as unset', () => {
    const config = loadManagerConfig({
      PORT: ' 9000 ',
      BLOCKRUNNER_LEASE_MS: '50',
      HOST: '',
      LOG_LEVEL: 'debug',
      DATABASE_URL: 'postgres://localhost/br',
      UNRELATED: 'ignored',
    });
    expect(config.PORT).toBe(9000);
    expect(config.BLOCKRUNNER_LEASE_MS).toBe(50);
    expect(config.HOST).toBe('127.0.0.1');
    expect(config.LOG_LEVEL).toBe('debug');
    expect(config.DATABASE_URL).toBe('postgres://localhost/br');
    expect(config).not.toHaveProperty('UNRELATED');
  });

  it.each(['80a', '-1', '12.5', '1e3', '65536', '0x10'])('names PORT for %j', (value) => {
    const error = configError(() => loadManagerConfig({ PORT: value }));
    expect(error.message).toContain('PORT');
    expect(error.message).toContain(`"${value}"`);
    expect(error.message).not.toContain('BLOCKRUNNER');
  });

  it('reports every bad variable in one line', () => {
    const error = configError(() =>
      loadManagerConfig({ PORT: 'x', BLOCKRUNNER_LEASE_MS: '5', LOG_LEVEL: 'loud' }),
    );
    expect(error.message).toMatch(/^invalid configuration: /);
    expect(error.message).toContain('PORT');
    expect(error.message).toContain('BLOCKRUNNER_LEASE_MS');
    expect(error.message).toContain('LOG_LEVEL');
    expect(error.message).not.toContain('\n');
    expect(error.name).toBe('ConfigError');
  });

  it('never puts a secret into an error message', () => {
    const token = 's3cr3t-api-token';
    const workerToken = 'w0rker-t0ken';
    const env = { BLOCKRUNNER_API_TOKEN: token, BLOCKRUNNER_WORKER_TOKEN: workerToken };
    expect(loadManagerConfig(env).BLOCKRUNNER_API_TOKEN).toBe(token);
    const messages = [
      configError(() => loadManagerConfig({ ...env, PORT: 'nope', BLOCKRUNNER_MAX_ATTEMPTS: '0' })),
      configError(() => flagsToEnv(managerConfigSchema, ['--api-token', token, 'stray'], env)),
      configError(() => flagsToEnv(managerConfigSchema, [`--api-tokn=${token}`], env)),
      configError(() =>
        flagsToEnv(managerConfigSchema, [`--worker-token=${workerToken}`, '--port'], env),
      ),
    ].map((error) => error.message);
    for (const message of messages) {
      expect(message).not.toContain(token);
      expect(message).not.toContain(workerToken);
    }
  });
});

describe('flagsToEnv', () => {
  it('maps flags to their variables, over the environment', () => {
    const env = { PORT: '1234', HOST: '0.0.0.0' };
    const overlay = flagsToEnv(managerConfigSchema, ['--lease-ms', '50', '--port', '0'], env);
    expect(overlay).toMatchObject({ BLOCKRUNNER_LEASE_MS: '50', PORT: '0', HOST: '0.0.0.0' });
    expect(env).toEqual({ PORT: '1234', HOST: '0.0.0.0' });
    expect(flagsToEnv(managerConfigSchema, ['--database-url=postgres://x/y'], {})).toEqual({
      DATABASE_URL: 'postgres://x/y',
    });
    const config = loadManagerConfig(overlay);
    expect(config.BLOCKRUNNER_LEASE_MS).toBe(50);
    expect(config.PORT).toBe(0);
  });

  it('names flags after their variables', () => {
    expect(flagName('BLOCKRUNNER_LEASE_MS')).toBe('lease-ms');
    expect(flagName('PORT')).toBe('port');
    expect(flagName('DATABASE_URL')).toBe('database-url');
    expect(flagName('LOG_LEVEL')).toBe('log-level');
  });

  it.each([
    ['an unknown flag', ['--bogus', '1']],
    ['a variable name as a flag', ['--blockrunner-lease-ms', '1']],
    ['a stray argument', ['extra']],
    ['a flag without a value', ['--port']],
  ])('throws a ConfigError for %s', (_, args) => {
    const error = configError(() => flagsToEnv(managerConfigSchema, args, {}));
    expect(error.message.length).toBeGreaterThan(0);
  });
});

import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { flagsToEnv } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { capacityOf, loadWorkerConfig, workerConfigSchema } from '../../worker/config.js';

describe('worker config', () => {
  it('has the documented defaults', () => {
    const config = loadWorkerConfig({});
    expect(config).toEqual({
      BLOCKRUNNER_MANAGER_URL: ['ws://127.0.0.1:8080/v1/ws'],
      BLOCKRUNNER_WORKER_TOKEN: undefined,
      BLOCKRUNNER_QUEUES: ['default'],
      BLOCKRUNNER_CONCURRENCY: 16,
      BLOCKRUNNER_PREFETCH: 16,
      BLOCKRUNNER_HANDLER: 'noop',
      BLOCKRUNNER_SLEEP_MS: 10,
      BLOCKRUNNER_FLAKY_RATE: 0.5,
      BLOCKRUNNER_WORKER_NAME: `${hostname()}-${process.pid}`,
      BLOCKRUNNER_SHUTDOWN_MS: 10_000,
      BLOCKRUNNER_HEARTBEAT_MS: 15_000,
      BLOCKRUNNER_PROCESSES: 1,
      BLOCKRUNNER_MAX_JOBS: 0,
      BLOCKRUNNER_RESTART_LIMIT: 5,
      BLOCKRUNNER_RESTART_WINDOW_MS: 60_000,
      LOG_LEVEL: 'info',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(capacityOf(config)).toBe(32);
  });

  it('takes a list of manager URLs, queues, and a prefetch that defaults to concurrency', () => {
    const config = loadWorkerConfig({
      BLOCKRUNNER_MANAGER_URL: 'ws://a:1/v1/ws, wss://b/v1/ws',
      BLOCKRUNNER_QUEUES: 'eth,btc',
      BLOCKRUNNER_CONCURRENCY: '100',
      BLOCKRUNNER_FLAKY_RATE: '.25',
    });
    expect(config.BLOCKRUNNER_MANAGER_URL).toEqual(['ws://a:1/v1/ws', 'wss://b/v1/ws']);
    expect(config.BLOCKRUNNER_QUEUES).toEqual(['eth', 'btc']);
    expect(config.BLOCKRUNNER_PREFETCH).toBe(100);
    expect(config.BLOCKRUNNER_FLAKY_RATE).toBe(0.25);
    expect(capacityOf(loadWorkerConfig({ BLOCKRUNNER_PREFETCH: '0' }))).toBe(16);
  });

  it('reports every bad variable at once, by name, without printing the token', () => {
    let error: unknown;
    try {
      loadWorkerConfig({
        BLOCKRUNNER_MANAGER_URL: 'http://a/v1/ws',
        BLOCKRUNNER_QUEUES: 'ok,Not-OK',
        BLOCKRUNNER_CONCURRENCY: '0',
        BLOCKRUNNER_FLAKY_RATE: '1.5',
        BLOCKRUNNER_PREFETCH: '-1',
        BLOCKRUNNER_WORKER_TOKEN: 'hush',
        LOG_LEVEL: 'loud',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of [
      'BLOCKRUNNER_MANAGER_URL',
      'BLOCKRUNNER_QUEUES',
      'BLOCKRUNNER_CONCURRENCY',
      'BLOCKRUNNER_FLAKY_RATE',
      'BLOCKRUNNER_PREFETCH',
      'LOG_LEVEL',
    ]) {
      expect(message).toContain(name);
    }
    expect(message).not.toContain('hush');
    expect(() => loadWorkerConfig({ BLOCKRUNNER_FLAKY_RATE: 'half' })).toThrow(/FLAKY_RATE/);
  });

  it('takes command-line flags that mirror the variables', () => {
    const env = flagsToEnv(workerConfigSchema, ['--concurrency', '4', '--queues', 'eth'], {});
    const config = loadWorkerConfig(env);
    expect(config.BLOCKRUNNER_CONCURRENCY).toBe(4);
    expect(config.BLOCKRUNNER_QUEUES).toEqual(['eth']);
  });
});

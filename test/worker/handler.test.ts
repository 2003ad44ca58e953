import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors.js';
import { loadWorkerConfig } from '../../worker/config.js';
import type { HandlerContext } from '../../worker/handler.js';
import { loadHandler } from '../../worker/handler-loader.js';
import { createFlakyHandler } from '../../worker/handlers/flaky.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blockrunner-handler-'));
  await writeFile(
    join(dir, 'double.mjs'),
    'export default async (height) => { globalThis.lastHeight = height * 2; };\n',
  );
  await writeFile(join(dir, 'named.mjs'), 'export const handler = async () => {};\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function context(signal = new AbortController().signal): HandlerContext {
  return { queue: 'default', attempt: 1, signal, log: pino({ level: 'silent' }), state: undefined };
}

const load = (handler: string, env: Record<string, string> = {}) =>
  loadHandler(loadWorkerConfig({ BLOCKRUNNER_HANDLER: handler, ...env }), dir);

describe('handlers', () => {
  it('loads the built-ins by name', async () => {
    const noop = await load('noop');
    expect(noop(1, context())).toBeUndefined();
    const sleep = await load('sleep', { BLOCKRUNNER_SLEEP_MS: '20' });
    const before = performance.now();
    await sleep(1, context());
    expect(performance.now() - before).toBeGreaterThanOrEqual(18);
  });

  it('sleep stops when the signal fires', async () => {
    const sleep = await load('sleep', { BLOCKRUNNER_SLEEP_MS: '60000' });
    const controller = new AbortController();
    const running = sleep(1, context(controller.signal));
    controller.abort(new Error('cancelled'));
    await expect(running).rejects.toThrow();
  });

  it('flaky fails the configured share of attempts', async () => {
    await expect(
      load('flaky', { BLOCKRUNNER_FLAKY_RATE: '1' }).then((h) => h(1, context())),
    ).rejects.toThrow('flaky: simulated failure');
    await (await load('flaky', { BLOCKRUNNER_FLAKY_RATE: '0' }))(1, context());
    const rolls = [0.1, 0.3, 0.5, 0.7];
    const flaky = createFlakyHandler(0.4, () => rolls.shift() ?? 1);
    const outcomes = await Promise.allSettled([1, 2, 3, 4].map((h) => flaky(h, context())));
    expect(outcomes.map((o) => o.status)).toEqual([
      'rejected',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
  });

  it('imports a module path relative to the working directory', async () => {
    const handler = await load('./double.mjs');
    await handler(21, context());
    expect((globalThis as { lastHeight?: number }).lastHeight).toBe(42);
  });

  it('refuses a module without a function default export, or no module at all', async () => {
    await expect(load('named.mjs')).rejects.toThrow(ConfigError);
    await expect(load('named.mjs')).rejects.toThrow(
      /BLOCKRUNNER_HANDLER: .*no default export function/,
    );
    await expect(load('missing.mjs')).rejects.toThrow(
      /BLOCKRUNNER_HANDLER: cannot load "missing.mjs"/,
    );
  });
});

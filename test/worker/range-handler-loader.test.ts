/** Loading a range handler module (worker/handler-loader.ts; docs/workers.md, "Range handlers"). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/errors.js';
import { loadWorkerConfig } from '../../worker/config.js';
import { loadHandlerModule } from '../../worker/handler-loader.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blockrunner-range-handler-'));
  await writeFile(
    join(dir, 'named.mjs'),
    'export async function handleRange() {}\nexport async function revert() {}\n',
  );
  await writeFile(join(dir, 'object.mjs'), 'export default { handleRange: async () => {} };\n');
  await writeFile(
    join(dir, 'both.mjs'),
    'export default async () => {};\nexport async function handleRange() {}\n',
  );
  await writeFile(join(dir, 'not-a-function.mjs'), 'export const handleRange = 5;\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const load = (handler: string) =>
  loadHandlerModule(loadWorkerConfig({ BLOCKRUNNER_HANDLER: handler }), dir);

describe('range handler modules', () => {
  it('loads handleRange as a named export or in a default export object, with the hooks', async () => {
    const named = await load('./named.mjs');
    expect(typeof named.handleRange).toBe('function');
    expect(named.handle).toBeUndefined();
    expect(typeof named.revert).toBe('function');
    expect(typeof (await load('./object.mjs')).handleRange).toBe('function');
  });

  it('refuses a module with both handlers, or a handleRange that is not a function', async () => {
    await expect(load('./both.mjs')).rejects.toThrow(ConfigError);
    await expect(load('./both.mjs')).rejects.toThrow(/both a height handler and handleRange/);
    await expect(load('./not-a-function.mjs')).rejects.toThrow(
      /BLOCKRUNNER_HANDLER: .*handleRange that is not a function/,
    );
  });
});

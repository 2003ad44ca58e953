/**
 * The worker as a real process: `main` from the build, stopped by SIGTERM. It must hand back
 * what it had not started, finish what runs, and exit on its own: a timer or socket left behind
 * would keep the process alive. Needs `npm run build` (npm test builds first).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { packageRoot } from '../../shared/package-root.js';
import { FakeManager, framesOf, waitFor } from './fake-manager.js';

const mainFile = join(join(packageRoot(), 'dist'), 'worker', 'main.js');
const script =
  'const { main } = await import(process.env.WORKER_MAIN); await main(process.argv.slice(1));';

let manager: FakeManager | undefined;
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  child = undefined;
  await manager?.close();
  manager = undefined;
});

it('stops on SIGTERM: releases, finishes, exits 0', async () => {
  expect(existsSync(mainFile), `${mainFile} is built by npm test (npm run build)`).toBe(true);
  manager = await FakeManager.start();
  const proc = spawn(
    process.execPath,
    ['--input-type=module', '-e', script, '--', '--concurrency', '1', '--prefetch', '2'],
    {
      env: {
        ...process.env,
        WORKER_MAIN: pathToFileURL(mainFile).href,
        BLOCKRUNNER_MANAGER_URL: manager.url,
        BLOCKRUNNER_HANDLER: 'sleep',
        BLOCKRUNNER_SLEEP_MS: '300',
        LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child = proc;
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) if (part.trim()) lines.push(JSON.parse(part));
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = once(proc, 'exit');

  const connection = await manager.connection(0, 15_000);
  expect(connection.frames[0]).toMatchObject({ type: 'hello', capacity: 3 });
  await waitFor(() => lines.some((l) => l.msg === 'worker connected'), 5_000, 'worker connected');
  connection.send({ type: 'dispatch', lease: 5, queue: 'default', ranges: [[1, 3]] });
  await waitFor(() => lines.some((l) => l.msg === 'dispatch'), 5_000, 'the dispatch');

  proc.kill('SIGTERM');
  const [code, signal] = await exited;
  expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  expect(framesOf(connection, 'release')).toEqual([
    { type: 'release', lease: 5, ranges: [[2, 3]] },
  ]);
  expect(framesOf(connection, 'results')).toEqual([
    { type: 'results', lease: 5, doneDeltas: [1, 0], failed: [], runMs: expect.any(Number) },
  ]);
  await waitFor(() => connection.close !== undefined);
  expect(connection.close?.code).toBe(1000);
  expect(lines.map((l) => l.msg)).toContain('worker stopped');
  expect(lines.filter((l) => l.name !== 'blockrunner-worker')).toEqual([]);
});

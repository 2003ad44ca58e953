/**
 * The worker supervisor with small stand-in children (`node -e` scripts that crash, retire,
 * hang, or ignore SIGTERM): restarts, the crash window, the backoff, a bounded stop, a child
 * refusing its configuration (exit 2), and the one-at-a-time reload.
 * A stand-in leaves `<pid>.ready` once its SIGTERM handler is installed and `<pid>.term` when
 * SIGTERM arrives, so the test knows what each process saw.
 */

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildCommand } from '../../shared/child-process.js';
import { type SupervisorOptions, WorkerSupervisor } from '../../worker/supervisor.js';
import { processExists } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { memoryLogger } from './fake-manager.js';

const MARK = `const fs = require('fs'); const mark = (what) =>
  fs.writeFileSync(process.env.MARKS + '/' + process.pid + '.' + what, '');`;
const SCRIPTS = {
  crash: 'process.exit(3)',
  retire: 'process.exit(0)',
  /** A worker that stops when asked. */
  hang: `${MARK} process.on('SIGTERM', () => { mark('term'); process.exit(0); });
    mark('ready'); setInterval(() => {}, 1000);`,
  /** A worker a manager welcomed: it says so over the channel, as worker/main.ts does. */
  connected: `${MARK} process.on('SIGTERM', () => { mark('term'); process.exit(0); });
    mark('ready'); process.send({ type: 'connected' }); setInterval(() => {}, 1000);`,
  /** A worker whose configuration is refused (cli/main.ts exits 2 on a ConfigError). */
  refused: 'process.exit(2)',
  /** A worker whose handler never finishes: it takes SIGTERM and goes on. */
  stubborn: `${MARK} process.on('SIGTERM', () => mark('term'));
    mark('ready'); setInterval(() => {}, 1000);`,
} as const;

type Line = Record<string, unknown>;

let current: { supervisor: WorkerSupervisor; lines: Line[]; marks: string } | undefined;

afterEach(async () => {
  if (!current) return;
  const { supervisor, lines, marks } = current;
  current = undefined;
  supervisor.killAll();
  supervisor.stop('SIGTERM');
  await supervisor.done;
  rmSync(marks, { recursive: true, force: true });
  // Every process the test started is gone, whatever the test did.
  expect(startedPids(lines).filter(processExists)).toEqual([]);
});

function stub(kind: keyof typeof SCRIPTS, marks: string): ChildCommand {
  return { command: process.execPath, args: ['-e', SCRIPTS[kind]], env: { MARKS: marks } };
}

/** Starts a supervisor whose child `<name>-<n>` runs `kinds(child, start)`; start counts from 1. */
function supervise(
  kinds: (child: string, start: number) => keyof typeof SCRIPTS,
  options: Partial<SupervisorOptions> = {},
) {
  const marks = mkdtempSync(join(tmpdir(), 'blockrunner-supervisor-'));
  const { log, lines } = memoryLogger();
  const starts = new Map<string, number>();
  const supervisor = new WorkerSupervisor({
    name: 'w',
    processes: 1,
    command: (child) => {
      const start = (starts.get(child) ?? 0) + 1;
      starts.set(child, start);
      return stub(kinds(child, start), marks);
    },
    restartLimit: 5,
    restartWindowMs: 60_000,
    stopTimeoutMs: 10_000,
    backoff: { baseMs: 1, maxMs: 10 },
    log,
    stdio: 'ignore',
    ...options,
  });
  current = { supervisor, lines, marks };
  supervisor.start();
  return { supervisor, lines, marks, starts };
}

function startedPids(lines: Line[]): number[] {
  return lines.flatMap((l) =>
    l.msg === 'child started' && typeof l.childPid === 'number' ? [l.childPid] : [],
  );
}

/** Waits until `count` children run and each has installed its SIGTERM handler. */
function ready(supervisor: WorkerSupervisor, marks: string, count: number): Promise<number[]> {
  let ended: number | undefined;
  void supervisor.done.then((code) => {
    ended = code;
  });
  return waitFor(
    () => {
      if (ended !== undefined) throw new Error(`the supervisor ended with code ${ended}`);
      const pids = supervisor.pids;
      return pids.length === count && pids.every((pid) => existsSync(join(marks, `${pid}.ready`)))
        ? pids
        : undefined;
    },
    { timeoutMs: 15_000, message: `${count} children ready` },
  );
}

const got = (marks: string, pid: number, what: string) => existsSync(join(marks, `${pid}.${what}`));

describe('worker supervisor', () => {
  it('replaces a crashed child after a growing backoff, a retired one at once and uncounted', async () => {
    // Two crashes are within the limit; had the retirement counted, a third would exceed it.
    const sequence = ['crash', 'crash', 'retire', 'hang'] as const;
    const { supervisor, lines, marks, starts } = supervise(
      (_child, start) => sequence[start - 1] ?? 'crash',
      { restartLimit: 2, backoff: { baseMs: 200, maxMs: 5_000 } },
    );
    const [pid] = await ready(supervisor, marks, 1);
    expect(starts.get('w-1')).toBe(4);

    const crashed = lines.filter((l) => l.msg === 'child crashed, restarting');
    expect(crashed.map((l) => [l.child, l.code, l.signal])).toEqual([
      ['w-1', 3, null],
      ['w-1', 3, null],
    ]);
    // Equal jitter: the n-th delay lies in [ceiling / 2, ceiling], ceiling = 200 ms * 2^(n-1).
    const delays = crashed.map((l) => l.delayMs as number);
    expect(delays[0]).toBeGreaterThanOrEqual(100);
    expect(delays[0]).toBeLessThanOrEqual(200);
    expect(delays[1]).toBeGreaterThanOrEqual(200);
    expect(delays[1]).toBeLessThanOrEqual(400);
    // And the replacement really waited that long.
    for (const line of crashed) {
      const next = lines[lines.indexOf(line) + 1];
      expect(next?.msg).toBe('child started');
      expect((next?.time as number) - (line.time as number)).toBeGreaterThanOrEqual(
        (line.delayMs as number) - 1,
      );
    }
    // The retired child is replaced in the same turn: no backoff, no crash.
    const retired = lines.findIndex((l) => l.msg === 'child retired, restarting');
    expect(lines[retired]).toMatchObject({ child: 'w-1', code: 0, signal: null });
    expect(lines[retired + 1]).toMatchObject({ msg: 'child started', childPid: pid });
    expect(lines.some((l) => l.level === 50)).toBe(false);

    supervisor.stop('SIGTERM');
    expect(await supervisor.done).toBe(0);
    expect(got(marks, pid as number, 'term')).toBe(true);
    expect(lines.find((l) => l.msg === 'child stopped')).toMatchObject({ childPid: pid, code: 0 });
    expect(lines.at(-1)).toMatchObject({ msg: 'supervisor stopped', code: 0 });
  });

  it('exits 1 with one error line when crashes exceed the limit, stopping the others', async () => {
    const { supervisor, lines, starts } = supervise(
      (child) => (child === 'w-1' ? 'crash' : 'hang'),
      { processes: 2, restartLimit: 3 },
    );
    expect(await supervisor.done).toBe(1);
    expect(starts.get('w-1')).toBe(4);
    const errors = lines.filter((l) => (l.level as number) >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ child: 'w-1', code: 3, crashes: 4, limit: 3 });
    expect(errors[0]?.msg).toMatch(/crashed 4 times within 60000 ms, more than .*LIMIT \(3\)/);
    // The healthy child was asked to stop: by its handler (exit 0) or, if it was still
    // starting, by the signal's default action.
    const stopped = lines.filter((l) => l.msg === 'child stopped');
    expect(stopped).toHaveLength(1);
    expect(stopped[0]?.child).toBe('w-2');
    expect(stopped[0]?.code === 0 || stopped[0]?.signal === 'SIGTERM').toBe(true);
  });

  it('forgets crashes older than the window', async () => {
    // Restarts come 100..200 ms apart, a window of 50 ms never holds two crashes.
    const sequence = ['crash', 'crash', 'crash', 'hang'] as const;
    const { supervisor, lines, marks } = supervise((_c, start) => sequence[start - 1] ?? 'crash', {
      restartLimit: 1,
      restartWindowMs: 50,
      backoff: { baseMs: 200, maxMs: 200 },
    });
    await ready(supervisor, marks, 1);
    expect(lines.filter((l) => l.msg === 'child crashed, restarting')).toHaveLength(3);
    supervisor.stop('SIGTERM');
    expect(await supervisor.done).toBe(0);
  });

  it('counts a command that cannot start as a crash', async () => {
    const { supervisor, lines } = supervise(() => 'hang', {
      restartLimit: 0,
      command: () => ({ command: join(tmpdir(), 'no-such-command'), args: [], env: {} }),
    });
    expect(await supervisor.done).toBe(1);
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([
      expect.objectContaining({ child: 'w-1', code: null, err: expect.stringMatching(/ENOENT/) }),
    ]);
  });

  it('on stop sends SIGTERM to every child and kills one that ignores it after the deadline', async () => {
    const { supervisor, lines, marks } = supervise(
      (child) => (child === 'w-1' ? 'hang' : 'stubborn'),
      { processes: 2, stopTimeoutMs: 500 },
    );
    const pids = await ready(supervisor, marks, 2);
    const started = Date.now();
    supervisor.stop('SIGTERM');
    expect(await supervisor.done).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    for (const pid of pids) expect(got(marks, pid, 'term')).toBe(true);
    expect(lines.find((l) => l.msg === 'child stopped')).toMatchObject({ child: 'w-1', code: 0 });
    expect(lines.find((l) => l.msg === 'child did not stop in time, killed')).toMatchObject({
      child: 'w-2',
      signal: 'SIGKILL',
    });
    expect(pids.filter(processExists)).toEqual([]);
  });

  it('kills at once on a second stop', async () => {
    const { supervisor, marks } = supervise(() => 'stubborn', { stopTimeoutMs: 60_000 });
    const [pid] = await ready(supervisor, marks, 1);
    const started = Date.now();
    supervisor.stop('SIGINT');
    await waitFor(() => got(marks, pid as number, 'term'), {
      timeoutMs: 5_000,
      message: 'SIGTERM reached the child',
    });
    supervisor.stop('SIGINT');
    expect(await supervisor.done).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(processExists(pid as number)).toBe(false);
  });

  it('stops every child and ends with code 2 when one refuses its configuration, restarting none', async () => {
    const { supervisor, lines, starts } = supervise(
      (child) => (child === 'w-1' ? 'refused' : 'hang'),
      {
        processes: 2,
      },
    );
    expect(await supervisor.done).toBe(2);
    expect(starts.get('w-1')).toBe(1);
    expect(lines.some((l) => l.msg === 'child crashed, restarting')).toBe(false);
    expect(
      lines.find((l) => String(l.msg).startsWith('child refused its configuration')),
    ).toMatchObject({ child: 'w-1', code: 2 });
  });

  it('reload() replaces each child once its successor is connected, one at a time', async () => {
    const { supervisor, lines, marks } = supervise(() => 'connected', { processes: 2 });
    const originals = await ready(supervisor, marks, 2);
    supervisor.reload();
    await waitFor(() => lines.some((l) => l.msg === 'reload done: every child replaced'), {
      timeoutMs: 15_000,
      message: 'the reload to finish',
    });
    for (const pid of originals) expect(got(marks, pid, 'term')).toBe(true);
    expect(originals.filter(processExists)).toEqual([]);
    const replaced = lines.filter((l) => l.msg === 'child replaced');
    expect(replaced.map((l) => [l.child, l.childPid, l.code])).toEqual([
      ['w-1', originals[0], 0],
      ['w-2', originals[1], 0],
    ]);
    const successors = replaced.map((l) => l.successorPid as number);
    expect(supervisor.pids.sort()).toEqual([...successors].sort());
    // One at a time: w-2's successor started after w-1's predecessor was replaced.
    const order = lines.map((l) =>
      l.msg === 'child replaced' ? `replaced ${l.child}` : l.replaces ? `started ${l.child}` : '',
    );
    expect(order.filter(Boolean)).toEqual([
      'started w-1',
      'replaced w-1',
      'started w-2',
      'replaced w-2',
    ]);
    // Replacements are no crashes, and the children keep their slots.
    supervisor.stop('SIGTERM');
    expect(await supervisor.done).toBe(0);
  });

  it('a reload whose successor is never welcomed stops it and keeps the old child', async () => {
    const { supervisor, lines, marks } = supervise(
      (_child, start) => (start === 1 ? 'connected' : 'hang'),
      { successorReadyMs: 300 },
    );
    const [original] = await ready(supervisor, marks, 1);
    supervisor.reload();
    await waitFor(() => lines.some((l) => String(l.msg).startsWith('reload stopped')), {
      timeoutMs: 15_000,
      message: 'the reload to give up',
    });
    const successor = lines.find((l) => l.replaces === original)?.childPid as number;
    expect(processExists(original as number)).toBe(true);
    expect(processExists(successor)).toBe(false);
    expect(supervisor.pids).toEqual([original]);
    supervisor.stop('SIGTERM');
    expect(await supervisor.done).toBe(0);
  });
});

/**
 * The revert runner against fake worker links that record their frames (docs/protocol.md,
 * "Reverts"): one `revert` to a worker serving the queue, answered by `reverted`; retried on
 * another worker when the link drops (no attempt counted), after backoff on an error or a
 * timeout (an attempt counted), given up after maxAttempts. Tiny timeouts and backoffs, no
 * sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RevertRunner, type RevertRunnerOptions } from '../../../manager/chain/revert-runner.js';
import { RevertFailedError } from '../../../shared/errors.js';
import { createLogger } from '../../../shared/logger.js';
import type { RevertFrame } from '../../../shared/protocol.js';
import { FakeLink } from '../../helpers/fake-link.js';
import { waitFor } from '../../helpers/wait.js';

let runner: RevertRunner | undefined;
let connected: FakeLink[] = [];

function start(options: Partial<RevertRunnerOptions> = {}): RevertRunner {
  runner = new RevertRunner({
    links: () => connected,
    log: createLogger({ level: 'silent', name: 'revert-runner-test' }),
    timeoutMs: 60_000,
    maxAttempts: 3,
    retryBaseMs: 2,
    retryMaxMs: 4,
    ...options,
  });
  return runner;
}

/** Waits until `link` got its `count`-th revert frame and gives it. */
async function revertNumber(link: FakeLink, count: number): Promise<RevertFrame> {
  return waitFor(() => link.reverts()[count - 1], {
    timeoutMs: 2_000,
    intervalMs: 1,
    message: `${link.name} to get revert frame ${count}`,
  });
}

/** A run's outcome, kept so a test can look at it without awaiting. */
function track(promise: Promise<void>) {
  const state: { settled: boolean; error: unknown } = { settled: false, error: undefined };
  const done = promise.then(
    () => {
      state.settled = true;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return { state, done };
}

/** A few event-loop turns: enough for anything already due to have happened. */
async function turns(count = 5): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

afterEach(() => {
  runner?.close();
  runner = undefined;
  connected = [];
});

describe('RevertRunner', () => {
  it('sends one revert frame to a link serving the queue and resolves on `reverted`', async () => {
    const other = new FakeLink('other', ['btc']);
    const a = new FakeLink('a', ['btc', 'eth']);
    connected = [other, a];
    const r = start();
    const run = track(r.run('eth', 1004, 1006, new AbortController().signal));
    const frame = await revertNumber(a, 1);
    expect(frame).toEqual({
      type: 'revert',
      revert: frame.revert,
      queue: 'eth',
      from: 1004,
      to: 1006,
    });
    expect(other.frames).toEqual([]);

    // Answers on another link, or for another id, are not this revert's.
    r.onReverted(other, { type: 'reverted', revert: frame.revert });
    r.onReverted(a, { type: 'reverted', revert: frame.revert + 1 });
    await turns();
    expect(run.state.settled).toBe(false);

    r.onReverted(a, { type: 'reverted', revert: frame.revert });
    await run.done;
    expect(run.state.error).toBeUndefined();
    expect(a.reverts()).toHaveLength(1);
  });

  it('sends it again to another link, at once and with no attempt counted, when the link drops', async () => {
    const a = new FakeLink('a', ['eth']);
    const b = new FakeLink('b', ['eth']);
    connected = [a, b];
    // One attempt allowed, and a backoff far longer than the test: a counted attempt would fail
    // the run, a backoff would stall it.
    const r = start({ maxAttempts: 1, retryBaseMs: 600_000, retryMaxMs: 600_000 });
    const run = track(r.run('eth', 10, 12, new AbortController().signal));
    const first = await revertNumber(a, 1);

    connected = [b];
    r.disconnected(a);
    const second = await revertNumber(b, 1);
    expect(second).toMatchObject({ queue: 'eth', from: 10, to: 12 });
    expect(second.revert).not.toBe(first.revert);
    // The dropped link's answer comes too late to count.
    r.onReverted(a, { type: 'reverted', revert: first.revert });
    await turns();
    expect(run.state.settled).toBe(false);

    r.onReverted(b, { type: 'reverted', revert: second.revert });
    await run.done;
    expect(run.state.error).toBeUndefined();
    expect(a.reverts()).toHaveLength(1);
  });

  it('counts an error answer as a failed attempt and tries again after backoff', async () => {
    const a = new FakeLink('a', ['eth']);
    connected = [a];
    const r = start({ maxAttempts: 3 });
    const run = track(r.run('eth', 10, 12, new AbortController().signal));
    const first = await revertNumber(a, 1);
    r.onReverted(a, { type: 'reverted', revert: first.revert, error: 'db locked' });
    const second = await revertNumber(a, 2);
    expect(second).toMatchObject({ queue: 'eth', from: 10, to: 12 });
    expect(second.revert).toBeGreaterThan(first.revert);
    expect(run.state.settled).toBe(false);
    r.onReverted(a, { type: 'reverted', revert: second.revert });
    await run.done;
    expect(run.state.error).toBeUndefined();
  });

  it('gives up with RevertFailedError after maxAttempts failed attempts', async () => {
    const a = new FakeLink('a', ['eth']);
    connected = [a];
    const r = start({ maxAttempts: 2 });
    const run = track(r.run('eth', 10, 12, new AbortController().signal));
    r.onReverted(a, { type: 'reverted', revert: (await revertNumber(a, 1)).revert, error: 'one' });
    r.onReverted(a, { type: 'reverted', revert: (await revertNumber(a, 2)).revert, error: 'two' });
    await run.done;
    expect(run.state.error).toBeInstanceOf(RevertFailedError);
    expect((run.state.error as Error).message).toBe('revert of 10..12 failed 2 times: two');
    await turns();
    expect(a.reverts()).toHaveLength(2);
  });

  it('waits while no link serves the queue and goes as soon as one connects', async () => {
    const other = new FakeLink('other', ['btc']);
    connected = [other];
    const r = start();
    const run = track(r.run('eth', 5, 5, new AbortController().signal));
    await turns();
    expect(other.frames).toEqual([]);

    const a = new FakeLink('a', ['eth']);
    connected = [other, a];
    // A link in the list is only looked for once the runner is told one connected.
    await turns();
    expect(a.frames).toEqual([]);
    r.connected();
    const frame = await revertNumber(a, 1);
    expect(frame).toMatchObject({ queue: 'eth', from: 5, to: 5 });
    r.onReverted(a, { type: 'reverted', revert: frame.revert });
    await run.done;
    expect(run.state.error).toBeUndefined();
    expect(other.frames).toEqual([]);
  });

  it('counts no answer within timeoutMs as a failed attempt, and ignores the late answer', async () => {
    const a = new FakeLink('a', ['eth']);
    connected = [a];
    const r = start({ timeoutMs: 5, maxAttempts: 2 });
    const run = track(r.run('eth', 10, 12, new AbortController().signal));
    const first = await revertNumber(a, 1);
    await revertNumber(a, 2);
    r.onReverted(a, { type: 'reverted', revert: first.revert });
    await run.done;
    expect(run.state.error).toBeInstanceOf(RevertFailedError);
    expect((run.state.error as Error).message).toBe(
      'revert of 10..12 failed 2 times: no answer within the lease time',
    );
  });

  it('close() ends runs waiting for a link and runs waiting for an answer', async () => {
    const a = new FakeLink('a', ['eth']);
    connected = [a];
    const r = start();
    const answering = track(r.run('eth', 10, 12, new AbortController().signal));
    const waiting = track(r.run('btc', 1, 2, new AbortController().signal));
    await revertNumber(a, 1);
    await turns();
    expect(waiting.state.settled).toBe(false);

    r.close();
    await Promise.all([answering.done, waiting.done]);
    expect((answering.state.error as Error).message).toBe('manager stopping');
    expect((waiting.state.error as Error).message).toBe('manager stopping');
    expect(answering.state.error).not.toBeInstanceOf(RevertFailedError);
    expect(a.reverts()).toHaveLength(1);
  });

  it('ends a run when its signal aborts, without sending again', async () => {
    const a = new FakeLink('a', ['eth']);
    connected = [a];
    const r = start();
    const abort = new AbortController();
    const run = track(r.run('eth', 10, 12, abort.signal));
    await revertNumber(a, 1);
    abort.abort();
    await run.done;
    expect((run.state.error as Error).name).toBe('AbortError');
    await turns();
    expect(a.reverts()).toHaveLength(1);
  });
});

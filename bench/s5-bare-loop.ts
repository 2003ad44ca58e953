/**
 * One process of S5's bare loop (docs/performance.md): the same handler module as Blockrunner's
 * workers run, imported and called directly, no orchestrator. Process i of N takes heights i,
 * i+N, i+2N, ... below BENCH_HEIGHTS from a counter of its own, with BENCH_CONCURRENCY calls in
 * flight. It prints `bench-bare ready` once the module is loaded and starts on SIGUSR2 (so the
 * bench starts every process at once). Once its last height has returned (committed: the
 * handler commits before it returns) it prints `bench-bare done {"heights","cpuMs",
 * "handlerMs"}` (its own CPU time since the signal, and the time of its handler calls added
 * up), then stays connected until SIGTERM, so that the bench can read what PostgreSQL's
 * backends used. A height that fails stops the process with a non-zero exit: nothing would
 * retry it.
 */
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';

/** s5-real-chain.ts reads these lines; it does not import this file, which runs on import. */
const BARE_LINE_PREFIX = 'bench-bare ';

interface HandlerModule {
  default: (
    height: number,
    ctx: { queue: string; attempt: number; signal: AbortSignal },
  ) => unknown;
  close?: () => Promise<void>;
}

function setting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

/** Resolves on `signal`; a signal listener alone does not keep Node running, this does. */
async function until(signal: NodeJS.Signals): Promise<void> {
  const received = once(process, signal);
  const keepAlive = setInterval(() => {}, 60_000);
  await received;
  clearInterval(keepAlive);
}

async function main(): Promise<void> {
  const handler = (await import(pathToFileURL(setting('BENCH_HANDLER')).href)) as HandlerModule;
  const index = Number(setting('BENCH_INDEX'));
  const processes = Number(setting('BENCH_PROCESSES'));
  const concurrency = Number(setting('BENCH_CONCURRENCY'));
  const heights = Number(setting('BENCH_HEIGHTS'));
  const go = until('SIGUSR2');
  process.stdout.write(`${BARE_LINE_PREFIX}ready\n`);
  await go;

  const cpuBefore = process.cpuUsage();
  const signal = new AbortController().signal;
  let next = index;
  let done = 0;
  let handlerMs = 0;
  const slot = async () => {
    while (next < heights) {
      const height = next;
      next += processes;
      const started = performance.now();
      await handler.default(height, { queue: 'bare', attempt: 1, signal });
      handlerMs += performance.now() - started;
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, slot));
  const cpu = process.cpuUsage(cpuBefore);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const stop = until('SIGTERM');
  process.stdout.write(
    `${BARE_LINE_PREFIX}done ${JSON.stringify({ heights: done, cpuMs, handlerMs })}\n`,
  );
  await stop;
  await handler.close?.();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bare loop: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

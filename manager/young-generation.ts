/**
 * Caps the manager process's young generation (docs/performance.md, "Sparse queues"). V8 grows
 * its semi-spaces by doubling whenever the bytes that survived scavenges since the last growth
 * exceed their size, and on Node 22 and later it allows them up to 64 MB on a machine with
 * several GB of memory (Node 20 stopped at 16 MB). A manager's long-lived memory, the range sets
 * of its queues, is allocated young and survives, so a sparse queue's enqueues grow the young
 * generation to its largest size, 134 MB resident that are never given back, while a turn of
 * the manager needs a few MB of it. Once the young generation reaches MAX_SEMI_SPACE_MB
 * semi-spaces, growing is switched off (`--semi-space-growth-factor=1`), and back on if V8
 * shrinks it below. A `--max-semi-space-size` or `--semi-space-growth-factor` given to Node is
 * left to decide.
 */
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import * as v8 from 'node:v8';

/** Node 20's largest semi-space: enough for a turn's garbage, a third of Node 24's here. */
export const MAX_SEMI_SPACE_MB = 16;

/** V8's default growth factor of the young generation. */
const DEFAULT_GROWTH_FACTOR = 2;

/** Starts the cap, for the life of the process. */
export function capYoungGeneration(maxSemiSpaceMb = MAX_SEMI_SPACE_MB): void {
  if (nodeFlagsSet(['--max-semi-space-size', '--semi-space-growth-factor'])) return;
  // The new space holds two semi-spaces.
  const limit = 2 * maxSemiSpaceMb * 1024 * 1024;
  let frozen = false;
  const check = () => {
    const atLimit = newSpaceSize() >= limit;
    if (atLimit === frozen) return;
    frozen = atLimit;
    v8.setFlagsFromString(`--semi-space-growth-factor=${atLimit ? 1 : DEFAULT_GROWTH_FACTOR}`);
  };
  // Growth happens only at a scavenge: checking after each is enough.
  const observer = new PerformanceObserver((list) => {
    if (list.getEntries().some(isScavenge)) check();
  });
  observer.observe({ entryTypes: ['gc'] });
  check();
}

/**
 * Switches off V8's allocation-site pretenuring for the process (docs/performance.md, "The
 * manager's young generation"). V8 allocates straight into the old generation from a site
 * whose objects it found alive at a scavenge, and in the manager it did so for sites of the
 * frame parser, whose objects live for one frame. Dead there until the next full collection,
 * they kept the young objects they point to alive: under a backfill of noop workers each
 * scavenge copied about 940 KB and paused 4 ms at the median, and 2 ms without pretenuring. A
 * `--allocation-site-pretenuring` given to Node (either way) is left to decide.
 */
export function stopPretenuring(): void {
  if (nodeFlagsSet(['--allocation-site-pretenuring', '--no-allocation-site-pretenuring'])) return;
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
}

/** The young generation's size in bytes (both semi-spaces). */
export function newSpaceSize(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

function isScavenge(entry: PerformanceEntry): boolean {
  const detail = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail;
  return detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR;
}

function nodeFlagsSet(names: string[]): boolean {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map((arg) =>
    arg.replaceAll('_', '-'),
  );
  return given.some((arg) => names.some((name) => arg === name || arg.startsWith(`${name}=`)));
}

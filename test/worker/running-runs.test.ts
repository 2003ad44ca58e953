import { describe, expect, it } from 'vitest';
import { RunningRuns, type Slotted } from '../../worker/running-runs.js';

type Run = Slotted & { name: string };
const run = (name: string): Run => ({ name, slot: -1 });

describe('RunningRuns', () => {
  it('holds what was added until it is deleted, in any order', () => {
    const runs = new RunningRuns<Run>();
    const [a, b, c, d] = [run('a'), run('b'), run('c'), run('d')];
    for (const r of [a, b, c, d]) runs.add(r);
    expect(runs.size).toBe(4);
    expect(runs.delete(b)).toBe(true);
    expect(runs.delete(a)).toBe(true);
    expect(runs.size).toBe(2);
    expect([...runs].map((r) => r.name).sort()).toEqual(['c', 'd']);
    expect(a.slot).toBe(-1);
    runs.add(a);
    expect([...runs].map((r) => r.name).sort()).toEqual(['a', 'c', 'd']);
    for (const r of [c, d, a]) expect(runs.delete(r)).toBe(true);
    expect(runs.size).toBe(0);
    expect([...runs]).toEqual([]);
  });

  it('refuses a second delete of the same run, and a run it never held', () => {
    const runs = new RunningRuns<Run>();
    const [a, b, stranger] = [run('a'), run('b'), run('stranger')];
    runs.add(a);
    runs.add(b);
    expect(runs.delete(a)).toBe(true);
    expect(runs.delete(a)).toBe(false);
    // A run of another set at the same index is not this set's.
    stranger.slot = 0;
    expect(runs.delete(stranger)).toBe(false);
    expect([...runs]).toEqual([b]);
  });

  it('iterates over a snapshot, so deleting while iterating skips no run', () => {
    const runs = new RunningRuns<Run>();
    const all = ['a', 'b', 'c', 'd', 'e'].map(run);
    for (const r of all) runs.add(r);
    const seen: string[] = [];
    for (const r of runs) {
      seen.push(r.name);
      runs.delete(r);
    }
    expect(seen.sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(runs.size).toBe(0);
  });
});

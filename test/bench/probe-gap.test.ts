import { describe, expect, it } from 'vitest';
import { MAX_PROBE_GAP_MS, probeGapMs } from '../../bench/commit-watch.js';

describe('probeGapMs', () => {
  it('probes at the short interval before any height is seen', () => {
    expect(probeGapMs({ total: 40_000, done: 0, elapsedMs: 1_000, shortMs: 5 })).toBe(5);
  });

  it('waits a quarter of the time the rate so far says is left', () => {
    // 10,000 of 40,000 in 200 ms: 600 ms left, so 150 ms.
    expect(probeGapMs({ total: 40_000, done: 10_000, elapsedMs: 200, shortMs: 5 })).toBe(150);
  });

  it('waits at most MAX_PROBE_GAP_MS while the end is far', () => {
    expect(probeGapMs({ total: 1_000_000, done: 1, elapsedMs: 1_000, shortMs: 5 })).toBe(
      MAX_PROBE_GAP_MS,
    );
  });

  it('probes at the short interval near the end', () => {
    expect(probeGapMs({ total: 40_000, done: 39_990, elapsedMs: 5_000, shortMs: 5 })).toBe(5);
    expect(probeGapMs({ total: 5_000, done: 4_000, elapsedMs: 10_000, shortMs: 50 })).toBe(
      MAX_PROBE_GAP_MS,
    );
    expect(probeGapMs({ total: 5_000, done: 4_990, elapsedMs: 10_000, shortMs: 50 })).toBe(50);
  });
});

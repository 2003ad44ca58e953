import { describe, expect, it } from 'vitest';
import type { S5Side } from '../../bench/results.js';
import { ownCpuShare } from '../../bench/s5-real-chain.js';

function side(cpu: Partial<S5Side['cpu']>): S5Side {
  return {
    database: 'd',
    managerDatabase: null,
    elapsedMs: 1_000,
    blocksPerSecond: 1_000,
    blockRows: 1_000,
    transactionRows: 0,
    handlerMeanMs: 20,
    commits: null,
    commitMeanMs: null,
    resultsFrames: null,
    cpu: {
      handlerProcessesMs: 0,
      managerMs: 0,
      anvilMs: 0,
      postgresHandlerMs: 0,
      postgresManagerMs: 0,
      postgresOtherMs: 0,
      benchMs: 0,
      restMs: 0,
      machineBusyShare: 1,
      ...cpu,
    },
  };
}

describe('ownCpuShare', () => {
  it("counts the workers beyond the bare loop, the manager and its PostgreSQL, over the bare loop's processes", () => {
    const run = {
      blockrunner: side({
        handlerProcessesMs: 3_900,
        managerMs: 300,
        postgresManagerMs: 100,
        postgresHandlerMs: 1_500,
        anvilMs: 300,
      }),
      bareLoop: side({ handlerProcessesMs: 3_700, postgresHandlerMs: 1_500, anvilMs: 300 }),
    };
    // (200 + 300 + 100) / 3,700: the handler's PostgreSQL and anvil are the same work on both sides.
    expect(ownCpuShare([run])).toBeCloseTo(600 / 3_700, 10);
  });

  it('counts no negative worker overhead when the workers used less than the bare loop', () => {
    const run = {
      blockrunner: side({ handlerProcessesMs: 3_600, managerMs: 370 }),
      bareLoop: side({ handlerProcessesMs: 3_700 }),
    };
    expect(ownCpuShare([run])).toBeCloseTo(0.1, 10);
  });

  it('adds the runs up before it divides, so a side that ran second in one run and first in the next costs no share', () => {
    // Blockrunner ran second in the first run (its handlers paid 400 ms for it), the bare loop
    // in the second (400 ms the other way).
    const runs = [
      {
        blockrunner: side({ handlerProcessesMs: 4_100, managerMs: 100 }),
        bareLoop: side({ handlerProcessesMs: 3_700 }),
      },
      {
        blockrunner: side({ handlerProcessesMs: 3_700, managerMs: 100 }),
        bareLoop: side({ handlerProcessesMs: 4_100 }),
      },
    ];
    expect(ownCpuShare(runs)).toBeCloseTo(200 / 7_800, 10);
    // Each run on its own cuts the negative difference at 0 and keeps the positive one.
    expect(ownCpuShare(runs.slice(0, 1))).toBeCloseTo(500 / 3_700, 10);
    expect(ownCpuShare([runs[1] as (typeof runs)[0]])).toBeCloseTo(100 / 4_100, 10);
  });
});

import { describe, expect, it } from 'vitest';
import { percent, Screen, statusLines } from '../../cli/status.js';

describe('statusLines', () => {
  it('pads queue names and shows a missing watermark as -', () => {
    expect(
      statusLines([
        {
          queue: 'a',
          pending: 1,
          leased: 2,
          retrying: 3,
          done: 4,
          failed: 0,
          watermark: null,
          rate: 2.25,
        },
        {
          queue: 'longer',
          pending: 0,
          leased: 0,
          retrying: 0,
          done: 9,
          failed: 1,
          watermark: 8,
          rate: 0,
        },
      ]),
    ).toEqual([
      'a       4/10  40.0%  pending 1  leased 2  retrying 3  failed 0  watermark -  rate 2.3/s',
      'longer  9/10  90.0%  pending 0  leased 0  retrying 0  failed 1  watermark 8  rate 0/s',
    ]);
  });

  it('says so when there is no queue', () => {
    expect(statusLines([])).toEqual([expect.stringMatching(/^no queues yet/)]);
  });
});

describe('percent', () => {
  it('rounds down, so an unfinished queue never reads 100%', () => {
    expect(percent(99_999, 100_000)).toBe('99.9%');
    expect(percent(100_000, 100_000)).toBe('100.0%');
    expect(percent(1, 3)).toBe('33.3%');
    expect(percent(0, 0)).toBe('-');
  });
});

describe('Screen', () => {
  it('appends plain lines when not a terminal', () => {
    const screen = new Screen(false);
    expect(screen.frame(['a', 'b'])).toBe('a\nb\n');
    expect(screen.frame(['c'])).toBe('c\n');
  });

  it('redraws in place on a terminal: cursor up over the last frame, clear, rewrite', () => {
    const screen = new Screen(true);
    expect(screen.frame(['a', 'b'])).toBe('\r\x1b[2Ka\n\r\x1b[2Kb\n\x1b[J');
    expect(screen.frame(['c'])).toBe('\x1b[2A\r\x1b[2Kc\n\x1b[J');
  });
});

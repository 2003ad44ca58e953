import { describe, expect, it } from 'vitest';
import {
  type DispatchFrame,
  dispatchFrameSchema,
  dispatchOf,
  doneOf,
  MAX_ERROR_LENGTH,
  MAX_HASH_LENGTH,
  MAX_HEIGHTS_PER_FRAME,
  MAX_ITEMS_PER_FRAME,
  managerFrameSchema,
  PROTOCOL_VERSION,
  parseFrame,
  resultsFrameSchema,
  workerFrameSchema,
} from '../../shared/protocol.js';

const hello = {
  type: 'hello',
  protocol: PROTOCOL_VERSION,
  name: 'w1',
  queues: ['default'],
  capacity: 16,
};
const results = {
  type: 'results',
  lease: 1,
  done: [
    [0, 1],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ],
  failed: [{ height: 3, error: 'boom' }],
};
const release = { type: 'release', lease: 7, ranges: [[5, 6]] };
const dispatch = {
  type: 'dispatch',
  lease: 1,
  queue: 'default',
  ranges: [
    [1, 1],
    [3, 9],
  ],
};

function expectRejected(reason: string): void {
  expect(reason.startsWith('bad_frame')).toBe(true);
  expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
  expect(reason).not.toContain('\uFFFD');
}

describe('parseFrame', () => {
  it.each([
    ['hello', hello],
    ['results', results],
    ['results with empty lists', { type: 'results', lease: 2, done: [], failed: [] }],
    ['release', release],
  ])('accepts a valid %s frame', (_, frame) => {
    expect(parseFrame(workerFrameSchema, JSON.stringify(frame))).toEqual({ ok: true, frame });
  });

  const malformed: [string, string][] = [
    ['not JSON', '{"type":'],
    ['empty text', ''],
    ['a JSON array', '[]'],
    ['JSON null', 'null'],
    ['a JSON number', '42'],
    ['no type', JSON.stringify({ lease: 1, ranges: [] })],
    ['unknown type', JSON.stringify({ ...release, type: 'bogus' })],
    ['a manager frame type', JSON.stringify(dispatch)],
    ['hello without capacity', JSON.stringify({ ...hello, capacity: undefined })],
    ['hello without queues', JSON.stringify({ ...hello, queues: undefined })],
    ['results without failed', JSON.stringify({ ...results, failed: undefined })],
    ['release without lease', JSON.stringify({ ...release, lease: undefined })],
    ['negative height', JSON.stringify({ ...release, ranges: [[-1, 2]] })],
    ['fractional height', JSON.stringify({ ...release, ranges: [[1, 1.5]] })],
    ['height 2^53', JSON.stringify({ ...release, ranges: [[0, 2 ** 53]] })],
    ['height 1e300', '{"type":"release","lease":1,"ranges":[[1,1e300]]}'],
    ['height as a string', JSON.stringify({ ...release, ranges: [['5', 6]] })],
    ['a range from above to', JSON.stringify({ ...release, ranges: [[6, 5]] })],
    ['a range of one number', JSON.stringify({ ...release, ranges: [[5]] })],
    ['a range of three numbers', JSON.stringify({ ...release, ranges: [[5, 6, 7]] })],
    ['a bare height for a range', JSON.stringify({ ...results, done: [5] })],
    [
      'negative failed height',
      JSON.stringify({ ...results, failed: [{ height: -3, error: 'x' }] }),
    ],
    ['extra key on hello', JSON.stringify({ ...hello, extra: 1 })],
    [
      'extra key on a failure',
      JSON.stringify({ ...results, failed: [{ height: 1, error: 'x', at: 1 }] }),
    ],
    [
      'too many ranges',
      JSON.stringify({ ...release, ranges: new Array(MAX_ITEMS_PER_FRAME + 1).fill([1, 1]) }),
    ],
    [
      'too many done ranges',
      JSON.stringify({ ...results, done: new Array(MAX_ITEMS_PER_FRAME + 1).fill([1, 1]) }),
    ],
    [
      'error too long',
      JSON.stringify({
        ...results,
        failed: [{ height: 1, error: 'x'.repeat(MAX_ERROR_LENGTH + 1) }],
      }),
    ],
    ['lease 0', JSON.stringify({ ...release, lease: 0 })],
    ['lease negative', JSON.stringify({ ...release, lease: -4 })],
    ['lease fractional', JSON.stringify({ ...results, lease: 1.25 })],
    ['protocol as a string', JSON.stringify({ ...hello, protocol: '1' })],
    ['capacity as a string', JSON.stringify({ ...hello, capacity: '16' })],
    ['capacity 0', JSON.stringify({ ...hello, capacity: 0 })],
    ['name empty', JSON.stringify({ ...hello, name: '' })],
    ['queues empty', JSON.stringify({ ...hello, queues: [] })],
    ['bad queue name', JSON.stringify({ ...hello, queues: ['Bad Queue'] })],
    ['ranges not a list', JSON.stringify({ ...release, ranges: 5 })],
    ['heights instead of ranges (protocol 1)', JSON.stringify({ ...release, heights: [5] })],
    ['long multibyte key', JSON.stringify({ ...hello, ['ü'.repeat(200)]: 1 })],
    ['long multibyte queue', JSON.stringify({ ...hello, queues: ['ü'.repeat(100)] })],
  ];

  it.each(malformed)('rejects %s with a short bad_frame reason', (_, data) => {
    const parsed = parseFrame(workerFrameSchema, data);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expectRejected(parsed.close.reason);
  });

  it('says which field is wrong', () => {
    const reason = (data: unknown) => {
      const parsed = parseFrame(workerFrameSchema, JSON.stringify(data));
      return parsed.ok ? '' : parsed.close.reason;
    };
    expect(parseFrame(workerFrameSchema, 'nope')).toEqual({
      ok: false,
      close: { code: 4400, reason: 'bad_frame: not JSON' },
    });
    expect(
      reason({
        ...release,
        ranges: [
          [0, 1],
          [4, -1],
        ],
      }),
    ).toMatch(/^bad_frame: ranges\.1\.1: /);
    expect(
      reason({
        ...release,
        ranges: [
          [0, 1],
          [4, 3],
        ],
      }),
    ).toMatch(/^bad_frame: ranges\.1: /);
    expect(reason({ ...results, failed: [{ height: 1, error: 'x'.repeat(2_001) }] })).toMatch(
      /^bad_frame: failed\.0\.error: /,
    );
    expect(reason({ ...release, lease: 0 })).toMatch(/^bad_frame: lease: /);
    expect(reason({ ...hello, extra: 1 })).toContain('extra');
  });

  it('checks a list of ranges in one pass, naming the pair and the number that is wrong', () => {
    const reason = (data: unknown) => {
      const parsed = parseFrame(workerFrameSchema, JSON.stringify(data));
      return parsed.ok ? 'accepted' : parsed.close.reason;
    };
    const height = 'expected a height (an integer from 0 to 2^53-1)';
    expect(
      reason({
        ...release,
        ranges: [
          [0, 1],
          [2, 2.5],
        ],
      }),
    ).toBe(`bad_frame: ranges.1.1: ${height}`);
    expect(reason({ ...release, ranges: [[-1, 1]] })).toBe(`bad_frame: ranges.0.0: ${height}`);
    expect(reason({ ...release, ranges: [['1', 1]] })).toBe(`bad_frame: ranges.0.0: ${height}`);
    expect(reason({ ...release, ranges: [[0, 2 ** 53]] })).toBe(`bad_frame: ranges.0.1: ${height}`);
    expect(
      reason({
        ...results,
        done: [
          [0, 1],
          [9, 3],
        ],
      }),
    ).toBe('bad_frame: done.1: a range is [from, to] with from <= to');
    expect(reason({ ...results, done: [[0, 1], 5] })).toBe(
      'bad_frame: done.1: expected a [from, to] pair of heights',
    );
    expect(reason({ ...results, done: [[0, 1, 2]] })).toBe(
      'bad_frame: done.0: expected a [from, to] pair of heights',
    );
    expect(reason({ ...results, done: { 0: [1, 1] } })).toBe(
      'bad_frame: done: expected a list of [from, to] ranges',
    );
    expect(reason({ ...release, ranges: new Array(MAX_ITEMS_PER_FRAME + 1).fill([1, 1]) })).toBe(
      `bad_frame: ranges: at most ${MAX_ITEMS_PER_FRAME} ranges per frame`,
    );
    expect(
      parseFrame(managerFrameSchema, JSON.stringify({ ...dispatch, ranges: [] })),
    ).toMatchObject({ ok: false, close: { code: 4400 } });
  });

  it('checks block hashes in one pass, with the paths and messages of their item schema', () => {
    const reason = (data: unknown) => {
      const parsed = parseFrame(workerFrameSchema, JSON.stringify(data));
      return parsed.ok ? 'accepted' : parsed.close.reason;
    };
    const report = { height: 0, hash: '0xaa', parentHash: '0x99' };
    const withHashes = (...hashes: unknown[]) => ({ ...results, hashes });
    const hashes = [report, { ...report, height: 1, hash: '0x'.padEnd(MAX_HASH_LENGTH, 'b') }];
    expect(parseFrame(workerFrameSchema, JSON.stringify(withHashes(...hashes)))).toEqual({
      ok: true,
      frame: withHashes(...hashes),
    });
    expect(reason(withHashes(report, { ...report, height: -1 }))).toMatch(
      /^bad_frame: hashes\.1\.height: /,
    );
    expect(reason(withHashes({ ...report, hash: '' }))).toMatch(/^bad_frame: hashes\.0\.hash: /);
    expect(reason(withHashes({ ...report, parentHash: 'x'.repeat(MAX_HASH_LENGTH + 1) }))).toMatch(
      /^bad_frame: hashes\.0\.parentHash: /,
    );
    expect(reason(withHashes({ height: 0, hash: '0xaa' }))).toMatch(
      /^bad_frame: hashes\.0\.parentHash: /,
    );
    expect(reason(withHashes({ ...report, extra: 1 }))).toMatch(/^bad_frame: hashes\.0: .*extra/);
    expect(reason(withHashes(null))).toMatch(/^bad_frame: hashes\.0: /);
    expect(reason(withHashes([0, '0xaa', '0x99']))).toMatch(/^bad_frame: hashes\.0: /);
    expect(reason({ ...results, hashes: { 0: report } })).toBe(
      'bad_frame: hashes: expected a list of block hashes',
    );
    expect(reason({ ...results, hashes: new Array(MAX_ITEMS_PER_FRAME + 1).fill(report) })).toBe(
      `bad_frame: hashes: at most ${MAX_ITEMS_PER_FRAME} hashes per frame`,
    );
  });

  it('accepts a frame of a sparse lease: a one-height pair per height, up to the limit', () => {
    const done = Array.from({ length: MAX_ITEMS_PER_FRAME }, (_, i): [number, number] => [
      2 * i,
      2 * i,
    ]);
    const frame = { type: 'results', lease: 3, done, failed: [] };
    expect(parseFrame(workerFrameSchema, JSON.stringify(frame))).toEqual({ ok: true, frame });
  });

  it('truncates long reasons on a character boundary', () => {
    const parsed = parseFrame(
      workerFrameSchema,
      JSON.stringify({ ...hello, ['ü'.repeat(200)]: 1 }),
    );
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expectRejected(parsed.close.reason);
    expect(Buffer.byteLength(parsed.close.reason)).toBeGreaterThanOrEqual(122);
  });
});

describe('manager frames', () => {
  it('accepts a dispatch frame with or without one attempt per range', () => {
    expect(parseFrame(managerFrameSchema, JSON.stringify(dispatch))).toEqual({
      ok: true,
      frame: dispatch,
    });
    const retried = { ...dispatch, attempts: [2, 1] };
    expect(parseFrame(managerFrameSchema, JSON.stringify(retried))).toEqual({
      ok: true,
      frame: retried,
    });
  });

  it('ignores fields it does not know in every manager frame, so a manager may add optional ones', () => {
    const frames = [
      dispatch,
      { type: 'cancel', lease: 3, ranges: [[1, 2]] },
      { type: 'revert', revert: 1, queue: 'q', from: 5, to: 9 },
      { type: 'welcome', protocol: PROTOCOL_VERSION, workerId: 'w', leaseMs: 1, heartbeatMs: 1 },
    ];
    for (const frame of frames) {
      const parsed = parseFrame(managerFrameSchema, JSON.stringify({ ...frame, later: [1] }));
      expect(parsed).toEqual({ ok: true, frame });
    }
  });

  it('accepts a dispatch frame of the tip lane and refuses any other lane', () => {
    const tip = { ...dispatch, lane: 'tip' };
    expect(parseFrame(managerFrameSchema, JSON.stringify(tip))).toEqual({ ok: true, frame: tip });
    for (const lane of ['backfill', 'TIP', 1, null]) {
      const parsed = parseFrame(dispatchFrameSchema, JSON.stringify({ ...dispatch, lane }));
      expect(parsed.ok ? '' : parsed.close.reason).toMatch(/^bad_frame: lane: /);
    }
  });

  it.each([
    ['too few', [2]],
    ['too many', [1, 2, 3]],
    ['empty', []],
  ])('rejects a dispatch frame with %s attempts', (_, attempts) => {
    const data = JSON.stringify({ ...dispatch, attempts });
    for (const schema of [managerFrameSchema, dispatchFrameSchema]) {
      const parsed = parseFrame(schema, data);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expectRejected(parsed.close.reason);
    }
    const direct = parseFrame(dispatchFrameSchema, data);
    expect(direct.ok ? '' : direct.close.reason).toBe(
      'bad_frame: attempts: attempts must have one entry per range',
    );
  });

  it('rejects a dispatch frame without heights or with too many, and a welcome of another protocol version', () => {
    for (const frame of [
      { ...dispatch, ranges: [] },
      { ...dispatch, ranges: [[0, MAX_HEIGHTS_PER_FRAME]] },
      { ...dispatch, attempts: [0, 1] },
      { type: 'welcome', protocol: PROTOCOL_VERSION + 1, workerId: 'w', leaseMs: 1_000 },
    ]) {
      const parsed = parseFrame(managerFrameSchema, JSON.stringify(frame));
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expectRejected(parsed.close.reason);
    }
    const welcome = {
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      workerId: 'w',
      leaseMs: 1_000,
      heartbeatMs: 500,
    };
    expect(parseFrame(managerFrameSchema, JSON.stringify(welcome))).toEqual({
      ok: true,
      frame: welcome,
    });
  });
});

describe('range deltas in frames', () => {
  const reason = (schema: Parameters<typeof parseFrame>[0], frame: object): string => {
    const parsed = parseFrame(schema, JSON.stringify(frame));
    return parsed.ok ? '' : parsed.close.reason;
  };
  const deltaResults = { type: 'results', lease: 1, doneDeltas: [0, 1, 4, 0], failed: [] };
  const deltaDispatch = { type: 'dispatch', lease: 1, queue: 'default', deltas: [1, 0, 2, 6] };

  it('accepts a hello that says deltas, results with doneDeltas and a dispatch with deltas', () => {
    const frames: [Parameters<typeof parseFrame>[0], object][] = [
      [workerFrameSchema, { ...hello, deltas: true }],
      [workerFrameSchema, deltaResults],
      [workerFrameSchema, { ...deltaResults, doneDeltas: [] }],
      [managerFrameSchema, deltaDispatch],
      [managerFrameSchema, { ...deltaDispatch, attempts: [2, 1] }],
    ];
    for (const [schema, frame] of frames)
      expect(parseFrame(schema, JSON.stringify(frame))).toEqual({ ok: true, frame });
  });

  it('doneOf and dispatchOf read either form alike', () => {
    const asPairs = parseFrame(
      resultsFrameSchema,
      JSON.stringify({
        ...deltaResults,
        doneDeltas: undefined,
        done: [
          [0, 1],
          [5, 5],
        ],
      }),
    );
    const asDeltas = parseFrame(resultsFrameSchema, JSON.stringify(deltaResults));
    if (!asPairs.ok || !asDeltas.ok) throw new Error('expected both frames valid');
    expect(doneOf(asDeltas.frame).toJSON()).toEqual([
      [0, 1],
      [5, 5],
    ]);
    expect(doneOf(asDeltas.frame).equals(doneOf(asPairs.frame))).toBe(true);
    expect(dispatchOf(deltaDispatch as DispatchFrame).ranges).toEqual(dispatch.ranges);
    expect(dispatchOf(dispatch as DispatchFrame).ranges).toEqual(dispatch.ranges);
    expect('deltas' in dispatchOf(deltaDispatch as DispatchFrame)).toBe(false);
  });

  it('accepts a sparse lease as deltas, up to the limit, in a fraction of the bytes', () => {
    const doneDeltas = [0, 0];
    for (let i = 1; i < MAX_ITEMS_PER_FRAME; i++) doneDeltas.push(2, 0);
    const frame = { type: 'results', lease: 3, doneDeltas, failed: [] };
    expect(parseFrame(workerFrameSchema, JSON.stringify(frame))).toEqual({ ok: true, frame });
    const pairs = Array.from({ length: MAX_ITEMS_PER_FRAME }, (_, i) => [2 * i, 2 * i]);
    expect(JSON.stringify(frame).length * 3).toBeLessThan(JSON.stringify(pairs).length);
  });

  it.each([
    [
      'both forms in results',
      workerFrameSchema,
      { ...deltaResults, done: [] },
      'bad_frame: doneDeltas: done or doneDeltas, not both',
    ],
    [
      'neither form in results',
      workerFrameSchema,
      { type: 'results', lease: 1, failed: [] },
      'bad_frame: done: done or doneDeltas required',
    ],
    [
      'both forms in a dispatch',
      dispatchFrameSchema,
      { ...deltaDispatch, ranges: [[1, 1]] },
      'bad_frame: deltas: ranges or deltas, not both',
    ],
    [
      'neither form in a dispatch',
      dispatchFrameSchema,
      { type: 'dispatch', lease: 1, queue: 'q' },
      'bad_frame: ranges: ranges or deltas required',
    ],
    [
      'an odd number of deltas',
      workerFrameSchema,
      { ...deltaResults, doneDeltas: [1, 0, 2] },
      'bad_frame: doneDeltas: range deltas come in pairs (start or gap, length)',
    ],
    [
      'a negative delta',
      workerFrameSchema,
      { ...deltaResults, doneDeltas: [1, 0, -2, 0] },
      'bad_frame: doneDeltas.2: expected a whole number from 0 to 2^53-1',
    ],
    [
      'a gap of 0',
      workerFrameSchema,
      { ...deltaResults, doneDeltas: [1, 3, 0, 0] },
      'bad_frame: doneDeltas.2: a gap is at least 1 (ranges ascending, disjoint)',
    ],
    [
      'heights past 2^53-1',
      workerFrameSchema,
      { ...deltaResults, doneDeltas: [Number.MAX_SAFE_INTEGER, 1] },
      'bad_frame: doneDeltas.1: the ranges reach past height 2^53-1',
    ],
    [
      'pairs where deltas belong',
      workerFrameSchema,
      { ...deltaResults, doneDeltas: [[1, 2]] },
      'bad_frame: doneDeltas: range deltas come in pairs (start or gap, length)',
    ],
    [
      'an empty dispatch',
      dispatchFrameSchema,
      { ...deltaDispatch, deltas: [] },
      'bad_frame: deltas: at least 1 range expected',
    ],
    [
      'a dispatch of too many heights',
      dispatchFrameSchema,
      { ...deltaDispatch, deltas: [0, MAX_HEIGHTS_PER_FRAME] },
      `bad_frame: deltas: a dispatch holds at most ${MAX_HEIGHTS_PER_FRAME} heights`,
    ],
    [
      'attempts not one per range',
      dispatchFrameSchema,
      { ...deltaDispatch, attempts: [1] },
      'bad_frame: attempts: attempts must have one entry per range',
    ],
    [
      'a hello with a deltas that is no boolean',
      workerFrameSchema,
      { ...hello, deltas: 'yes' },
      'bad_frame: deltas: Invalid input: expected boolean, received string',
    ],
  ])('rejects %s', (_name, schema, frame, expected) => {
    expect(reason(schema, frame)).toBe(expected);
    expectRejected(expected);
  });

  it('rejects more ranges than a frame may hold', () => {
    const doneDeltas = [0, 0];
    for (let i = 0; i < MAX_ITEMS_PER_FRAME; i++) doneDeltas.push(2, 0);
    expect(reason(workerFrameSchema, { ...deltaResults, doneDeltas })).toBe(
      `bad_frame: doneDeltas: at most ${MAX_ITEMS_PER_FRAME} ranges per frame`,
    );
  });
});

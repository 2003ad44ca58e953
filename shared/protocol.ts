/**
 * The worker protocol: every frame that crosses the WebSocket at /v1/ws, as zod schemas.
 * docs/protocol.md describes the same frames for workers written in other languages;
 * change both together, and bump PROTOCOL_VERSION on any incompatible change.
 */
import { z } from 'zod';
import { type WsClose, wsClose } from './errors.js';
import {
  deltasProblem,
  heightsInDeltas,
  isWhole,
  pairsOfDeltas,
  setOfDeltas,
} from './range-codec.js';
import { RangeSet } from './range-set.js';

export const PROTOCOL_VERSION = 5;

/** Largest number of heights a worker may hold (hello capacity), so one lease's worth. */
export const MAX_HEIGHTS_PER_FRAME = 100_000;
/** Largest number of items one frame may carry in a list (ranges, failures). */
export const MAX_ITEMS_PER_FRAME = 100_000;
/** Longest wait a rate-limited result may ask for (an hour). */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** Longest error message kept for a failed attempt; workers truncate to it. */
export const MAX_ERROR_LENGTH = 2_000;
/** Upper bound of a results frame's `runMs`: 100,000 heights of a day each. */
const MAX_RUN_MS = MAX_HEIGHTS_PER_FRAME * 86_400_000;

export const QUEUE_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const queueNameSchema = z
  .string()
  .regex(QUEUE_NAME_PATTERN, 'queue names match ^[a-z0-9][a-z0-9_-]{0,62}$');

/** The highest height there is: the largest integer a JSON number carries exactly. */
export const MAX_HEIGHT = Number.MAX_SAFE_INTEGER;
export const heightSchema = z.number().int().min(0).max(MAX_HEIGHT);

const leaseIdSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const revertIdSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/** Longest block hash accepted: 0x and 64 bytes of hex covers every chain we know of. */
export const MAX_HASH_LENGTH = 130;
const hashSchema = z.string().min(1).max(MAX_HASH_LENGTH);

/** What a handler may return for its height: its block's hash and its parent's. */
export const blockReportSchema = z.strictObject({
  height: heightSchema,
  hash: hashSchema,
  parentHash: hashSchema,
});
export type BlockReport = z.infer<typeof blockReportSchema>;

/**
 * A results frame's `hashes`: blockReportSchema for each item, checked in one loop, as the range
 * lists are. A slow handler's frames carry a few dozen each and come a few dozen a second, too
 * seldom for V8 to optimise zod's code: a 16-hash frame's parse took ~151 µs so, ~132 µs with
 * this loop (11 hashes in a hot loop: 12 µs, 5 µs). An item that fails the quick check goes
 * through blockReportSchema itself, so issues and paths are the schema's own.
 */
function hashListSchema() {
  return z.custom<BlockReport[]>().superRefine((value, ctx) => {
    if (!Array.isArray(value)) {
      ctx.addIssue({ code: 'custom', message: 'expected a list of block hashes', path: [] });
      return;
    }
    if (value.length > MAX_ITEMS_PER_FRAME) {
      ctx.addIssue({ code: 'custom', message: `at most ${MAX_ITEMS_PER_FRAME} hashes per frame` });
      return;
    }
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (isBlockReport(item)) continue;
      const issue = blockReportSchema.safeParse(item).error?.issues[0];
      ctx.addIssue({
        code: 'custom',
        message: issue?.message ?? 'expected a block report',
        path: [i, ...(issue?.path ?? [])],
      });
      return;
    }
  });
}

/** What blockReportSchema admits, without building a parse result. */
function isBlockReport(value: unknown): value is BlockReport {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  let keys = 0;
  for (const key in value) {
    if (key !== 'height' && key !== 'hash' && key !== 'parentHash') return false;
    keys++;
  }
  const { height, hash, parentHash } = value as Record<string, unknown>;
  return keys === 3 && isHeight(height) && isHash(hash) && isHash(parentHash);
}

/** What hashSchema admits: a block hash within the protocol's limits. */
export function isHash(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= MAX_HASH_LENGTH;
}

/**
 * Heights travel as inclusive [from, to] ranges: a backfill lease of thousands of consecutive
 * heights is one pair, so frame size and the work per frame do not grow with the heights.
 * A sparse queue's frames carry thousands of one-height pairs, so a list is checked in one loop
 * (one zod check for the whole list, not a tuple schema and a refinement per pair); the issues
 * name the same paths (`done.3.1`, `ranges.2`) a per-pair schema would.
 */
function rangeListSchema(min = 0) {
  return z.custom<HeightRange[]>().superRefine((value, ctx) => {
    const problem = rangeListProblem(value, min);
    if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path });
  });
}

/**
 * A range list in the compact form (shared/range-codec.ts): `[from0, len0, gap1, len1, ...]`,
 * ascending and disjoint, checked in one loop like the pairs.
 */
function rangeDeltasSchema(min = 0) {
  return z.custom<number[]>().superRefine((value, ctx) => {
    const problem = deltasProblem(value, min, MAX_ITEMS_PER_FRAME);
    if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path });
  });
}

/** A frame carries a range list in one form, `pairs` or `deltas`, never both, never neither. */
function oneForm(pairs: string, deltas: string) {
  return (frame: Record<string, unknown>, ctx: z.RefinementCtx): void => {
    const hasPairs = frame[pairs] !== undefined;
    const hasDeltas = frame[deltas] !== undefined;
    if (hasPairs && hasDeltas)
      ctx.addIssue({ code: 'custom', message: `${pairs} or ${deltas}, not both`, path: [deltas] });
    else if (!hasPairs && !hasDeltas)
      ctx.addIssue({ code: 'custom', message: `${pairs} or ${deltas} required`, path: [pairs] });
  };
}

export const HEIGHT_EXPECTED = 'expected a height (an integer from 0 to 2^53-1)';

/** The first thing wrong with a list of ranges, or undefined when it is one. */
function rangeListProblem(
  value: unknown,
  min = 0,
): { message: string; path: number[] } | undefined {
  if (!Array.isArray(value)) return { message: 'expected a list of [from, to] ranges', path: [] };
  if (value.length > MAX_ITEMS_PER_FRAME)
    return { message: `at most ${MAX_ITEMS_PER_FRAME} ranges per frame`, path: [] };
  if (value.length < min) return { message: `at least ${min} range expected`, path: [] };
  for (let i = 0; i < value.length; i++) {
    const range: unknown = value[i];
    if (!Array.isArray(range) || range.length !== 2)
      return { message: 'expected a [from, to] pair of heights', path: [i] };
    const from: unknown = range[0];
    const to: unknown = range[1];
    if (!isHeight(from)) return { message: HEIGHT_EXPECTED, path: [i, 0] };
    if (!isHeight(to)) return { message: HEIGHT_EXPECTED, path: [i, 1] };
    if (from > to) return { message: 'a range is [from, to] with from <= to', path: [i] };
  }
  return undefined;
}

/** What heightSchema admits, for loops that check many heights without a schema per element. */
export const isHeight = isWhole;

export type HeightRange = [from: number, to: number];

/** How many heights the ranges cover (overlaps counted twice). */
export function heightsIn(ranges: readonly (readonly [number, number])[]): number {
  let count = 0;
  for (const [from, to] of ranges) count += to - from + 1;
  return count;
}

/** Heights per range handler call, as the dispatch and results frames carry it. */
const rangeSizeSchema = z.number().int().min(1).max(MAX_HEIGHTS_PER_FRAME);

// Worker -> manager

export const helloFrameSchema = z.strictObject({
  type: z.literal('hello'),
  protocol: z.number().int(),
  name: z.string().min(1).max(200),
  queues: z.array(queueNameSchema).min(1).max(64),
  /** How many heights the worker may hold at once: running plus buffered. */
  capacity: z.number().int().min(1).max(MAX_HEIGHTS_PER_FRAME),
  /**
   * Optional, version 5: true when the worker reads `deltas` in dispatch and may write
   * `doneDeltas` in results (docs/protocol.md, "Range deltas"). Absent means pairs only.
   */
  deltas: z.boolean().optional(),
});

export const resultsFrameSchema = z
  .strictObject({
    type: z.literal('results'),
    lease: leaseIdSchema,
    /** Heights that succeeded, as ranges; or as `doneDeltas`, from a worker that said `deltas`. */
    done: rangeListSchema().optional(),
    doneDeltas: rangeDeltasSchema().optional(),
    failed: z
      .array(
        z.strictObject({
          height: heightSchema,
          error: z.string().max(MAX_ERROR_LENGTH),
          /**
           * Optional: `rate-limited` when the handler threw RateLimitedError. Not a failed attempt:
           * the queue's dispatch backs off (docs/protocol.md, "Results").
           */
          kind: z.enum(['rate-limited']).optional(),
          /** With `rate-limited`: how long the node asked to wait. */
          retryAfterMs: z.number().int().min(0).max(MAX_RETRY_AFTER_MS).optional(),
        }),
      )
      .max(MAX_ITEMS_PER_FRAME),
    /**
     * Optional: handler milliseconds summed over the frame's heights, for the manager's
     * handler-duration metrics. Workers that do not measure leave it out.
     */
    runMs: z.number().min(0).max(MAX_RUN_MS).optional(),
    /**
     * Optional: the block hashes handlers returned, one per done height that gave them; the
     * manager checks their parent links to notice reorganisations (docs/chains.md).
     */
    hashes: hashListSchema().optional(),
    /**
     * Optional, from range handlers: the node refused a range as too large, and the worker now
     * cuts this lease's heights into calls of at most this many; the manager lowers the queue's
     * effective range size to it (docs/protocol.md, "Range handlers").
     */
    rangeSize: rangeSizeSchema.optional(),
  })
  .superRefine(oneForm('done', 'doneDeltas'));

/** The answer to a `revert` frame: the handler's revert ran (no error) or failed. */
export const revertedFrameSchema = z.strictObject({
  type: z.literal('reverted'),
  revert: revertIdSchema,
  error: z.string().max(MAX_ERROR_LENGTH).optional(),
});

export const releaseFrameSchema = z.strictObject({
  type: z.literal('release'),
  lease: leaseIdSchema,
  ranges: rangeListSchema(),
});

export const workerFrameSchema = z.discriminatedUnion('type', [
  helloFrameSchema,
  resultsFrameSchema,
  releaseFrameSchema,
  revertedFrameSchema,
]);

// Manager -> worker
//
// Checked as strictly as the manager checks workers' frames, except that fields a worker does not
// know are ignored: a manager may add an optional field without a new protocol version, and
// workers of this version keep working (docs/protocol.md, "Versions").

export const welcomeFrameSchema = z.object({
  type: z.literal('welcome'),
  protocol: z.literal(PROTOCOL_VERSION),
  workerId: z.string(),
  leaseMs: z.number().int().min(1),
  /** The manager pings every heartbeatMs; a link silent for 2.5 of them is dead. */
  heartbeatMs: z.number().int().min(1),
});

export const dispatchFrameSchema = z
  .object({
    type: z.literal('dispatch'),
    lease: leaseIdSchema,
    queue: queueNameSchema,
    /** The heights as pairs; or as `deltas`, to a worker that said `deltas` in hello. */
    ranges: rangeListSchema(1).optional(),
    deltas: rangeDeltasSchema(1).optional(),
    /** Attempt number of the heights of each range, in the same order; absent when all are first attempts. */
    attempts: z.array(z.number().int().min(1)).optional(),
    /**
     * Optional: the queue's effective range size, the most heights a range handler call may
     * hold (docs/protocol.md, "Range handlers"); absent means 1. Per-height workers ignore it.
     */
    rangeSize: rangeSizeSchema.optional(),
    /**
     * Optional: `tip` when the lease holds heights of the queue's tip lane; the worker starts
     * such a dispatch before the heights it already buffered (docs/protocol.md, "dispatch").
     * Absent means the backfill lane.
     */
    lane: z.literal('tip').optional(),
  })
  .superRefine(oneForm('ranges', 'deltas'))
  .refine((f) => f.attempts === undefined || f.attempts.length === rangeCountOf(f), {
    message: 'attempts must have one entry per range',
    path: ['attempts'],
  })
  .superRefine((f, ctx) => {
    if (heightsOf(f) > MAX_HEIGHTS_PER_FRAME)
      ctx.addIssue({
        code: 'custom',
        message: `a dispatch holds at most ${MAX_HEIGHTS_PER_FRAME} heights`,
        path: [f.deltas ? 'deltas' : 'ranges'],
      });
  });

/** How many ranges a dispatch lists, in either form. */
function rangeCountOf(frame: {
  ranges?: HeightRange[] | undefined;
  deltas?: number[] | undefined;
}) {
  return frame.ranges?.length ?? (frame.deltas?.length ?? 0) / 2;
}

function heightsOf(frame: { ranges?: HeightRange[] | undefined; deltas?: number[] | undefined }) {
  if (frame.ranges) return heightsIn(frame.ranges);
  return frame.deltas ? heightsInDeltas(frame.deltas) : 0;
}

export const cancelFrameSchema = z.object({
  type: z.literal('cancel'),
  lease: leaseIdSchema,
  ranges: rangeListSchema(),
});

/**
 * Asks the worker to run its handler module's `revert({from, to})` once: a reorganisation
 * orphaned those heights (docs/chains.md). Answered by `reverted` with the same id.
 */
export const revertFrameSchema = z.object({
  type: z.literal('revert'),
  revert: revertIdSchema,
  queue: queueNameSchema,
  from: heightSchema,
  to: heightSchema,
});

export const managerFrameSchema = z.union([
  welcomeFrameSchema,
  dispatchFrameSchema,
  cancelFrameSchema,
  revertFrameSchema,
]);

export type HelloFrame = z.infer<typeof helloFrameSchema>;
export type ResultsFrame = z.infer<typeof resultsFrameSchema>;
export type ReleaseFrame = z.infer<typeof releaseFrameSchema>;
export type WorkerFrame = z.infer<typeof workerFrameSchema>;
export type WelcomeFrame = z.infer<typeof welcomeFrameSchema>;
export type DispatchFrame = z.infer<typeof dispatchFrameSchema>;
export type CancelFrame = z.infer<typeof cancelFrameSchema>;
export type RevertFrame = z.infer<typeof revertFrameSchema>;
export type RevertedFrame = z.infer<typeof revertedFrameSchema>;
export type ManagerFrame = z.infer<typeof managerFrameSchema>;

/** A dispatch as the worker's loops take it: its ranges as pairs, whichever form it came in. */
export type Dispatch = Omit<DispatchFrame, 'ranges' | 'deltas'> & { ranges: HeightRange[] };

export function dispatchOf(frame: DispatchFrame): Dispatch {
  const { ranges, deltas, ...rest } = frame;
  return { ...rest, ranges: ranges ?? pairsOfDeltas(deltas ?? []) };
}

/** A results frame's done heights as a set, whichever form they came in. */
export function doneOf(frame: ResultsFrame): RangeSet {
  return frame.doneDeltas ? setOfDeltas(frame.doneDeltas) : RangeSet.from(frame.done ?? []);
}

export type ParsedFrame<T> = { ok: true; frame: T } | { ok: false; close: WsClose };

/**
 * Parses one text frame; on failure gives the 4400 close to send, its reason `bad_frame: ...`
 * cut to fit a close frame.
 */
export function parseFrame<T>(schema: z.ZodType<T>, data: string): ParsedFrame<T> {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { ok: false, close: wsClose('BR_WS_BAD_FRAME', 'not JSON') };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, frame: result.data };
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return { ok: false, close: wsClose('BR_WS_BAD_FRAME', `${where}${issue?.message ?? 'invalid'}`) };
}

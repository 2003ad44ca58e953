/**
 * The worker protocol: every frame that crosses the WebSocket at /v1/ws, as zod schemas.
 * docs/protocol.md describes the same frames for workers written in other languages;
 * change both together, and bump PROTOCOL_VERSION on any incompatible change.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 2;

/** Largest number of heights a worker may hold (hello capacity), so one lease's worth. */
export const MAX_HEIGHTS_PER_FRAME = 100_000;
/** Largest number of items one frame may carry in a list (ranges, failures). */
export const MAX_ITEMS_PER_FRAME = 100_000;
/** Longest error message kept for a failed attempt; workers truncate to it. */
export const MAX_ERROR_LENGTH = 2_000;
/** Upper bound of a results frame's `runMs`: 100,000 heights of a day each. */
const MAX_RUN_MS = MAX_HEIGHTS_PER_FRAME * 86_400_000;

export const QUEUE_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const queueNameSchema = z
  .string()
  .regex(QUEUE_NAME_PATTERN, 'queue names match ^[a-z0-9][a-z0-9_-]{0,62}$');

export const heightSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const leaseIdSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/**
 * Heights travel as inclusive [from, to] ranges: a backfill lease of thousands of consecutive
 * heights is one pair, so frame size and the work per frame do not grow with the heights.
 */
const rangeSchema = z
  .tuple([heightSchema, heightSchema])
  .refine(([from, to]) => from <= to, 'a range is [from, to] with from <= to');
const rangeListSchema = z.array(rangeSchema).max(MAX_ITEMS_PER_FRAME);

export type HeightRange = [from: number, to: number];

/** How many heights the ranges cover (overlaps counted twice). */
export function heightsIn(ranges: readonly (readonly [number, number])[]): number {
  let count = 0;
  for (const [from, to] of ranges) count += to - from + 1;
  return count;
}

// Worker -> manager

export const helloFrameSchema = z.strictObject({
  type: z.literal('hello'),
  protocol: z.number().int(),
  name: z.string().min(1).max(200),
  queues: z.array(queueNameSchema).min(1).max(64),
  /** How many heights the worker may hold at once: running plus buffered. */
  capacity: z.number().int().min(1).max(MAX_HEIGHTS_PER_FRAME),
});

export const resultsFrameSchema = z.strictObject({
  type: z.literal('results'),
  lease: leaseIdSchema,
  /** Heights that succeeded, as ranges. */
  done: rangeListSchema,
  failed: z
    .array(z.strictObject({ height: heightSchema, error: z.string().max(MAX_ERROR_LENGTH) }))
    .max(MAX_ITEMS_PER_FRAME),
  /**
   * Optional: handler milliseconds summed over the frame's heights, for the manager's
   * handler-duration metrics. Workers that do not measure leave it out.
   */
  runMs: z.number().min(0).max(MAX_RUN_MS).optional(),
});

export const releaseFrameSchema = z.strictObject({
  type: z.literal('release'),
  lease: leaseIdSchema,
  ranges: rangeListSchema,
});

export const workerFrameSchema = z.discriminatedUnion('type', [
  helloFrameSchema,
  resultsFrameSchema,
  releaseFrameSchema,
]);

// Manager -> worker

export const welcomeFrameSchema = z.strictObject({
  type: z.literal('welcome'),
  protocol: z.literal(PROTOCOL_VERSION),
  workerId: z.string(),
  leaseMs: z.number().int().min(1),
});

export const dispatchFrameSchema = z
  .strictObject({
    type: z.literal('dispatch'),
    lease: leaseIdSchema,
    queue: queueNameSchema,
    ranges: rangeListSchema.min(1),
    /** Attempt number of the heights of each range, in the same order; absent when all are first attempts. */
    attempts: z.array(z.number().int().min(1)).optional(),
  })
  .refine((f) => f.attempts === undefined || f.attempts.length === f.ranges.length, {
    message: 'attempts must have one entry per range',
    path: ['attempts'],
  })
  .refine((f) => heightsIn(f.ranges) <= MAX_HEIGHTS_PER_FRAME, {
    message: `a dispatch holds at most ${MAX_HEIGHTS_PER_FRAME} heights`,
    path: ['ranges'],
  });

export const cancelFrameSchema = z.strictObject({
  type: z.literal('cancel'),
  lease: leaseIdSchema,
  ranges: rangeListSchema,
});

export const managerFrameSchema = z.union([
  welcomeFrameSchema,
  dispatchFrameSchema,
  cancelFrameSchema,
]);

export type HelloFrame = z.infer<typeof helloFrameSchema>;
export type ResultsFrame = z.infer<typeof resultsFrameSchema>;
export type ReleaseFrame = z.infer<typeof releaseFrameSchema>;
export type WorkerFrame = z.infer<typeof workerFrameSchema>;
export type WelcomeFrame = z.infer<typeof welcomeFrameSchema>;
export type DispatchFrame = z.infer<typeof dispatchFrameSchema>;
export type CancelFrame = z.infer<typeof cancelFrameSchema>;
export type ManagerFrame = z.infer<typeof managerFrameSchema>;

/** WebSocket close codes the manager uses; the reason string starts with the name. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  tooBig: 1009,
  badFrame: 4400,
  helloTimeout: 4408,
  unsupportedProtocol: 4426,
} as const;

export type ParsedFrame<T> = { ok: true; frame: T } | { ok: false; reason: string };

/** Parses one text frame; on failure gives a short reason that fits a close frame (123 bytes). */
export function parseFrame<T>(schema: z.ZodType<T>, data: string): ParsedFrame<T> {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'bad_frame: not JSON' };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, frame: result.data };
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return {
    ok: false,
    reason: truncateUtf8(`bad_frame: ${where}${issue?.message ?? 'invalid'}`, 123),
  };
}

export function truncateUtf8(text: string, maxBytes: number): string {
  const buffer = Buffer.from(text);
  if (buffer.length <= maxBytes) return text;
  return buffer
    .subarray(0, maxBytes)
    .toString()
    .replace(/\uFFFD+$/, '');
}

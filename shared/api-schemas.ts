/**
 * The answers of the HTTP API that clients outside the manager read (the CLI in cli/), as zod
 * schemas: the manager serializes through them (manager/http/routes.ts and chain-routes.ts)
 * and the CLI parses with them, so both sides hold one definition. docs/api.md describes the
 * same answers.
 * Answers only the manager reads (heights, gaps, workers, probes) stay in
 * manager/http/schemas.ts.
 */
import { z } from 'zod';
import { heightSchema, MAX_HEIGHT } from './protocol.js';

/**
 * A count of heights. Heights run 0..MAX_HEIGHT, so a count reaches MAX_HEIGHT + 1 (2^53), one
 * past the safe integers that `.int()` admits (and exactly a double); `multipleOf(1)` keeps it
 * whole.
 */
export const countSchema = z
  .number()
  .min(0)
  .max(MAX_HEIGHT + 1)
  .multipleOf(1);

export const enqueueAnswerSchema = z
  .object({ queue: z.string(), added: countSchema, skipped: countSchema })
  .describe('Committed: heights added, and heights skipped as already enqueued');

export type EnqueueAnswer = z.infer<typeof enqueueAnswerSchema>;

/** Bounds of the queue settings (docs/api.md, "Queue settings"). */
export const SETTINGS_LIMITS = {
  priority: 1_000,
  rangeSize: 10_000,
  ratePerSecond: 1_000_000,
  maxInFlight: 10_000_000,
} as const;

export const queueSettingsSchema = z
  .object({
    /** Between queues a worker serves, higher first; then the order the worker listed them. */
    priority: z.number().int().min(-SETTINGS_LIMITS.priority).max(SETTINGS_LIMITS.priority),
    /** Heights per call of a range handler. */
    rangeSize: z.number().int().min(1).max(SETTINGS_LIMITS.rangeSize),
    /** Handler calls per second across all workers together; null: no bound. */
    ratePerSecond: z.number().positive().max(SETTINGS_LIMITS.ratePerSecond).nullable(),
    /** Heights leased at once across all workers; null: no bound. */
    maxInFlight: z.number().int().min(1).max(SETTINGS_LIMITS.maxInFlight).nullable(),
  })
  .describe("A queue's throughput settings");

export type QueueSettings = z.infer<typeof queueSettingsSchema>;

export const DEFAULT_SETTINGS: Readonly<QueueSettings> = Object.freeze({
  priority: 0,
  rangeSize: 1,
  ratePerSecond: null,
  maxInFlight: null,
});

export const queueSummarySchema = z
  .object({
    queue: z.string(),
    pending: countSchema,
    leased: countSchema,
    retrying: countSchema,
    done: countSchema,
    failed: countSchema,
    watermark: heightSchema.nullable(),
    /** Done heights per second over the last minute. */
    rate: z.number().min(0),
    /** `paused`: no heights go out until POST /v1/queues/:queue/resume; see pausedReason. */
    state: z.enum(['active', 'paused']).default('active'),
    pausedReason: z.string().optional(),
    /** With a chain head (a source, or pushed heads): the newest head seen. */
    head: heightSchema.optional(),
    /** head minus watermark; null while there is no watermark. */
    lag: countSchema.nullable().optional(),
    /** Seconds since the head last changed height. */
    headAgeSeconds: z.number().min(0).optional(),
    settings: queueSettingsSchema.optional(),
    /**
     * Calls per second the queue dispatches at now: ratePerSecond, or lower after handlers were
     * rate limited; null when nothing bounds it.
     */
    effectiveRate: z.number().min(0).nullable().optional(),
    /**
     * Heights per range handler call now: rangeSize, or less after a node refused ranges as
     * too large, growing back while calls succeed.
     */
    effectiveRangeSize: z.number().int().min(1).optional(),
  })
  .describe("A queue's counts per state, its watermark, its rate and, with a chain, head and lag");

export type QueueSummary = z.infer<typeof queueSummarySchema>;

export const queueListSchema = z
  .object({ queues: z.array(queueSummarySchema) })
  .describe('Every queue');

export const failedPageSchema = z
  .object({
    items: z.array(
      z.object({ height: heightSchema, attempts: countSchema, lastError: z.string() }),
    ),
    /** Pass as `after` for the next page; null on the last one. */
    next: heightSchema.nullable(),
  })
  .describe('A page of dead letters');

export const retryAnswerSchema = z
  .object({ requeued: countSchema })
  .describe('How many dead letters went back to pending');

/**
 * Bounds of a source's numeric fields: PUT /v1/queues/:queue/source checks them
 * (manager/http/chain-schemas.ts), and `blockrunner follow` does before it sends them.
 */
/** The URL schemes an evm source may use: JSON-RPC over HTTP, or newHeads over a WebSocket. */
export const RPC_URL_PROTOCOLS: readonly string[] = ['http:', 'https:', 'ws:', 'wss:'];

export const SOURCE_LIMITS = {
  confirmations: { min: 0, max: 100_000 },
  finality: { min: 1, max: 1_000_000 },
  pollMs: { min: 50, max: 3_600_000 },
} as const;

/** GET and PUT /v1/queues/:queue/source (docs/chains.md). */
export const sourceAnswerSchema = z
  .object({
    queue: z.string(),
    kind: z.enum(['evm', 'push']),
    /** Scheme and host only: paths of RPC URLs often hold API keys. */
    url: z.string().optional(),
    from: heightSchema,
    confirmations: countSchema,
    finality: countSchema,
    pollMs: countSchema,
    head: heightSchema.nullable(),
    headHash: z.string().nullable(),
    lag: countSchema.nullable(),
    headAgeSeconds: z.number().min(0).nullable(),
    /** following, lagging, unreachable, rate_limited, failing, starting, waiting for heads */
    state: z.string(),
    lastError: z.string().nullable(),
    lagging: z.boolean(),
    /** Heads arrive by a newHeads subscription now (ws:// sources). */
    subscribed: z.boolean(),
    /** The phase of a reorganisation being handled, if any. */
    reorg: z.string().nullable(),
  })
  .describe("A queue's chain source with its head and lag");

export type SourceAnswer = z.infer<typeof sourceAnswerSchema>;

/** GET /v1/queues/:queue/reorgs (docs/chains.md, "Reorganisations"). */
export const reorgListSchema = z
  .object({
    items: z.array(
      z.object({
        id: z.number().int(),
        detectedAt: z.string(),
        forkHeight: heightSchema,
        depth: countSchema,
        oldHash: z.string().nullable(),
        newHash: z.string().nullable(),
        revertFrom: heightSchema,
        revertTo: heightSchema,
        revertedAt: z.string().nullable(),
      }),
    ),
  })
  .describe('Reorganisations of the queue, newest first');

export type ReorgList = z.infer<typeof reorgListSchema>;

/**
 * Every 4xx/5xx answer, in Fastify's shape (manager/http/error-replies.ts); `code` is one of
 * the error catalogue's (docs/api.md, "Errors").
 */
export const errorAnswerSchema = z.object({
  statusCode: z.number().int(),
  code: z.string(),
  error: z.string(),
  message: z.string(),
});

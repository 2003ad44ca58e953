/**
 * Request and response schemas of the HTTP API (docs/api.md); Fastify validates with them. The
 * answers that the CLI reads too are in shared/api-schemas.ts.
 */
import { z } from 'zod';
import { countSchema, queueSettingsSchema } from '../../shared/api-schemas.js';
import { LOG_LEVELS } from '../../shared/config.js';
import {
  HEIGHT_EXPECTED,
  heightSchema,
  isHeight,
  MAX_HEIGHT,
  MAX_HEIGHTS_PER_FRAME,
  queueNameSchema,
} from '../../shared/protocol.js';
import { HEIGHT_STATES } from '../queue/queue-state.js';
import { MANAGER_ROLES } from '../role.js';

/** Largest number of heights or ranges one request may list. */
export const MAX_LIST_LENGTH = MAX_HEIGHTS_PER_FRAME;

/**
 * A request's list of heights, checked in one loop: a check per element (`heightSchema` in an
 * array) allocates per element, and a request of 100,000 isolated heights made the manager's
 * young generation, and its memory, grow with it (docs/performance.md, "Sparse queues"). The
 * OpenAPI document still says what an element is.
 */
const heightListSchema = z
  .array(z.number())
  .min(1)
  .max(MAX_LIST_LENGTH)
  .check((ctx) => {
    const list = ctx.value;
    for (let i = 0; i < list.length; i++) {
      const height = list[i] as number;
      if (!isHeight(height)) {
        ctx.issues.push({
          code: 'custom',
          input: height,
          path: [i],
          message: HEIGHT_EXPECTED,
        });
        return;
      }
    }
  })
  .meta({ items: { type: 'integer', minimum: 0, maximum: MAX_HEIGHT } });

const rangeSchema = z
  .strictObject({ from: heightSchema, to: heightSchema })
  .refine((range) => range.from <= range.to, {
    message: 'from must not exceed to',
    params: { code: 'BR_ERR_RANGE_REVERSED' },
  });

/**
 * One of {from, to}, {heights} or {ranges}, with an optional force. One object with optional
 * fields (not a union) so a wrong type is reported at its own path.
 */
export const enqueueBodySchema = z
  .strictObject({
    from: heightSchema.optional(),
    to: heightSchema.optional(),
    heights: heightListSchema.optional(),
    ranges: z.array(rangeSchema).min(1).max(MAX_LIST_LENGTH).optional(),
    force: z.boolean().optional(),
    /** `tip` goes before the backfill lane of the queue (docs/chains.md, "Lanes"). */
    lane: z.enum(['tip', 'backfill']).optional(),
  })
  .superRefine((body, ctx) => {
    const hasRange = body.from !== undefined || body.to !== undefined;
    const forms = [hasRange, body.heights !== undefined, body.ranges !== undefined].filter(Boolean);
    if (forms.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'give exactly one of {"from","to"}, {"heights":[...]} or {"ranges":[...]}',
      });
    } else if (hasRange && (body.from === undefined || body.to === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a range needs both from and to' });
    } else if (hasRange && (body.from as number) > (body.to as number)) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: 'from must not exceed to',
        params: { code: 'BR_ERR_RANGE_REVERSED' },
      });
    }
  });
export type EnqueueBody = z.infer<typeof enqueueBodySchema>;

export const queueParamsSchema = z.strictObject({ queue: queueNameSchema });

/** A height written in a path or a query string, as digits; every route parses heights with it. */
export const heightParam = z
  .string()
  .regex(/^\d{1,16}$/, 'expected a height: a whole number')
  .transform(Number)
  .pipe(heightSchema);

export const heightParamsSchema = z.strictObject({ queue: queueNameSchema, height: heightParam });

const limit = z
  .string()
  .regex(/^\d{1,5}$/, 'expected a whole number from 1 to 10000')
  .transform(Number)
  .pipe(z.number().int().min(1).max(10_000))
  .default(100);

export const gapsQuerySchema = z.strictObject({ limit });
export const failedQuerySchema = z.strictObject({ limit, after: heightParam.optional() });

/** Optional bounds of the dead letters to requeue; absent bounds mean "all". */
export const retryBodySchema = z
  .strictObject({ from: heightSchema.optional(), to: heightSchema.optional() })
  .refine((range) => (range.from ?? 0) <= (range.to ?? Number.MAX_SAFE_INTEGER), {
    message: 'from must not exceed to',
    params: { code: 'BR_ERR_RANGE_REVERSED' },
  })
  .optional()
  .nullable();

/** Any of the settings; the ones left out stay as they are. */
export const settingsBodySchema = queueSettingsSchema
  .partial()
  .strict()
  .refine((body) => Object.keys(body).length > 0, {
    message: 'give at least one of priority, rangeSize, ratePerSecond, maxInFlight',
  });

export const logLevelBodySchema = z.strictObject({ level: z.enum(LOG_LEVELS) });

// Answers. Fastify serializes through them (fields not listed are dropped) and /docs shows them,
// with each description as the answer's.

export const heightAnswerSchema = z
  .object({
    height: heightSchema,
    state: z.enum(HEIGHT_STATES),
    attempts: countSchema,
    lastError: z.string().nullable(),
  })
  .describe("One height's state");

export const gapsAnswerSchema = z
  .object({
    items: z.array(
      z.object({
        from: heightSchema,
        to: heightSchema,
        state: z.enum([...HEIGHT_STATES, 'missing']),
      }),
    ),
  })
  .describe('Ranges above the watermark that are not done, lowest first');

export const workerListSchema = z
  .object({
    workers: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        queues: z.array(z.string()).readonly(),
        capacity: countSchema,
        leased: countSchema,
        done: countSchema,
        failed: countSchema,
        connectedAt: z.string(),
      }),
    ),
  })
  .describe('Connected workers');

export const logLevelAnswerSchema = z
  .object({ level: z.enum(LOG_LEVELS), previous: z.string() })
  .describe('The level now, and the one before');

export const healthAnswerSchema = z
  .object({ status: z.literal('ok') })
  .describe('The process serves');

export const readyAnswerSchema = z
  .object({
    status: z.enum(['ready', 'not ready']),
    role: z.enum(MANAGER_ROLES),
  })
  .describe('Whether this manager leads and its last commit went through');

/** DELETE /v1/queues/:queue answers 204 with no body. */
export const queueDeletedSchema = z
  .null()
  .describe('The queue, its heights, history, source, hashes and reorganisations are gone');

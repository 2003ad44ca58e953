/** Request and response schemas of the HTTP API (DESIGN "HTTP API"); Fastify validates with them. */
import { z } from 'zod';
import { heightSchema, MAX_HEIGHTS_PER_FRAME, queueNameSchema } from '../shared/protocol.js';

/** Largest number of heights or ranges one request may list. */
export const MAX_LIST_LENGTH = MAX_HEIGHTS_PER_FRAME;

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
    heights: z.array(heightSchema).min(1).max(MAX_LIST_LENGTH).optional(),
    ranges: z.array(rangeSchema).min(1).max(MAX_LIST_LENGTH).optional(),
    force: z.boolean().optional(),
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

const heightParam = z
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

export const queueSummarySchema = z.object({
  queue: z.string(),
  pending: z.number(),
  leased: z.number(),
  retrying: z.number(),
  done: z.number(),
  failed: z.number(),
  watermark: z.number().nullable(),
  rate: z.number(),
});

export const heightStates = ['pending', 'leased', 'retrying', 'done', 'failed'] as const;

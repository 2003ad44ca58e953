/** Query schemas of the dashboard's routes (docs/dashboard.md); Fastify validates with them. */
import { z } from 'zod';
import { heightParam } from '../http/schemas.js';
import { MAP_STATES, type MapState } from './height-map.js';

/** Most buckets one map request may ask for: about a wide screen's width in pixels. */
export const MAX_MAP_BUCKETS = 2_000;
export const DEFAULT_MAP_BUCKETS = 500;

const bucketsQuery = z
  .string()
  .regex(/^\d{1,4}$/, `expected a whole number from 1 to ${MAX_MAP_BUCKETS}`)
  .transform(Number)
  .pipe(z.number().int().min(1).max(MAX_MAP_BUCKETS))
  .default(DEFAULT_MAP_BUCKETS);

/** from and to default to the queue's lowest and highest enqueued heights. */
export const mapQuerySchema = z
  .strictObject({ from: heightParam.optional(), to: heightParam.optional(), buckets: bucketsQuery })
  .refine((query) => query.from === undefined || query.to === undefined || query.from <= query.to, {
    message: 'from must not exceed to',
    path: ['to'],
    params: { code: 'BR_ERR_RANGE_REVERSED' },
  });

/**
 * EventSource cannot send headers, so /v1/events alone also takes the API token here.
 * Never logged: the dashboard routes log only warnings and errors, which carry no URL.
 */
export const eventsQuerySchema = z.strictObject({ token: z.string().max(1_000).optional() });

/** One optional count per state, in MAP_STATES order (the order of the answer's keys). */
const countsSchema = z.strictObject(
  Object.fromEntries(MAP_STATES.map((state) => [state, z.number().optional()])) as Record<
    MapState,
    z.ZodOptional<z.ZodNumber>
  >,
);

export const mapAnswerSchema = z.object({
  queue: z.string(),
  from: z.number(),
  to: z.number(),
  bucketSize: z.number().describe('heights per bucket; the last one may be shorter'),
  entries: z
    .array(
      z.object({
        from: z.number(),
        to: z.number(),
        state: z
          .enum([...MAP_STATES, 'mixed'])
          .describe('the one state of every height in the entry, or mixed'),
        counts: countsSchema.describe('heights per state; zero counts are left out'),
      }),
    )
    .describe('buckets in height order; neighbours holding one same state are merged'),
});

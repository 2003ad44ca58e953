/**
 * Request and response schemas of the chain routes (docs/api.md, docs/chains.md): sources,
 * pushed heads, reorganisations, pause and resume. Fastify validates with them and /docs shows
 * them.
 */
import { z } from 'zod';
import { countSchema, RPC_URL_PROTOCOLS, SOURCE_LIMITS } from '../../shared/api-schemas.js';
import { heightSchema, MAX_HASH_LENGTH } from '../../shared/protocol.js';
import { SOURCE_DEFAULTS } from '../chain/queue-chain.js';

/** The answers the CLI reads too (cli/follow.ts, cli/reorgs.ts) are defined once, in shared/. */
export { reorgListSchema, sourceAnswerSchema } from '../../shared/api-schemas.js';

const urlSchema = z
  .string()
  .max(2_000)
  .refine((value) => {
    try {
      return RPC_URL_PROTOCOLS.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, 'expected an http://, https://, ws:// or wss:// URL');

function bounded(field: keyof typeof SOURCE_LIMITS) {
  const { min, max } = SOURCE_LIMITS[field];
  return z.number().int().min(min).max(max);
}

/** PUT /v1/queues/:queue/source. Every field but kind (and url for evm) has a default. */
export const sourceBodySchema = z
  .strictObject({
    kind: z.enum(['evm', 'push']),
    url: urlSchema.optional(),
    from: heightSchema.default(SOURCE_DEFAULTS.from),
    confirmations: bounded('confirmations').default(SOURCE_DEFAULTS.confirmations),
    finality: bounded('finality').default(SOURCE_DEFAULTS.finality),
    pollMs: bounded('pollMs').default(SOURCE_DEFAULTS.pollMs),
  })
  .superRefine((body, ctx) => {
    if (body.kind === 'evm' && body.url === undefined)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'an evm source needs its url' });
    if (body.kind === 'push' && body.url !== undefined)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'a push source has no url' });
  });

/** POST /v1/queues/:queue/head: a head for a chain that has no evm source. */
export const headBodySchema = z.strictObject({
  height: heightSchema,
  hash: z.string().min(1).max(MAX_HASH_LENGTH),
});

export const headAnswerSchema = z
  .object({ added: countSchema })
  .describe('Heights the head made ready and enqueued');

export const reorgsQuerySchema = z.strictObject({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'expected a whole number from 1 to 1000')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1_000))
    .default(100),
});

export const pauseBodySchema = z
  .strictObject({ reason: z.string().min(1).max(500).optional() })
  .optional()
  .nullable();

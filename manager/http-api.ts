/**
 * The HTTP API (DESIGN "HTTP API"): routes validated by the zod schemas in http-schemas.ts.
 * Queue routes answer 503 BR_ERR_NOT_READY until this manager leads.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errors } from './errors.js';
import {
  enqueueBodySchema,
  failedQuerySchema,
  gapsQuerySchema,
  heightParamsSchema,
  queueParamsSchema,
  retryBodySchema,
} from './http-schemas.js';
import type { ManagerState } from './manager-state.js';
import { renderMetrics } from './metrics.js';
import { rangeSetOf } from './queue-service.js';

export function tokenMatches(header: string | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function registerRoutes(
  app: FastifyInstance,
  state: ManagerState,
  apiToken: string | undefined,
): void {
  // Request lines are logged at info; probes and API calls come often, so only warnings show.
  const quiet = { logLevel: 'warn' } as const;
  app.get('/healthz', quiet, async () => ({ status: 'ok' }));
  app.get('/readyz', quiet, async (_request, reply) => {
    const ready = state.isReady();
    reply.status(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not ready', role: state.role };
  });
  app.get('/metrics', quiet, async (_request, reply) => {
    reply.type('text/plain; version=0.0.4');
    return renderMetrics(state);
  });

  app.register(
    async (v1) => {
      v1.addHook('onRequest', async (request) => {
        if (apiToken !== undefined && !tokenMatches(request.headers.authorization, apiToken)) {
          throw new errors.BR_ERR_UNAUTHORIZED();
        }
        if (!state.service) throw new errors.BR_ERR_NOT_READY();
      });
      const routes = v1.withTypeProvider<ZodTypeProvider>();
      const service = () => state.service as NonNullable<typeof state.service>;

      routes.post(
        '/queues/:queue/heights',
        { schema: { params: queueParamsSchema, body: enqueueBodySchema } },
        async (request, reply) => {
          const body = request.body;
          const ranges = body.ranges ??
            body.heights?.map((height) => ({ from: height, to: height })) ?? [
              { from: body.from as number, to: body.to as number },
            ];
          const result = await service().enqueue(
            request.params.queue,
            rangeSetOf(ranges),
            body.force ?? false,
          );
          reply.status(202);
          return result;
        },
      );

      routes.get('/queues', async () => ({ queues: service().summaries() }));

      routes.get('/queues/:queue', { schema: { params: queueParamsSchema } }, async (request) => {
        const summary = service().summary(request.params.queue);
        if (!summary) throw new errors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
        return summary;
      });

      routes.get(
        '/queues/:queue/heights/:height',
        { schema: { params: heightParamsSchema } },
        async (request) => {
          const { queue, height } = request.params;
          const found = service().heightState(queue, height);
          if (!found) {
            if (!service().summary(queue)) throw new errors.BR_ERR_QUEUE_NOT_FOUND(queue);
            throw new errors.BR_ERR_HEIGHT_NOT_FOUND(height, queue);
          }
          return found;
        },
      );

      routes.get(
        '/queues/:queue/gaps',
        { schema: { params: queueParamsSchema, querystring: gapsQuerySchema } },
        async (request) => {
          const items = service().gaps(request.params.queue, request.query.limit);
          if (!items) throw new errors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
          return { items };
        },
      );

      routes.get(
        '/queues/:queue/failed',
        { schema: { params: queueParamsSchema, querystring: failedQuerySchema } },
        async (request) => {
          const page = service().failed(
            request.params.queue,
            request.query.limit,
            request.query.after,
          );
          if (!page) throw new errors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
          return page;
        },
      );

      routes.post(
        '/queues/:queue/failed/retry',
        { schema: { params: queueParamsSchema, body: retryBodySchema } },
        async (request) => {
          const from = request.body?.from ?? 0;
          const to = request.body?.to ?? Number.MAX_SAFE_INTEGER;
          const result = await service().retryFailed(request.params.queue, from, to);
          if (!result) throw new errors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
          return result;
        },
      );

      routes.get('/workers', async () => ({ workers: state.workerList() }));
    },
    { prefix: '/v1', ...quiet },
  );
}

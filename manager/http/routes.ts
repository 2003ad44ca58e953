/**
 * The HTTP API (docs/api.md): routes validated by the zod schemas in schemas.ts and
 * shared/api-schemas.ts, which also make the OpenAPI document at /docs (openapi.ts). Every /v1 route checks the API
 * token; queue routes answer 503 BR_ERR_NOT_READY until this manager leads.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  enqueueAnswerSchema,
  failedPageSchema,
  queueListSchema,
  queueSummarySchema,
  retryAnswerSchema,
} from '../../shared/api-schemas.js';
import { httpErrors } from '../../shared/errors.js';
import { RangeSet } from '../../shared/range-set.js';
import { registerDashboardRoutes } from '../dashboard/routes.js';
import { rangeSetOf } from '../queue/queue-service.js';
import type { Leader, ManagerStatus } from '../role.js';
import type { ManagerMetrics } from '../status/metrics.js';
import { registerChainRoutes } from './chain-routes.js';
import { setLogLevel } from './log-level.js';
import { registerOpenApi } from './openapi.js';
import {
  enqueueBodySchema,
  failedQuerySchema,
  gapsAnswerSchema,
  gapsQuerySchema,
  healthAnswerSchema,
  heightAnswerSchema,
  heightParamsSchema,
  logLevelAnswerSchema,
  logLevelBodySchema,
  queueDeletedSchema,
  queueParamsSchema,
  readyAnswerSchema,
  retryBodySchema,
  workerListSchema,
} from './schemas.js';
import { registerSettingsRoutes } from './settings-routes.js';
import { tokenMatches } from './tokens.js';

export interface RouteDependencies {
  status: ManagerStatus;
  metrics: ManagerMetrics;
  /** BLOCKRUNNER_API_TOKEN; undefined leaves the routes open. */
  apiToken: string | undefined;
}

export function registerRoutes(app: FastifyInstance, deps: RouteDependencies): void {
  const { status, metrics, apiToken } = deps;
  // Request lines are logged at info; probes and API calls come often, so only warnings show.
  const quiet = { logLevel: 'warn' } as const;
  // The manager's own logger (request loggers of quiet routes stay at warn whatever the level).
  const log = app.log;
  registerOpenApi(app);

  // Every route is added inside a plugin so that the OpenAPI plugin, loaded first, sees it.
  app.register(async (root) => {
    const probes = root.withTypeProvider<ZodTypeProvider>();
    const probe = (summary: string) => ({ tags: ['probes'], summary });
    probes.get(
      '/healthz',
      {
        ...quiet,
        schema: { ...probe('200 while the process serves'), response: { 200: healthAnswerSchema } },
      },
      async () => ({ status: 'ok' as const }),
    );
    probes.get(
      '/readyz',
      {
        ...quiet,
        schema: {
          ...probe('200 when this manager leads and its last commit went through; 503 otherwise'),
          response: { 200: readyAnswerSchema, 503: readyAnswerSchema },
        },
      },
      async (_request, reply) => {
        const ready = status.isReady();
        reply.status(ready ? 200 : 503);
        return { status: ready ? ('ready' as const) : ('not ready' as const), role: status.role };
      },
    );
    probes.get(
      '/metrics',
      {
        ...quiet,
        schema: {
          ...probe('Prometheus text format (docs/observability.md lists the metrics)'),
          response: {
            200: {
              description: 'Prometheus text exposition format 0.0.4',
              content: { 'text/plain': { schema: z.string() } },
            },
          },
        },
      },
      async (_request, reply) => {
        reply.type(metrics.contentType);
        return metrics.render();
      },
    );
  });

  app.register(
    async (v1) => {
      v1.addHook('onRequest', async (request) => {
        if (apiToken !== undefined && !tokenMatches(request.headers.authorization, apiToken)) {
          throw new httpErrors.BR_ERR_UNAUTHORIZED();
        }
      });

      // Admin routes work on a standby too: only the token is checked.
      v1.withTypeProvider<ZodTypeProvider>().put(
        '/admin/log-level',
        {
          schema: {
            tags: ['admin'],
            summary: "Changes the manager's log level until it stops (LOG_LEVEL sets it at start)",
            body: logLevelBodySchema,
            response: { 200: logLevelAnswerSchema },
          },
        },
        async (request) => {
          const { level } = request.body;
          const previous = setLogLevel(log, level);
          // Not `level`: pino writes the line's own level under that key.
          log.info({ logLevel: level, previousLogLevel: previous }, 'log level changed');
          return { level, previous };
        },
      );

      v1.register(registerQueueRoutes(status, log));
    },
    { prefix: '/v1', ...quiet },
  );
  registerDashboardRoutes(app, status, apiToken);
}

/** The /v1 routes that need the queues: 503 BR_ERR_NOT_READY until this manager leads. */
function registerQueueRoutes(status: ManagerStatus, log: FastifyBaseLogger) {
  return async (v1: FastifyInstance) => {
    v1.addHook('onRequest', async () => {
      if (!status.leader) throw new httpErrors.BR_ERR_NOT_READY();
    });
    const routes = v1.withTypeProvider<ZodTypeProvider>();
    // The hook above has checked that this manager leads.
    const service = () => (status.leader as Leader).service;
    const tags = ['queues'];
    const deadLetters = ['dead letters'];
    registerChainRoutes(v1, () => status.leader as Leader);
    registerSettingsRoutes(v1, () => status.leader as Leader);

    routes.post(
      '/queues/:queue/heights',
      {
        schema: {
          tags,
          summary: 'Adds heights to a queue; answers once committed',
          params: queueParamsSchema,
          body: enqueueBodySchema,
          response: { 202: enqueueAnswerSchema },
        },
      },
      async (request, reply) => {
        const body = request.body;
        // A list of heights goes straight into a set: no object and pair per height.
        const heights = body.heights
          ? RangeSet.ofHeights(body.heights)
          : rangeSetOf(body.ranges ?? [{ from: body.from as number, to: body.to as number }]);
        // Heights redone by force report their hashes again: the old ones must not conflict.
        if (body.force)
          (status.leader as Leader).chains.forgetHashes(request.params.queue, heights);
        const result = await service().enqueue(
          request.params.queue,
          heights,
          body.force ?? false,
          body.lane ?? 'backfill',
        );
        log.debug({ ...result, force: body.force ?? false }, 'heights enqueued');
        reply.status(202);
        return result;
      },
    );

    routes.get(
      '/queues',
      {
        schema: {
          tags,
          summary: 'Every queue with its counts',
          response: { 200: queueListSchema },
        },
      },
      async () => ({ queues: service().summaries() }),
    );

    routes.get(
      '/queues/:queue',
      {
        schema: {
          tags,
          summary: 'Counts per state, watermark and rate of one queue',
          params: queueParamsSchema,
          response: { 200: queueSummarySchema },
        },
      },
      async (request) => {
        const summary = service().summary(request.params.queue);
        if (!summary) throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
        return summary;
      },
    );

    routes.delete(
      '/queues/:queue',
      {
        schema: {
          tags,
          summary:
            'Deletes a queue: its heights, history, source, hashes and reorganisations; cancels its leases',
          params: queueParamsSchema,
          response: { 204: queueDeletedSchema },
        },
      },
      async (request, reply) => {
        const { queue } = request.params;
        // The chain stage stops the queue's source first, then the queue service deletes it.
        if (!(await (status.leader as Leader).chains.deleteQueue(queue)))
          throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(queue);
        reply.status(204).send(null);
      },
    );

    routes.get(
      '/queues/:queue/heights/:height',
      {
        schema: {
          tags,
          summary: 'State, attempts and last error of one height',
          params: heightParamsSchema,
          response: { 200: heightAnswerSchema },
        },
      },
      async (request) => {
        const { queue, height } = request.params;
        const found = service().heightState(queue, height);
        if (!found) {
          if (!service().summary(queue)) throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(queue);
          throw new httpErrors.BR_ERR_HEIGHT_NOT_FOUND(height, queue);
        }
        return found;
      },
    );

    routes.get(
      '/queues/:queue/gaps',
      {
        schema: {
          tags,
          summary: 'What lies between the watermark and the highest enqueued height, not done',
          params: queueParamsSchema,
          querystring: gapsQuerySchema,
          response: { 200: gapsAnswerSchema },
        },
      },
      async (request) => {
        const items = service().gaps(request.params.queue, request.query.limit);
        if (!items) throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
        return { items };
      },
    );

    routes.get(
      '/queues/:queue/failed',
      {
        schema: {
          tags: deadLetters,
          summary: 'Dead letters in height order, a page at a time',
          params: queueParamsSchema,
          querystring: failedQuerySchema,
          response: { 200: failedPageSchema },
        },
      },
      async (request) => {
        const page = service().failed(
          request.params.queue,
          request.query.limit,
          request.query.after,
        );
        if (!page) throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
        return page;
      },
    );

    routes.post(
      '/queues/:queue/failed/retry',
      {
        schema: {
          tags: deadLetters,
          summary: 'Requeues dead letters (all, or those from..to) with a fresh attempt count',
          params: queueParamsSchema,
          body: retryBodySchema,
          response: { 200: retryAnswerSchema },
        },
      },
      async (request) => {
        const from = request.body?.from ?? 0;
        const to = request.body?.to ?? Number.MAX_SAFE_INTEGER;
        const result = await service().retryFailed(request.params.queue, from, to);
        if (!result) throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
        return result;
      },
    );

    routes.get(
      '/workers',
      {
        schema: {
          tags: ['workers'],
          summary: 'Workers connected now, with what they hold and have done',
          response: { 200: workerListSchema },
        },
      },
      async () => ({ workers: status.workerList() }),
    );
  };
}

/**
 * The /v1 routes of the chain stage (docs/api.md, docs/chains.md): a queue's source, pushed
 * heads, its reorganisations, and pause and resume. Registered inside the queue routes, so they
 * answer 503 BR_ERR_NOT_READY until this manager leads.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { queueSummarySchema } from '../../shared/api-schemas.js';
import { httpErrors } from '../../shared/errors.js';
import type { ReorgRecord } from '../chain/chain-types.js';
import type { Leader } from '../role.js';
import {
  headAnswerSchema,
  headBodySchema,
  pauseBodySchema,
  reorgListSchema,
  reorgsQuerySchema,
  sourceAnswerSchema,
  sourceBodySchema,
} from './chain-schemas.js';
import { queueParamsSchema } from './schemas.js';

const OPERATOR_PAUSE = 'paused by an operator';

export function registerChainRoutes(v1: FastifyInstance, leader: () => Leader): void {
  const routes = v1.withTypeProvider<ZodTypeProvider>();
  const tags = ['chains'];
  const summaryOf = (queue: string) => {
    const summary = leader().service.summary(queue);
    if (!summary) throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(queue);
    return summary;
  };

  routes.put(
    '/queues/:queue/source',
    {
      schema: {
        tags,
        summary: "Follows a chain's head: sets (or replaces) the queue's source; creates the queue",
        params: queueParamsSchema,
        body: sourceBodySchema,
        response: { 200: sourceAnswerSchema },
      },
    },
    async (request) => leader().chains.setSource(request.params.queue, request.body),
  );

  routes.get(
    '/queues/:queue/source',
    {
      schema: {
        tags,
        summary: "The queue's source with its head, lag and state",
        params: queueParamsSchema,
        response: { 200: sourceAnswerSchema },
      },
    },
    async (request) => {
      const view = leader().chains.source(request.params.queue);
      if (!view) throw new httpErrors.BR_ERR_SOURCE_NOT_FOUND(request.params.queue);
      return view;
    },
  );

  routes.delete(
    '/queues/:queue/source',
    {
      schema: {
        tags,
        summary: 'Stops following; what was enqueued stays',
        params: queueParamsSchema,
      },
    },
    async (request, reply) => {
      if (!(await leader().chains.deleteSource(request.params.queue)))
        throw new httpErrors.BR_ERR_SOURCE_NOT_FOUND(request.params.queue);
      reply.status(204).send();
    },
  );

  routes.post(
    '/queues/:queue/head',
    {
      schema: {
        tags,
        summary:
          'A new head for a chain without an evm source: enqueues up to head - confirmations',
        params: queueParamsSchema,
        body: headBodySchema,
        response: { 202: headAnswerSchema },
      },
    },
    async (request, reply) => {
      const answer = await leader().chains.pushHead(request.params.queue, request.body);
      reply.status(202);
      return answer;
    },
  );

  routes.get(
    '/queues/:queue/reorgs',
    {
      schema: {
        tags,
        summary: 'Reorganisations of the queue, newest first',
        params: queueParamsSchema,
        querystring: reorgsQuerySchema,
        response: { 200: reorgListSchema },
      },
    },
    async (request) => {
      const records = leader().chains.reorgList(request.params.queue, request.query.limit);
      if (!records) throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
      return { items: records.map(reorgAnswer) };
    },
  );

  routes.post(
    '/queues/:queue/pause',
    {
      schema: {
        tags: ['queues'],
        summary: 'Stops handing out heights of the queue until resumed (persisted)',
        params: queueParamsSchema,
        body: pauseBodySchema,
        response: { 200: queueSummarySchema },
      },
    },
    async (request) => {
      const { queue } = request.params;
      if (!(await leader().service.pause(queue, request.body?.reason ?? OPERATOR_PAUSE)))
        throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(queue);
      return summaryOf(queue);
    },
  );

  routes.post(
    '/queues/:queue/resume',
    {
      schema: {
        tags: ['queues'],
        summary:
          'Hands out heights again; after a deep reorganisation, trusts the chain as it is now',
        params: queueParamsSchema,
        response: { 200: queueSummarySchema },
      },
    },
    async (request) => {
      const { queue } = request.params;
      leader().chains.resumed(queue);
      if (!(await leader().service.resume(queue)))
        throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(queue);
      return summaryOf(queue);
    },
  );
}

function reorgAnswer(record: ReorgRecord) {
  return {
    ...record,
    detectedAt: record.detectedAt.toISOString(),
    revertedAt: record.revertedAt?.toISOString() ?? null,
  };
}

/**
 * A queue's throughput settings (docs/api.md, "Queue settings"): priority, rangeSize,
 * ratePerSecond, maxInFlight. Registered inside the queue routes, so they answer 503
 * BR_ERR_NOT_READY until this manager leads.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { queueSettingsSchema } from '../../shared/api-schemas.js';
import { httpErrors } from '../../shared/errors.js';
import type { Leader } from '../role.js';
import { queueParamsSchema, settingsBodySchema } from './schemas.js';

export function registerSettingsRoutes(v1: FastifyInstance, leader: () => Leader): void {
  const routes = v1.withTypeProvider<ZodTypeProvider>();
  const tags = ['queues'];

  routes.put(
    '/queues/:queue/settings',
    {
      schema: {
        tags,
        summary: "Changes some of a queue's settings (the others stay); creates the queue",
        params: queueParamsSchema,
        body: settingsBodySchema,
        response: { 200: queueSettingsSchema },
      },
    },
    async (request) => leader().service.updateSettings(request.params.queue, request.body),
  );

  routes.get(
    '/queues/:queue/settings',
    {
      schema: {
        tags,
        summary: "A queue's settings",
        params: queueParamsSchema,
        response: { 200: queueSettingsSchema },
      },
    },
    async (request) => {
      const settings = leader().service.settings(request.params.queue);
      if (!settings) throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
      return settings;
    },
  );
}

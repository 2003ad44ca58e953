/**
 * The dashboard (docs/dashboard.md): the page at `/` and its files under /dashboard/ (no
 * token: they hold no data), and two token-protected JSON routes under /v1: the height map of
 * a queue and a Server-Sent Events stream of summaries and workers.
 */
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { httpErrors } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { packageRoot } from '../../shared/package-root.js';
import { queueParamsSchema } from '../http/schemas.js';
import { tokenMatches } from '../http/tokens.js';
import type { QueueState, QueueSummary } from '../queue/queue-state.js';
import type { ManagerStatus } from '../role.js';
import { EventStream } from './event-stream.js';
import { type HeightMap, heightMap, spanOf } from './height-map.js';
import { eventsQuerySchema, mapAnswerSchema, mapQuerySchema } from './schemas.js';

/** How often /v1/events pushes a snapshot. */
export const EVENTS_INTERVAL_MS = 1_000;

/** The page loads only its own files: no CDN, no inline script. */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/**
 * Buckets of the whole-span height map each snapshot carries per queue: about a wide strip's
 * width in pixels; about 86 kB of JSON for a queue whose every bucket is mixed (a million
 * isolated heights).
 */
export const SNAPSHOT_MAP_BUCKETS = 1_000;

/**
 * What /v1/events sends each tick. Each queue's summary and its whole-span height map are read
 * in the same turn, so the progress bar, the counts and the strip tell the same moment.
 */
export function dashboardSnapshot(status: ManagerStatus, lastMaps: LastMaps) {
  const queues = status.leader ? [...status.leader.queues.values()] : [];
  const summaries: QueueSummary[] = [];
  const maps: Record<string, HeightMap> = {};
  for (const queue of queues) {
    const summary = queue.summary();
    summaries.push(summary);
    maps[queue.name] = wholeMap(queue, summary, lastMaps);
  }
  return {
    role: status.role,
    at: Date.now(),
    queues: summaries,
    maps,
    workers: status.workerList(),
  };
}

/** The last whole-span map of each queue, with the counts it was made at (one per event stream). */
export type LastMaps = WeakMap<QueueState, { key: string; map: HeightMap }>;

/**
 * The queue's whole-span map, made again only when its counts or its span changed: every move
 * of a height changes at least two counts, and a sparse queue of a million isolated heights
 * takes tens of milliseconds to map, so an idle queue costs nothing per tick.
 */
function wholeMap(queue: QueueState, summary: QueueSummary, lastMaps: LastMaps): HeightMap {
  const { from, to } = spanOf(queue);
  const { done, pending, leased, retrying, failed } = summary;
  const key = `${from}/${to}/${done}/${pending}/${leased}/${retrying}/${failed}`;
  const last = lastMaps.get(queue);
  if (last?.key === key) return last.map;
  const map = heightMap(queue, from, to, SNAPSHOT_MAP_BUCKETS);
  lastMaps.set(queue, { key, map });
  return map;
}

export function registerDashboardRoutes(
  app: FastifyInstance,
  status: ManagerStatus,
  apiToken: string | undefined,
): void {
  // Served from the sources (found from dist/ too), so the build copies nothing.
  const root = join(packageRoot(), 'manager', 'dashboard', 'public');
  app.register(
    async (page) => {
      await page.register(fastifyStatic, { root, prefix: '/dashboard/', wildcard: false });
      page.get('/', { schema: { hide: true } }, async (_request, reply) =>
        reply
          .header('content-security-policy', CONTENT_SECURITY_POLICY)
          .header('cache-control', 'no-cache')
          .sendFile('index.html'),
      );
    },
    { logLevel: 'warn' },
  );

  const lastMaps: LastMaps = new WeakMap();
  const events = new EventStream({
    snapshot: () => dashboardSnapshot(status, lastMaps),
    intervalMs: EVENTS_INTERVAL_MS,
    log: app.log as Logger,
  });
  // Open streams would keep the server from closing: end them first.
  app.addHook('preClose', async () => events.close());

  const authorized = (request: FastifyRequest, queryToken?: string) =>
    apiToken === undefined ||
    tokenMatches(request.headers.authorization, apiToken) ||
    (queryToken !== undefined && tokenMatches(`Bearer ${queryToken}`, apiToken));

  app.register(
    async (v1) => {
      // Before validation, as for the other /v1 routes: no answer says anything without the token.
      v1.addHook('onRequest', async (request) => {
        const query = request.query as Record<string, unknown>;
        const token = request.routeOptions.url === '/v1/events' ? query.token : undefined;
        if (!authorized(request, typeof token === 'string' ? token : undefined)) {
          throw new httpErrors.BR_ERR_UNAUTHORIZED();
        }
      });
      const routes = v1.withTypeProvider<ZodTypeProvider>();
      const tags = ['dashboard'];
      routes.get(
        '/events',
        {
          schema: {
            tags,
            summary: 'Server-Sent Events: every queue summary and the workers, once a second',
            querystring: eventsQuerySchema,
            response: {
              200: {
                description:
                  'text/event-stream; each `data:` line is {role, at, queues, maps, workers}: the queue summaries and their whole-span height maps, read at the same moment',
                content: { 'text/event-stream': { schema: z.string() } },
              },
            },
          },
        },
        async (_request, reply) => {
          // Answers while standby too: the snapshot's role tells the page why it is empty.
          reply.hijack();
          events.add(reply.raw);
        },
      );

      routes.get(
        '/queues/:queue/map',
        {
          schema: {
            tags,
            summary:
              "A queue's heights over a span in at most `buckets` buckets, counted per state",
            params: queueParamsSchema,
            querystring: mapQuerySchema,
            response: { 200: mapAnswerSchema },
          },
        },
        async (request) => {
          const leader = status.leader;
          if (!leader) throw new httpErrors.BR_ERR_NOT_READY();
          const queue = leader.queues.get(request.params.queue);
          if (!queue) throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND(request.params.queue);
          // A missing bound is the enqueued one, moved if need be to keep from <= to.
          const { from, to } = spanOf(queue, request.query.from, request.query.to);
          return { queue: queue.name, ...heightMap(queue, from, to, request.query.buckets) };
        },
      );
    },
    { prefix: '/v1', logLevel: 'warn' },
  );
}

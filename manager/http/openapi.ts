/**
 * The OpenAPI document of the HTTP API, generated from the zod schemas the routes validate
 * with (schemas.ts, shared/api-schemas.ts), at /docs/json, and Swagger UI at /docs (its files ship in
 * @fastify/swagger-ui: no network needed). Must be registered before the routes: it collects
 * them as they are added.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorAnswerSchema } from '../../shared/api-schemas.js';
import { packageRoot } from '../../shared/package-root.js';

export const DOCS_PREFIX = '/docs';

const DESCRIPTION = `Blockrunner hands block heights to indexing workers. Every error answers in Fastify's shape
with a stable \`code\` (see docs/api.md). When BLOCKRUNNER_API_TOKEN is set, every /v1 route needs
\`Authorization: Bearer <token>\`. Workers connect over the WebSocket at /v1/ws (docs/protocol.md).`;

function packageVersion(): string {
  const text = readFileSync(join(packageRoot(), 'package.json'), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** The error shape as JSON Schema, from the same zod schema. */
function errorResponse(description: string) {
  const { $schema: _, ...schema } = z.toJSONSchema(errorAnswerSchema);
  return { description, ...schema };
}

export function registerOpenApi(app: FastifyInstance): void {
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Blockrunner manager', version: packageVersion(), description: DESCRIPTION },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'BLOCKRUNNER_API_TOKEN, when the manager has one',
          },
        },
      },
      tags: [
        { name: 'queues', description: 'Enqueue heights and follow their progress' },
        { name: 'dead letters', description: 'Heights that failed every attempt' },
        { name: 'workers', description: 'Connected workers' },
        { name: 'admin', description: 'Operating the manager' },
        { name: 'probes', description: 'Health, readiness and metrics, never behind a token' },
      ],
    },
    transform: (document) => {
      const { schema, url } = jsonSchemaTransform(document);
      if (!url.startsWith('/v1/') || !schema || (schema as { hide?: boolean }).hide) {
        return { schema, url };
      }
      // Every /v1 route shares the token and the error answers; said once here.
      const response = { ...(schema.response as Record<string, unknown> | undefined) };
      response['4XX'] = errorResponse('Bad input, bad token or not found; `code` says which');
      if (!url.startsWith('/v1/admin/'))
        response['503'] = errorResponse('BR_ERR_NOT_READY: this manager is not leading');
      return { schema: { ...schema, response, security: [{ bearerAuth: [] }] }, url };
    },
  });
  app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
}

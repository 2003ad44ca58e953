/**
 * The OpenAPI document a real manager serves at /docs/json: valid by @apidevtools/swagger-parser,
 * made from the routes' own zod schemas, and in step with docs/ both ways. /docs serves
 * Swagger UI from the package's own files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { type ManagerProcess, startManager, stopAll } from '../../helpers/processes.js';

const TOKEN = 'openapi-test-token';
const METHODS = ['get', 'post', 'put', 'delete', 'patch'] as const;

type Operation = {
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
  parameters?: { in: string; name: string }[];
};
type Document = {
  openapi: string;
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
};

let db: TestDatabase;
let manager: ManagerProcess;
let spec: Document;

beforeAll(async () => {
  db = await createTestDatabase();
  manager = await startManager({ databaseUrl: db.url, env: { BLOCKRUNNER_API_TOKEN: TOKEN } });
  // The document is public like /healthz: it describes the API, it holds no queue data.
  const response = await fetch(`${manager.url}/docs/json`);
  expect(response.status).toBe(200);
  spec = (await response.json()) as Document;
});

afterAll(async () => {
  await stopAll();
  await db?.drop();
});

/** `METHOD /path` of every row of the route table in docs/api.md, `:name` as `{name}`. */
function documentedRoutes(): string[] {
  const doc = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');
  return [...doc.matchAll(/^\| `(GET|POST|PUT|DELETE|PATCH) (\/[^`\s]*)` \|/gm)].map(
    (match) => `${match[1]} ${(match[2] as string).replace(/:(\w+)/g, '{$1}')}`,
  );
}

function specRoutes(): string[] {
  return Object.entries(spec.paths).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

function operation(route: string): Operation {
  const [method, path] = route.split(' ') as [string, string];
  const found = spec.paths[path]?.[method.toLowerCase() as (typeof METHODS)[number]];
  if (!found) throw new Error(`${route} is not in the document`);
  return found;
}

describe('OpenAPI at /docs/json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(spec.openapi).toBe('3.1.0');
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(spec) as never)).resolves.toBeDefined();
  });

  it('has every route of docs/api.md', () => {
    const documented = documentedRoutes();
    expect(documented.length).toBeGreaterThanOrEqual(12);
    const served = specRoutes();
    expect(documented.filter((route) => !served.includes(route))).toEqual([]);
  });

  it('has no route that docs/ does not describe', () => {
    // docs/api.md holds the table; a part with its own page (the dashboard) may document there.
    const docs = readdirSync(new URL('../../../docs/', import.meta.url))
      .filter((name) => name.endsWith('.md'))
      .map((name) => readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8'))
      .join('\n');
    const undocumented = specRoutes().filter((route) => {
      const written = route.replace(/\{(\w+)\}/g, ':$1');
      return !docs.includes(`\`${written}\``) && !docs.includes(`\`${written}?`);
    });
    expect(undocumented).toEqual([]);
  });

  it('carries the zod schemas the routes validate with', () => {
    const enqueue = operation('POST /v1/queues/{queue}/heights');
    const body = enqueue.requestBody?.content['application/json']?.schema as {
      properties: Record<string, unknown>;
      additionalProperties: boolean;
    };
    expect(Object.keys(body.properties).sort()).toEqual([
      'force',
      'from',
      'heights',
      'lane',
      'ranges',
      'to',
    ]);
    expect(body.additionalProperties).toBe(false);
    expect(enqueue.parameters).toContainEqual(
      expect.objectContaining({ in: 'path', name: 'queue' }),
    );
    const summary = operation('GET /v1/queues/{queue}').responses['200']?.content?.[
      'application/json'
    ]?.schema as { required: string[] };
    expect(summary.required.sort()).toEqual(
      [
        'done',
        'failed',
        'leased',
        'pending',
        'queue',
        'rate',
        'retrying',
        'state',
        'watermark',
      ].sort(),
    );
    const logLevel = operation('PUT /v1/admin/log-level').requestBody?.content['application/json']
      ?.schema as { properties: { level: { enum: string[] } } };
    expect(logLevel.properties.level.enum).toContain('debug');
  });

  it('marks /v1 routes as needing the bearer token, and only them', () => {
    for (const route of specRoutes()) {
      const secured = operation(route).security?.some((entry) => 'bearerAuth' in entry) ?? false;
      expect({ route, secured }).toEqual({ route, secured: route.includes(' /v1/') });
      if (secured) expect(Object.keys(operation(route).responses)).toContain('4XX');
    }
  });

  it('serves Swagger UI at /docs from its own files', async () => {
    const page = await fetch(`${manager.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('swagger-ui');
    // No CDN: every script and stylesheet comes from this manager.
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      expect(asset).toMatch(/^(\.\/|\/docs\/)/);
      const response = await fetch(new URL(asset, `${manager.url}/docs/`));
      expect({ asset, status: response.status }).toEqual({ asset, status: 200 });
      await response.arrayBuffer();
    }
  });
});

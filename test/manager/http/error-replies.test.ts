/**
 * The error handler through app.inject(): every error, Fastify's own included, answers with a
 * code of the catalogue and that code's one status (docs/api.md, "Errors").
 */
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BODY_LIMIT_BYTES,
  frameworkErrors,
  installErrorHandling,
} from '../../../manager/http/error-replies.js';
import { type HttpErrorCode, httpErrors } from '../../../shared/errors.js';

let app: FastifyInstance;

/** An error as a plugin makes it: a status, and a code that is not Fastify's nor ours. */
function foreignError(statusCode: number, code?: string): Error {
  return Object.assign(new Error(`refused with ${statusCode}`), { statusCode, code });
}

beforeAll(async () => {
  app = Fastify({ logger: false, bodyLimit: BODY_LIMIT_BYTES, frameworkErrors });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(app);
  const routes = app.withTypeProvider<ZodTypeProvider>();
  routes.post(
    '/items/:name',
    { schema: { params: z.object({ name: z.string() }), body: z.object({ n: z.number() }) } },
    async () => ({ ok: true }),
  );
  routes.get('/throws/:kind', async (request) => {
    const { kind } = request.params as { kind: string };
    if (kind === 'ours') throw new httpErrors.BR_ERR_QUEUE_NOT_FOUND('q');
    if (kind === 'range') throw foreignError(416);
    if (kind === 'forbidden') throw foreignError(403, 'EFORBIDDEN');
    if (kind === 'teapot') throw foreignError(418, 'FST_ERR_SOMETHING_NEW');
    if (kind === 'unavailable') throw foreignError(503);
    throw new Error('secret internals');
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
});

const json = { 'content-type': 'application/json' };

describe('error answers', () => {
  it.each<[string, InjectOptions, HttpErrorCode]>([
    [
      'a body breaking the schema',
      { method: 'POST', url: '/items/a', headers: json, payload: '{"n":"x"}' },
      'BR_ERR_VALIDATION',
    ],
    [
      'broken JSON',
      { method: 'POST', url: '/items/a', headers: json, payload: '{"n":' },
      'BR_ERR_INVALID_JSON',
    ],
    [
      'an empty JSON body',
      { method: 'POST', url: '/items/a', headers: json, payload: '' },
      'BR_ERR_INVALID_JSON',
    ],
    [
      'a body shorter than its Content-Length',
      {
        method: 'POST',
        url: '/items/a',
        headers: { ...json, 'content-length': '50' },
        payload: '{"n":1}',
      },
      'BR_ERR_INVALID_CONTENT_LENGTH',
    ],
    [
      'a body over the limit',
      {
        method: 'POST',
        url: '/items/a',
        headers: json,
        payload: `{"n":1,"pad":"${'x'.repeat(BODY_LIMIT_BYTES)}"}`,
      },
      'BR_ERR_BODY_TOO_LARGE',
    ],
    [
      'a form body',
      {
        method: 'POST',
        url: '/items/a',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'n=1',
      },
      'BR_ERR_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['a malformed percent-encoding', { method: 'POST', url: '/items/%zz' }, 'BR_ERR_BAD_URL'],
    [
      'a path parameter over 100 characters',
      { method: 'POST', url: `/items/${'a'.repeat(101)}` },
      'BR_ERR_PARAM_TOO_LONG',
    ],
    ['an unknown route', { method: 'GET', url: '/nowhere?x=1' }, 'BR_ERR_ROUTE_NOT_FOUND'],
    ['one of ours, thrown', { method: 'GET', url: '/throws/ours' }, 'BR_ERR_QUEUE_NOT_FOUND'],
    ["a plugin's 416", { method: 'GET', url: '/throws/range' }, 'BR_ERR_BAD_REQUEST'],
    ["a plugin's 403", { method: 'GET', url: '/throws/forbidden' }, 'BR_ERR_BAD_REQUEST'],
    ['an unknown FST_ERR_ 4xx', { method: 'GET', url: '/throws/teapot' }, 'BR_ERR_BAD_REQUEST'],
    ["a plugin's 503", { method: 'GET', url: '/throws/unavailable' }, 'BR_ERR_INTERNAL'],
    ['an unexpected error', { method: 'GET', url: '/throws/bug' }, 'BR_ERR_INTERNAL'],
  ])('%s is answered with its code and that code’s status', async (_, request, code) => {
    const answer = await app.inject(request);
    const status = new httpErrors[code]('x', 'y').statusCode as number;
    expect(answer.statusCode).toBe(status);
    expect(answer.json()).toMatchObject({ statusCode: status, code });
    expect(typeof answer.json().message).toBe('string');
  });

  it('names the field, the path or the parameter in the message', async () => {
    const invalid = await app.inject({
      method: 'POST',
      url: '/items/a',
      headers: json,
      payload: '{"n":"x"}',
    });
    expect(invalid.json().message).toMatch(/^body\.n: /);
    const badUrl = await app.inject({ method: 'POST', url: '/items/%zz' });
    expect(badUrl.json()).toMatchObject({
      error: 'Bad Request',
      message: "'/items/%zz' is not a valid URL path",
    });
    const unknown = await app.inject({ method: 'GET', url: '/nowhere?x=1' });
    expect(unknown.json()).toMatchObject({ error: 'Not Found', message: 'no route GET /nowhere' });
  });

  it('keeps internals out of a 500', async () => {
    const answer = await app.inject({ method: 'GET', url: '/throws/bug' });
    expect(answer.body).not.toContain('secret internals');
  });
});

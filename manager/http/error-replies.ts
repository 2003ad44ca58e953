/**
 * Turns every error into Fastify's own shape with a code of the catalogue (shared/errors.ts,
 * listed in docs/api.md), each code with its one status: validation issues from the zod schemas,
 * Fastify's own client errors (body parsing, bad URLs, through `frameworkErrors` too), any other
 * 4xx as BR_ERR_BAD_REQUEST, and unexpected ones (logged, answered with a generic 500 that
 * carries no internals).
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { httpErrors } from '../../shared/errors.js';

export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;
/** Fastify's default `maxParamLength`, which the manager keeps. */
const MAX_PARAM_LENGTH = 100;

function path(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? '';
}

/** Fastify's client errors, by their FST_ERR_* code. */
const FASTIFY_TO_OURS: Record<
  string,
  (error: FastifyError, request: FastifyRequest) => FastifyError
> = {
  FST_ERR_VALIDATION: (error) => new httpErrors.BR_ERR_VALIDATION(error.message),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new httpErrors.BR_ERR_INVALID_JSON(),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new httpErrors.BR_ERR_INVALID_JSON(),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new httpErrors.BR_ERR_INVALID_CONTENT_LENGTH(),
  FST_ERR_CTP_BODY_TOO_LARGE: () => new httpErrors.BR_ERR_BODY_TOO_LARGE(BODY_LIMIT_BYTES),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new httpErrors.BR_ERR_UNSUPPORTED_MEDIA_TYPE(),
  FST_ERR_BAD_URL: (_, request) => new httpErrors.BR_ERR_BAD_URL(path(request)),
  FST_ERR_MAX_PARAM_LENGTH: (_, request) =>
    new httpErrors.BR_ERR_PARAM_TOO_LONG(path(request), MAX_PARAM_LENGTH),
  FST_ERR_NOT_FOUND: (_, request) =>
    new httpErrors.BR_ERR_ROUTE_NOT_FOUND(request.method, path(request)),
};

function fromValidation(error: FastifyError): FastifyError {
  if (!hasZodFastifySchemaValidationErrors(error)) throw new Error('not a validation error');
  const issue = error.validation[0];
  const nested = (issue?.params as { params?: { code?: string } } | undefined)?.params?.code;
  const field =
    issue && issue.instancePath !== '/' ? issue.instancePath.slice(1).replaceAll('/', '.') : '';
  const where = [error.validationContext, field].filter(Boolean).join('.');
  const message = `${where ? `${where}: ` : ''}${issue?.message ?? 'invalid request'}`;
  return nested === 'BR_ERR_RANGE_REVERSED'
    ? new httpErrors.BR_ERR_RANGE_REVERSED(message)
    : new httpErrors.BR_ERR_VALIDATION(message);
}

/** The catalogue's error that answers `error`. */
function answerFor(error: FastifyError, request: FastifyRequest): FastifyError {
  if (hasZodFastifySchemaValidationErrors(error)) return fromValidation(error);
  if (error.code?.startsWith('BR_ERR_')) return error;
  const ours = error.code ? FASTIFY_TO_OURS[error.code] : undefined;
  if (ours) return ours(error, request);
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500)
    return new httpErrors.BR_ERR_BAD_REQUEST(error.message);
  request.log.error({ err: error }, 'request failed');
  return new httpErrors.BR_ERR_INTERNAL();
}

function send(answer: FastifyError, reply: FastifyReply): void {
  const statusCode = answer.statusCode ?? 500;
  reply.status(statusCode).send({
    statusCode,
    code: answer.code,
    error: STATUS_CODES[statusCode],
    message: answer.message,
  });
}

/**
 * Fastify's `frameworkErrors` option: the errors it finds before routing (a malformed
 * percent-encoding, a path parameter over maxParamLength), which never reach the error handler.
 */
export function frameworkErrors(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  send(answerFor(error, request), reply);
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    send(answerFor(error, request), reply);
  });
  app.setNotFoundHandler((request, reply) => {
    send(new httpErrors.BR_ERR_ROUTE_NOT_FOUND(request.method, path(request)), reply);
  });
}

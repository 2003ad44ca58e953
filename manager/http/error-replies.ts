/**
 * Turns every error into Fastify's own shape with a code from manager/errors.ts:
 * validation issues from the zod schemas, Fastify's body-parsing errors, and unexpected ones
 * (logged, answered with a generic 500 that carries no internals).
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { errors } from '../errors.js';

const FASTIFY_TO_OURS: Record<string, (error: FastifyError) => FastifyError> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => new errors.BR_ERR_INVALID_JSON(),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new errors.BR_ERR_INVALID_JSON(),
  FST_ERR_CTP_BODY_TOO_LARGE: () => new errors.BR_ERR_BODY_TOO_LARGE(BODY_LIMIT_BYTES),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new errors.BR_ERR_UNSUPPORTED_MEDIA_TYPE(),
};

export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;

function fromValidation(error: FastifyError): FastifyError {
  if (!hasZodFastifySchemaValidationErrors(error)) throw new Error('not a validation error');
  const issue = error.validation[0];
  const nested = (issue?.params as { params?: { code?: string } } | undefined)?.params?.code;
  const path =
    issue && issue.instancePath !== '/' ? issue.instancePath.slice(1).replaceAll('/', '.') : '';
  const where = [error.validationContext, path].filter(Boolean).join('.');
  const message = `${where ? `${where}: ` : ''}${issue?.message ?? 'invalid request'}`;
  return nested === 'BR_ERR_RANGE_REVERSED'
    ? new errors.BR_ERR_RANGE_REVERSED(message)
    : new errors.BR_ERR_VALIDATION(message);
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let answer: FastifyError;
    if (hasZodFastifySchemaValidationErrors(error)) answer = fromValidation(error);
    else if (error.code?.startsWith('BR_ERR_')) answer = error;
    else if (error.code && FASTIFY_TO_OURS[error.code])
      answer = FASTIFY_TO_OURS[error.code]?.(error) as FastifyError;
    else if (error.statusCode && error.statusCode < 500) {
      answer = new errors.BR_ERR_VALIDATION(error.message);
      answer.statusCode = error.statusCode;
    } else {
      request.log.error({ err: error }, 'request failed');
      answer = new errors.BR_ERR_INTERNAL();
    }
    const statusCode = answer.statusCode ?? 500;
    reply.status(statusCode).send({
      statusCode,
      code: answer.code,
      error: STATUS_CODES[statusCode],
      message: answer.message,
    });
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new errors.BR_ERR_ROUTE_NOT_FOUND(request.method, request.url.split('?')[0]);
    reply
      .status(404)
      .send({ statusCode: 404, code: error.code, error: 'Not Found', message: error.message });
  });
}

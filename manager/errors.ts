/**
 * Every error code the HTTP API answers with, its status and message: the one catalogue
 * (fastify's FST_ERR_* pattern). docs/api.md lists the same codes; a test checks they match.
 */
import createError from '@fastify/error';

export const errors = {
  /** The message names the field and the problem: "body.from: Too small: expected number to be >=0". */
  BR_ERR_VALIDATION: createError('BR_ERR_VALIDATION', '%s', 400),
  BR_ERR_INVALID_JSON: createError(
    'BR_ERR_INVALID_JSON',
    'the request body is not valid JSON',
    400,
  ),
  /** The message names the field: "body.to: from must not exceed to". */
  BR_ERR_RANGE_REVERSED: createError('BR_ERR_RANGE_REVERSED', '%s', 400),
  BR_ERR_UNAUTHORIZED: createError(
    'BR_ERR_UNAUTHORIZED',
    'missing or wrong bearer token in the Authorization header',
    401,
  ),
  BR_ERR_QUEUE_NOT_FOUND: createError('BR_ERR_QUEUE_NOT_FOUND', 'queue "%s" does not exist', 404),
  BR_ERR_HEIGHT_NOT_FOUND: createError(
    'BR_ERR_HEIGHT_NOT_FOUND',
    'height %d was never enqueued in queue "%s"',
    404,
  ),
  BR_ERR_ROUTE_NOT_FOUND: createError('BR_ERR_ROUTE_NOT_FOUND', 'no route %s %s', 404),
  BR_ERR_BODY_TOO_LARGE: createError(
    'BR_ERR_BODY_TOO_LARGE',
    'the request body is larger than %d bytes',
    413,
  ),
  BR_ERR_UNSUPPORTED_MEDIA_TYPE: createError(
    'BR_ERR_UNSUPPORTED_MEDIA_TYPE',
    'send the body as application/json',
    415,
  ),
  BR_ERR_NOT_READY: createError(
    'BR_ERR_NOT_READY',
    'this manager is not serving the queue (not the leader, or starting or stopping)',
    503,
  ),
  BR_ERR_INTERNAL: createError('BR_ERR_INTERNAL', 'internal error; see the manager log', 500),
} as const;

export type ErrorCode = keyof typeof errors;

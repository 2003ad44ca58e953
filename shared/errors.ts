/**
 * Every error Blockrunner emits, each with a stable code, in one catalogue:
 * - httpErrors: the HTTP API's error answers (fastify's FST_ERR_* pattern), listed in
 *   docs/api.md ("Errors");
 * - closeCodes: the close codes of the worker link, each paired with the name its close reason
 *   starts with (as ws pairs 1009 with WS_ERR_UNSUPPORTED_MESSAGE_LENGTH), listed in
 *   docs/protocol.md ("Close codes");
 * - upgradeRefusals: the answers to a refused upgrade at /v1/ws, listed in docs/protocol.md
 *   ("Connecting");
 * - internalErrors: the errors thrown inside a process, never sent as such, each with a `code`.
 * test/shared/errors.test.ts checks both documents against this file, both ways: a code added,
 * renamed or removed here changes there too.
 */
import createError from '@fastify/error';

// HTTP API

export const httpErrors = {
  /** The message names the field and the problem: "body.from: Too small: expected number to be >=0". */
  BR_ERR_VALIDATION: createError('BR_ERR_VALIDATION', '%s', 400),
  BR_ERR_INVALID_JSON: createError(
    'BR_ERR_INVALID_JSON',
    'the request body is not valid JSON',
    400,
  ),
  /** The message names the field: "body.to: from must not exceed to". */
  BR_ERR_RANGE_REVERSED: createError('BR_ERR_RANGE_REVERSED', '%s', 400),
  BR_ERR_INVALID_CONTENT_LENGTH: createError(
    'BR_ERR_INVALID_CONTENT_LENGTH',
    'the request body does not match its Content-Length header',
    400,
  ),
  BR_ERR_BAD_URL: createError('BR_ERR_BAD_URL', "'%s' is not a valid URL path", 400),
  /** Any other client error Fastify or a plugin reports; the message is theirs. */
  BR_ERR_BAD_REQUEST: createError('BR_ERR_BAD_REQUEST', '%s', 400),
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
  BR_ERR_SOURCE_NOT_FOUND: createError(
    'BR_ERR_SOURCE_NOT_FOUND',
    'queue "%s" has no chain source',
    404,
  ),
  BR_ERR_ROUTE_NOT_FOUND: createError('BR_ERR_ROUTE_NOT_FOUND', 'no route %s %s', 404),
  BR_ERR_BODY_TOO_LARGE: createError(
    'BR_ERR_BODY_TOO_LARGE',
    'the request body is larger than %d bytes',
    413,
  ),
  BR_ERR_PARAM_TOO_LONG: createError(
    'BR_ERR_PARAM_TOO_LONG',
    "a path parameter of '%s' is longer than %d characters",
    414,
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

export type HttpErrorCode = keyof typeof httpErrors;

// WebSocket close codes

export interface CloseCodeEntry {
  /** The close code on the wire. */
  readonly closeCode: number;
  /** What the close reason starts with: `<name>: <detail>`. */
  readonly name: string;
  /** Sent by the ws library itself, with an empty reason, never by Blockrunner's own code. */
  readonly byLibrary?: true;
}

export const closeCodes = {
  /** A worker that stops. */
  BR_WS_NORMAL: { closeCode: 1000, name: 'normal' },
  /** The manager stops, or was not leading when the hello came. */
  BR_WS_GOING_AWAY: { closeCode: 1001, name: 'going_away' },
  /** A frame that breaks the WebSocket protocol itself (unmasked, bad opcode, bad close code). */
  BR_WS_PROTOCOL_ERROR: { closeCode: 1002, name: 'protocol_error', byLibrary: true },
  /** A text frame that is not UTF-8. */
  BR_WS_INVALID_UTF8: { closeCode: 1007, name: 'invalid_utf8', byLibrary: true },
  /** A frame above the receiver's maxPayload. */
  BR_WS_TOO_BIG: { closeCode: 1009, name: 'too_big', byLibrary: true },
  /** A frame that fails the protocol's schemas, or comes out of order. */
  BR_WS_BAD_FRAME: { closeCode: 4400, name: 'bad_frame' },
  BR_WS_HELLO_TIMEOUT: { closeCode: 4408, name: 'hello_timeout' },
  BR_WS_UNSUPPORTED_PROTOCOL: { closeCode: 4426, name: 'unsupported_protocol' },
} as const satisfies Record<string, CloseCodeEntry>;

export type CloseCodeName = keyof typeof closeCodes;

/** The most a close reason may hold: a close frame's payload is 125 bytes, 2 of them the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** The arguments of one `ws.close(code, reason)`. */
export interface WsClose {
  code: number;
  reason: string;
}

/**
 * The close code and reason for a close: the reason is `<name>: <detail>`, cut to the 123 bytes
 * a close frame allows. Every close of the worker link is built here.
 */
export function wsClose(name: CloseCodeName, detail: string): WsClose {
  const entry: CloseCodeEntry = closeCodes[name];
  return {
    code: entry.closeCode,
    reason: truncateUtf8(`${entry.name}: ${detail}`, MAX_CLOSE_REASON_BYTES),
  };
}

/** `text` cut to at most `maxBytes` of UTF-8, never in the middle of a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const buffer = Buffer.from(text);
  if (buffer.length <= maxBytes) return text;
  return buffer
    .subarray(0, maxBytes)
    .toString()
    .replace(/\uFFFD+$/, '');
}

// Upgrade refusals at /v1/ws

export interface UpgradeRefusalEntry {
  readonly status: number;
  /** The status line's text. */
  readonly text: string;
  /** Answered by the ws library itself, with its own body, before a WebSocket exists. */
  readonly byLibrary?: true;
}

export const upgradeRefusals = {
  /** Not a valid WebSocket handshake: missing Sec-WebSocket-Key, a version other than 13. */
  BR_UPGRADE_BAD_HANDSHAKE: { status: 400, text: 'Bad Request', byLibrary: true },
  BR_UPGRADE_UNAUTHORIZED: { status: 401, text: 'Unauthorized' },
  BR_UPGRADE_NOT_FOUND: { status: 404, text: 'Not Found' },
  /** An upgrade request whose method is not GET. */
  BR_UPGRADE_METHOD_NOT_ALLOWED: { status: 405, text: 'Method Not Allowed', byLibrary: true },
  /** A standby, or a manager starting or stopping. */
  BR_UPGRADE_NOT_LEADER: { status: 503, text: 'Service Unavailable' },
} as const satisfies Record<string, UpgradeRefusalEntry>;

export type UpgradeRefusalCode = keyof typeof upgradeRefusals;

// Errors inside a process

/** A bad variable, flag or argument: the process stops with one line (the CLI exits 2). */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'BR_CONFIG_INVALID';
}

/** A commit found that this manager no longer holds the leader lock: it must stop leading. */
export class LeadershipLostError extends Error {
  override name = 'LeadershipLostError';
  readonly code = 'BR_LEADERSHIP_LOST';
}

/** Another running manager holds the embedded database's data directory (docs/deployment.md). */
export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
  readonly code = 'BR_DATA_DIR_LOCKED';
}

/** Why a worker's attempt to connect failed, with what the manager said when it said anything. */
export class LinkError extends Error {
  override name = 'LinkError';
  readonly code = 'BR_LINK_FAILED';
  constructor(
    message: string,
    readonly details: { status?: number; closeCode?: number; reason?: string } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A 4xx/5xx answer of the HTTP API, as the CLI's client sees it. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code = 'BR_API_ERROR';
  constructor(
    message: string,
    readonly status: number,
    /** The answer's own code (one of httpErrors), when its body had one. */
    readonly answerCode: string | undefined,
  ) {
    super(message);
  }
}

export type RpcErrorKind =
  | 'unreachable'
  | 'timeout'
  | 'rate_limited'
  | 'http_error'
  | 'malformed'
  | 'rpc_error';

/** A chain source's node failed a JSON-RPC call; `kind` says how (docs/chains.md). */
export class RpcError extends Error {
  override name = 'RpcError';
  readonly code = 'BR_RPC_FAILED';
  constructor(
    message: string,
    readonly kind: RpcErrorKind,
    /** For rate_limited: what the node's Retry-After asked for, in ms. */
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** No worker could revert an orphaned range in BLOCKRUNNER_MAX_ATTEMPTS attempts. */
export class RevertFailedError extends Error {
  override name = 'RevertFailedError';
  readonly code = 'BR_REVERT_FAILED';
}

/**
 * Thrown by a handler: the node or API it calls said "too many requests". `retryAfterMs` is how
 * long it asked to wait, when it said. The worker reports it as a failed attempt like any other
 * error for now (docs/workers.md, "Errors a handler may throw").
 */
export class RateLimitedError extends Error {
  override name = 'RateLimitedError';
  readonly code = 'BR_RATE_LIMITED';
  readonly retryAfterMs: number | undefined;
  constructor(message = 'rate limited', options: ErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * Thrown by a range handler: the range it was given is more than its node serves in one call;
 * `maxRange` is the size that would work, when known. The worker splits the range with no
 * attempt counted, and the queue's calls shrink (docs/workers.md, "Range handlers"); thrown for
 * a single height, it is an ordinary failed attempt.
 */
export class RangeTooLargeError extends Error {
  override name = 'RangeTooLargeError';
  readonly code = 'BR_RANGE_TOO_LARGE';
  readonly maxRange: number | undefined;
  constructor(message = 'range too large', options: ErrorOptions & { maxRange?: number } = {}) {
    super(message, options);
    this.maxRange = options.maxRange;
  }
}

/** A handler module's setup() threw: the worker stops before taking any height. */
export class HandlerSetupError extends Error {
  override name = 'HandlerSetupError';
  readonly code = 'BR_HANDLER_SETUP_FAILED';
}

export const internalErrors = {
  BR_CONFIG_INVALID: ConfigError,
  BR_LEADERSHIP_LOST: LeadershipLostError,
  BR_DATA_DIR_LOCKED: DataDirLockedError,
  BR_LINK_FAILED: LinkError,
  BR_API_ERROR: ApiError,
  BR_RPC_FAILED: RpcError,
  BR_REVERT_FAILED: RevertFailedError,
  BR_RATE_LIMITED: RateLimitedError,
  BR_RANGE_TOO_LARGE: RangeTooLargeError,
  BR_HANDLER_SETUP_FAILED: HandlerSetupError,
} as const;

export type InternalErrorCode = keyof typeof internalErrors;

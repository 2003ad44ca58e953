/** Everything shared/ offers manager/ and worker/, in one place. */
export * from './api-schemas.js';
export * from './backoff.js';
export * from './client.js';
export * from './config.js';
export * from './errors.js';
export * from './logger.js';
export * from './package-root.js';
export * from './protocol.js';
export * from './range-codec.js';
export * from './range-set.js';
export * from './retry.js';

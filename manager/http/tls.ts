/**
 * Optional TLS for the HTTP API and the worker endpoint, so workers can use wss:// without a
 * proxy. Both files or neither; a file that cannot be read stops the start with one line.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../shared/errors.js';
import type { ManagerConfig } from '../config.js';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export function loadTls(config: ManagerConfig): TlsFiles | undefined {
  const { BLOCKRUNNER_TLS_CERT: certPath, BLOCKRUNNER_TLS_KEY: keyPath } = config;
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    throw new ConfigError('BLOCKRUNNER_TLS_CERT and BLOCKRUNNER_TLS_KEY: set both or neither');
  }
  const read = (variable: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError(
        `${variable}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  };
  return {
    cert: read('BLOCKRUNNER_TLS_CERT', certPath),
    key: read('BLOCKRUNNER_TLS_KEY', keyPath),
  };
}

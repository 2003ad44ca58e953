/**
 * `blockrunner manager`: load config, start, stop on SIGTERM/SIGINT. Nothing else lives here.
 */
import { type Env, flagsToEnv } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { tellParent, watchParent } from '../shared/parent-watch.js';
import { loadManagerConfig, managerConfigSchema } from './config.js';
import { Manager } from './wiring.js';
import { capYoungGeneration, stopPretenuring } from './young-generation.js';

export async function main(args: string[], env: Env = process.env): Promise<void> {
  const config = loadManagerConfig(flagsToEnv(managerConfigSchema, args, env));
  const log = createLogger({ level: config.LOG_LEVEL, name: 'blockrunner-manager' });
  // Process-wide settings, so here and not in Manager (tests run several in one process).
  capYoungGeneration();
  stopPretenuring();
  let fatal: Error | undefined;
  const manager = new Manager(config, log, (error) => {
    fatal = error;
    log.fatal({ err: error }, 'manager must stop');
    void manager.stop().finally(() => process.exit(1));
  });
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'signal received');
      void manager.stop().then(resolve, (error) => {
        log.error({ err: error }, 'unclean stop');
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Started by `blockrunner up`: never outlive it (docs/operations.md, "Process trees").
    watchParent({ onGone: () => stop('parent gone'), log });
  });
  try {
    await manager.start();
  } catch (error) {
    // Closes what did start (the embedded database and its data-dir lock, the port).
    await manager.stop().catch(() => {});
    throw error;
  }
  // `up` waits for this before it trusts /readyz: the port answers for this process.
  if (manager.url) tellParent({ type: 'listening', url: manager.url });
  await stopped;
  if (fatal) process.exitCode = 1;
}

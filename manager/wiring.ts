/**
 * Wires a manager together: database, migrations, HTTP API, worker endpoint, leadership,
 * queues, dispatcher, write-behind. start() resolves once it serves HTTP (as standby or
 * leader); stop() is the graceful path for SIGTERM.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import pg from 'pg';
import { httpErrors } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { redactUrl } from '../shared/logger.js';
import { Chains } from './chain/chains.js';
import type { ManagerConfig } from './config.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { BODY_LIMIT_BYTES, frameworkErrors, installErrorHandling } from './http/error-replies.js';
import { registerRoutes } from './http/routes.js';
import { loadTls } from './http/tls.js';
import { QueueService } from './queue/queue-service.js';
import { SettingsTable } from './queue/queue-settings.js';
import { ManagerStatus } from './role.js';
import { ManagerMetrics } from './status/metrics.js';
import { loadChainRows } from './store/chain-sql.js';
import { ChunkLayouts } from './store/chunk-layout.js';
import {
  EMBEDDED_POOL_SIZE,
  type EmbeddedDatabase,
  startEmbeddedDatabase,
} from './store/embedded-database.js';
import { LeaderLock } from './store/leader-lock.js';
import { migrate } from './store/migrate.js';
import { loadedChains, loadQueueStates } from './store/queue-loader.js';
import { RangeSizeWriter } from './store/range-size-writer.js';
import { loadSettings, saveEffectiveRangeSize, saveSettings } from './store/settings-sql.js';
import { WriteBehind } from './store/write-behind.js';
import { WorkerEndpoint } from './workers/worker-endpoint.js';

export class Manager {
  readonly status: ManagerStatus;
  /** This manager's Prometheus registry, fed by the leader's parts and read at /metrics. */
  readonly metrics: ManagerMetrics;
  private readonly abort = new AbortController();
  private pool: pg.Pool | undefined;
  private app: FastifyInstance | undefined;
  private endpoint: WorkerEndpoint | undefined;
  private stopping: Promise<void> | undefined;
  /** Set once the leader lock is ours, even before the rest of the leader's parts exist. */
  private releaseLock: (() => Promise<void>) | undefined;
  /** Set when DATABASE_URL is unset; shutdown() closes it last. */
  private embedded: Promise<EmbeddedDatabase> | undefined;
  /** The leader's writes of effective range sizes; shutdown() waits for them before the pool ends. */
  private rangeSizes: RangeSizeWriter | undefined;
  url = '';

  constructor(
    private readonly config: ManagerConfig,
    private readonly log: Logger,
    /** Called when the manager must stop abnormally (leadership lost). */
    private readonly onFatal: (error: Error) => void,
  ) {
    this.status = new ManagerStatus(config.BLOCKRUNNER_LEASE_MS);
    this.metrics = new ManagerMetrics(this.status);
  }

  /** Uses DATABASE_URL, or the embedded database under BLOCKRUNNER_DATA_DIR when it is unset. */
  async start(): Promise<void> {
    const { config, log } = this;
    // Files named by the configuration are read first: a bad one is reported as such, before
    // an unreachable database or the migrations could say something else.
    const tls = loadTls(config);
    let databaseUrl = config.DATABASE_URL;
    if (databaseUrl === undefined) {
      this.embedded = startEmbeddedDatabase(config.BLOCKRUNNER_DATA_DIR, log);
      databaseUrl = (await this.embedded).url;
      // Stopped while the embedded database was created: shutdown() has closed it.
      if (this.abort.signal.aborted) return;
    }
    log.info({ database: redactUrl(databaseUrl) }, 'manager starting');
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: this.embedded ? EMBEDDED_POOL_SIZE : 4,
      application_name: 'blockrunner',
    });
    this.pool.on('error', (error) => log.warn({ err: error }, 'idle database connection failed'));
    // Session advisory locks need a real session: a transaction pooler in DATABASE_URL hands
    // each transaction another one, so both locks then take the direct URL.
    const sessionUrl = config.BLOCKRUNNER_DIRECT_DATABASE_URL ?? databaseUrl;
    if (sessionUrl === databaseUrl) await migrate(this.pool, log);
    else {
      const direct = new pg.Pool({
        connectionString: sessionUrl,
        max: 1,
        application_name: 'blockrunner-migrate',
      });
      direct.on('error', () => {});
      try {
        await migrate(direct, log);
      } finally {
        await direct.end();
      }
    }
    if (this.abort.signal.aborted) return;

    const options = {
      loggerInstance: log as FastifyBaseLogger,
      bodyLimit: BODY_LIMIT_BYTES,
      frameworkErrors,
    };
    // An HTTPS server upgrades WebSockets the same way; the routes do not care which it is.
    const app = (tls ? Fastify({ ...options, https: tls }) : Fastify(options)) as FastifyInstance;
    this.app = app;
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    installErrorHandling(app);
    registerRoutes(app, {
      status: this.status,
      metrics: this.metrics,
      apiToken: config.BLOCKRUNNER_API_TOKEN,
    });
    await app.listen({ host: config.HOST, port: config.PORT });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    this.url = `${tls ? 'https' : 'http'}://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
    this.endpoint = new WorkerEndpoint(app.server, {
      status: this.status,
      workerToken: config.BLOCKRUNNER_WORKER_TOKEN,
      heartbeatMs: config.BLOCKRUNNER_HEARTBEAT_MS,
      log,
    });
    log.info({ url: this.url }, 'manager listening');

    this.status.role = 'standby';
    void this.lead(sessionUrl).catch((error) => {
      if (!this.abort.signal.aborted) this.onFatal(error as Error);
    });
  }

  /** Waits for the leader lock (on `sessionUrl`), then loads the queues and starts dispatching. */
  private async lead(sessionUrl: string): Promise<void> {
    const { config, log, metrics, status } = this;
    const pool = this.pool as pg.Pool;
    const lock = await LeaderLock.acquire({
      connectionString: sessionUrl,
      log,
      signal: this.abort.signal,
      onLost: (error) => {
        if (status.role !== 'stopping') this.onFatal(error);
      },
    });
    // Stopped while waiting for the data: shutdown() releases what is here.
    this.releaseLock = () => lock.release();
    const { queues, chunkStarts } = await loadQueueStates(pool);
    const chainRows = await loadChainRows(pool);
    const loadedSettings = await loadSettings(pool);
    const rangeSizes = new RangeSizeWriter((queue, size) => {
      const fence = lock.fence();
      return fence ? saveEffectiveRangeSize(pool, fence, queue, size) : Promise.resolve(false);
    }, log);
    this.rangeSizes = rangeSizes;
    const settings = new SettingsTable(loadedSettings.settings, {
      rangeSizes: loadedSettings.rangeSizes,
      onRangeSizeChanged: (queue, size) => rangeSizes.record(queue, size),
    });
    const writer = new WriteBehind({
      pool,
      chunks: new ChunkLayouts((name) => queues.get(name), chunkStarts),
      fence: () => lock.fence(),
      log,
      metrics,
      // A direct URL beside DATABASE_URL means a transaction pooler in front of the pool.
      prepared: config.BLOCKRUNNER_DIRECT_DATABASE_URL === undefined,
      onCommitted: (batch) => {
        for (const [name, writes] of batch) queues.get(name)?.committed(writes.done);
      },
    });
    // The dispatcher tells the chain stage of the hashes results carry; the chain stage needs
    // the dispatcher to cancel orphaned leases: the one forward reference, resolved below.
    let chains: Chains | undefined;
    const dispatcher = new Dispatcher({
      queues,
      writer,
      metrics,
      hashes: { reported: (queue, reports) => chains?.reported(queue, reports) },
      settings,
      log,
      leaseMs: config.BLOCKRUNNER_LEASE_MS,
      maxAttempts: config.BLOCKRUNNER_MAX_ATTEMPTS,
      retryBaseMs: config.BLOCKRUNNER_RETRY_BASE_MS,
      retryMaxMs: config.BLOCKRUNNER_RETRY_MAX_MS,
    });
    const service = new QueueService({
      queues,
      writer,
      dispatcher,
      saveSettings: async (queue, value) => {
        const fence = lock.fence();
        if (!fence || !(await saveSettings(pool, fence, queue, value)))
          throw new httpErrors.BR_ERR_NOT_READY();
      },
      pool,
      fence: () => lock.fence(),
      log,
      signal: this.abort.signal,
      metrics,
    });
    chains = new Chains({
      queues,
      service,
      dispatcher,
      writer,
      log,
      metrics,
      loaded: loadedChains(chainRows),
      lastReorgId: chainRows.lastReorgId,
      leaseMs: config.BLOCKRUNNER_LEASE_MS,
      maxAttempts: config.BLOCKRUNNER_MAX_ATTEMPTS,
      retryBaseMs: config.BLOCKRUNNER_RETRY_BASE_MS,
      retryMaxMs: config.BLOCKRUNNER_RETRY_MAX_MS,
    });
    status.leader = { lock, queues, service, dispatcher, writer, chains };
    status.role = 'leader';
    chains.start();
    dispatcher.wake();
    log.info({ queues: queues.size }, 'manager leading');
  }

  /**
   * Graceful stop: no new heights handed out, in-flight results may land for up to
   * BLOCKRUNNER_SHUTDOWN_MS, everything received is committed, then links and pools close.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { log, status } = this;
    const wasLeader = status.role === 'leader';
    status.role = 'stopping';
    this.abort.abort();
    log.info('manager stopping');
    const leader = status.leader;
    if (wasLeader && leader) {
      leader.dispatcher.pause();
      const settled = await leader.dispatcher.settled(this.config.BLOCKRUNNER_SHUTDOWN_MS);
      if (!settled)
        log.warn({ leases: leader.dispatcher.leaseCount }, 'stopping with heights still leased');
    }
    this.endpoint?.close();
    await leader?.chains.close();
    leader?.dispatcher.close();
    await leader?.writer.close(this.config.BLOCKRUNNER_SHUTDOWN_MS).catch((error) => {
      log.error({ err: error }, 'results received but not committed; those heights will run again');
    });
    await this.rangeSizes?.flushed();
    await this.app?.close();
    await this.releaseLock?.();
    await this.pool?.end();
    // Waits for a creation still running (a Ctrl-C during the first start), then closes.
    const embedded = await this.embedded?.catch(() => undefined);
    await embedded?.close();
    log.info('manager stopped');
  }
}

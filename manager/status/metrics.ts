/**
 * Prometheus metrics at /metrics (docs/observability.md lists them; change both together).
 * One registry per manager, not prom-client's global one, so a process may hold several.
 *
 * The hot path (results frames, group commits) only adds to plain numbers or observes a
 * histogram once per frame or per commit; counters copy those numbers, and the queue gauges
 * read the queue summaries, when Prometheus scrapes (`collect`).
 */
import {
  Counter,
  collectDefaultMetrics,
  exponentialBuckets,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client';
import type { ReorgMetrics } from '../chain/reorg-handler.js';
import type { DispatchMetrics } from '../dispatch/dispatcher.js';
import type { EnqueueMetrics } from '../queue/queue-service.js';
import type { QueueState, QueueSummary } from '../queue/queue-state.js';
import type { WriteBatch } from '../store/pending-writes.js';
import type { CommitMetrics } from '../store/write-behind.js';

/** What the metrics read at scrape time: a narrow view of the manager (manager/role.ts has it). */
export interface MetricsSource {
  isLeader(): boolean;
  /** The leader's queues; none while not leading. */
  queues(): Iterable<QueueState>;
  workerCount(): number;
  /** Results for leases the sender no longer held, since this manager began to lead. */
  ignoredResults(): number;
  /** Calls per second a queue dispatches at now (its budget, lowered after rate limits); null: no bound. */
  effectiveRate(queue: string): number | null;
}

/** Per-queue totals since start, added to in the hot path, exported at scrape time. */
interface QueueTotals {
  enqueued: number;
  done: number;
  failedAttempts: number;
  deadLettered: number;
  handlerSeconds: number;
  dispatchToResult: Histogram.Internal<'queue'>;
  handlerDuration: Histogram.Internal<'queue'>;
}

type TotalKey = 'enqueued' | 'done' | 'failedAttempts' | 'deadLettered' | 'handlerSeconds';

const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];
const HANDLER_BUCKETS = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
const COMMIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** prom-client default metrics left out (docs/observability.md, "Process metrics"). */
export const PROMTOOL_REJECTED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

interface Snapshot {
  summaries: QueueSummary[];
  highest: Map<string, number>;
  lowest: Map<string, number>;
}

export class ManagerMetrics
  implements DispatchMetrics, CommitMetrics, EnqueueMetrics, ReorgMetrics
{
  readonly registry = new Registry();
  private readonly totals = new Map<string, QueueTotals>();
  private readonly dispatchToResult: Histogram<'queue'>;
  private readonly handlerDuration: Histogram<'queue'>;
  private readonly commitDuration: Histogram;
  private readonly commitBatch: Histogram;
  private readonly commitFailures: Counter;
  private readonly reorgs: Counter<'queue'>;
  private readonly reorgDepth: Histogram<'queue'>;
  /** The queue summaries of the scrape in progress, read by every queue gauge. */
  private snapshot: Snapshot | undefined;

  constructor(private readonly source: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these three gauges *_total, a counter's suffix, which `promtool check
    // metrics` flags. Each is the sum over `type` of the gauge without the suffix
    // (nodejs_active_handles{type}, ...), which stays: sum() gives the same number.
    for (const name of PROMTOOL_REJECTED_DEFAULTS) this.registry.removeSingleMetric(name);

    this.totalCounter(
      'blockrunner_heights_enqueued_total',
      'Heights added by enqueue requests (skipped ones not counted).',
      'enqueued',
    );
    this.totalCounter(
      'blockrunner_heights_done_total',
      'Heights whose success was committed.',
      'done',
    );
    this.totalCounter(
      'blockrunner_attempts_failed_total',
      'Failed attempts: handler errors and expired leases.',
      'failedAttempts',
    );
    this.totalCounter(
      'blockrunner_heights_failed_total',
      'Heights dead-lettered after their last allowed attempt.',
      'deadLettered',
    );
    this.totalCounter(
      'blockrunner_handler_seconds_total',
      'Handler time reported by workers, summed over heights.',
      'handlerSeconds',
    );

    this.queueGauge(
      'blockrunner_heights_pending',
      'Heights waiting for a worker.',
      (s) => s.pending,
    );
    this.queueGauge(
      'blockrunner_heights_leased',
      'Heights held by workers, or succeeded and awaiting the commit.',
      (s) => s.leased,
    );
    this.queueGauge(
      'blockrunner_heights_retrying',
      'Heights waiting for their backoff after a failed attempt.',
      (s) => s.retrying,
    );
    this.queueGauge(
      'blockrunner_dead_letters',
      'Heights failed for good now (dead letters not yet requeued).',
      (s) => s.failed,
    );
    this.queueGauge(
      'blockrunner_watermark',
      'Highest height with every height from the lowest enqueued one done (absent when none).',
      (s) => s.watermark ?? undefined,
    );
    this.queueGauge(
      'blockrunner_highest_enqueued_height',
      'Highest height ever enqueued.',
      (_summary, highest) => highest,
    );
    this.queueGauge(
      'blockrunner_watermark_lag',
      'Heights between the watermark and the highest enqueued height.',
      (s, highest) =>
        highest === undefined
          ? undefined
          : highest - (s.watermark ?? (this.snapshot?.lowest.get(s.queue) ?? 0) - 1),
    );

    new Gauge({
      name: 'blockrunner_workers_connected',
      help: 'Workers connected to this manager.',
      registers,
      collect() {
        this.set(source.workerCount());
      },
    });
    new Counter({
      name: 'blockrunner_results_ignored_total',
      help: 'Results for leases the sender no longer held (expired, from before a reconnect, duplicates).',
      registers,
      collect() {
        // The dispatcher counts them; a new leader's dispatcher starts again from 0.
        this.reset();
        this.inc(source.ignoredResults());
      },
    });
    new Gauge({
      name: 'blockrunner_is_leader',
      help: '1 while this manager leads, else 0.',
      registers,
      collect() {
        this.set(source.isLeader() ? 1 : 0);
      },
    });

    this.queueGauge(
      'blockrunner_effective_rate_calls_per_second',
      'Handler calls per second a queue dispatches at now: its ratePerSecond, or lower after handlers were rate limited (absent when unbounded).',
      (s) => source.effectiveRate(s.queue) ?? undefined,
    );
    this.queueGauge(
      'blockrunner_head_height',
      'Newest chain head a queue knows of (from its source or pushed).',
      (s) => s.head,
    );
    this.queueGauge(
      'blockrunner_lag_heights',
      'Chain head minus watermark, per queue that knows a head (absent while no watermark).',
      (s) => s.lag ?? undefined,
    );
    this.reorgs = new Counter({
      name: 'blockrunner_reorgs_total',
      help: 'Chain reorganisations handled (orphaned heights reverted and re-enqueued).',
      labelNames: ['queue'],
      registers,
    });
    this.reorgDepth = new Histogram({
      name: 'blockrunner_reorg_depth_heights',
      help: 'Heights orphaned per reorganisation.',
      labelNames: ['queue'],
      buckets: [1, 2, 3, 5, 8, 13, 21, 34, 64, 128, 256],
      registers,
    });
    this.dispatchToResult = new Histogram({
      name: 'blockrunner_dispatch_to_result_seconds',
      help: 'Time from a dispatch frame to a results frame for its lease; one observation per results frame.',
      labelNames: ['queue'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.handlerDuration = new Histogram({
      name: 'blockrunner_handler_duration_seconds',
      help: 'Mean handler time per height of a results frame, as the worker measured it; one observation per frame.',
      labelNames: ['queue'],
      buckets: HANDLER_BUCKETS,
      registers,
    });
    this.commitDuration = new Histogram({
      name: 'blockrunner_commit_duration_seconds',
      help: 'Time of one group commit to PostgreSQL, connection included.',
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.commitBatch = new Histogram({
      name: 'blockrunner_commit_batch_heights',
      help: 'Heights whose outcome one commit records (successes plus attempt-history changes).',
      buckets: exponentialBuckets(1, 4, 11),
      registers,
    });
    this.commitFailures = new Counter({
      name: 'blockrunner_commit_failures_total',
      help: 'Commits that failed and were retried.',
      registers,
    });
  }

  /** The text exposition; the queue gauges read one snapshot of the summaries. */
  async render(): Promise<string> {
    this.snapshot = undefined;
    try {
      return await this.registry.metrics();
    } finally {
      this.snapshot = undefined;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  results(
    queue: string,
    heights: number,
    ageMs: number,
    runMs: number | undefined,
    failedAttempts: number,
    deadLettered: number,
  ): void {
    const totals = this.queue(queue);
    totals.dispatchToResult.observe(ageMs / 1000);
    if (runMs !== undefined && heights > 0) {
      totals.handlerSeconds += runMs / 1000;
      totals.handlerDuration.observe(runMs / 1000 / heights);
    }
    totals.failedAttempts += failedAttempts;
    totals.deadLettered += deadLettered;
  }

  expired(queue: string, failedAttempts: number, deadLettered: number): void {
    const totals = this.queue(queue);
    totals.failedAttempts += failedAttempts;
    totals.deadLettered += deadLettered;
  }

  committed(batch: WriteBatch, durationMs: number): void {
    let heights = 0;
    for (const [name, writes] of batch) {
      heights += writes.done.count + writes.history.size;
      if (writes.done.count > 0) this.queue(name).done += writes.done.count;
    }
    this.commitDuration.observe(durationMs / 1000);
    this.commitBatch.observe(heights);
  }

  reorg(queue: string, depth: number): void {
    this.reorgs.inc({ queue });
    this.reorgDepth.observe({ queue }, depth);
  }

  commitFailed(): void {
    this.commitFailures.inc();
  }

  enqueued(queue: string, added: number): void {
    this.queue(queue).enqueued += added;
  }

  /** A deleted queue's series go; a queue made again under its name counts from 0. */
  deleted(queue: string): void {
    this.totals.delete(queue);
    this.dispatchToResult.remove({ queue });
    this.handlerDuration.remove({ queue });
    this.reorgs.remove({ queue });
    this.reorgDepth.remove({ queue });
  }

  private queue(name: string): QueueTotals {
    let totals = this.totals.get(name);
    if (!totals) {
      totals = {
        enqueued: 0,
        done: 0,
        failedAttempts: 0,
        deadLettered: 0,
        handlerSeconds: 0,
        dispatchToResult: this.dispatchToResult.labels({ queue: name }),
        handlerDuration: this.handlerDuration.labels({ queue: name }),
      };
      this.totals.set(name, totals);
    }
    return totals;
  }

  private totalCounter(name: string, help: string, key: TotalKey): void {
    const totals = this.totals;
    new Counter({
      name,
      help,
      labelNames: ['queue'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [queue, values] of totals) this.inc({ queue }, values[key]);
      },
    });
  }

  private queueGauge(
    name: string,
    help: string,
    value: (summary: QueueSummary, highest: number | undefined) => number | undefined,
  ): void {
    const read = () => this.read();
    new Gauge({
      name,
      help,
      labelNames: ['queue'],
      registers: [this.registry],
      collect() {
        // Reset first: a queue gone since the last scrape (a new leader) must not linger.
        this.reset();
        const { summaries, highest } = read();
        for (const summary of summaries) {
          const v = value(summary, highest.get(summary.queue));
          if (v !== undefined) this.set({ queue: summary.queue }, v);
        }
      },
    });
  }

  private read(): Snapshot {
    if (this.snapshot) return this.snapshot;
    const summaries: QueueSummary[] = [];
    const highest = new Map<string, number>();
    const lowest = new Map<string, number>();
    for (const queue of this.source.queues()) {
      summaries.push(queue.summary());
      const max = queue.enqueued.max();
      if (max !== undefined) highest.set(queue.name, max);
      lowest.set(queue.name, queue.enqueued.min() ?? 0);
    }
    this.snapshot = { summaries, highest, lowest };
    return this.snapshot;
  }
}

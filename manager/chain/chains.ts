/**
 * The chain stage of a leader (docs/chains.md): each queue's source, head and kept hashes; the
 * followers of evm sources; the checks that notice a reorganisation (hashes that handlers
 * report, heads that a node or a client gives); and the reorganisations themselves
 * (reorg-handler.ts). Everything it changes goes through the write-behind log like the rest.
 */

import { RpcError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { BlockReport } from '../../shared/protocol.js';
import { RangeSet } from '../../shared/range-set.js';
import { RETRY_POLICIES, retry } from '../../shared/retry.js';
import type { Dispatcher, HashReports } from '../dispatch/dispatcher.js';
import type { QueueService } from '../queue/queue-service.js';
import type { QueueState } from '../queue/queue-state.js';
import type { WriteBehind } from '../store/write-behind.js';
import type { LoadedChain, ReorgRecord, SourceConfig } from './chain-types.js';
import { displayRpcUrl, EvmRpc } from './evm-rpc.js';
import { QueueChain } from './queue-chain.js';
import {
  type CanonicalHash,
  REORG_PAUSE,
  ReorgHandler,
  type ReorgMetrics,
} from './reorg-handler.js';
import { RevertRunner } from './revert-runner.js';
import { SourceFollower } from './source-follower.js';

export interface ChainsOptions {
  queues: Map<string, QueueState>;
  service: QueueService;
  dispatcher: Dispatcher;
  writer: WriteBehind;
  log: Logger;
  metrics?: ReorgMetrics;
  loaded: Map<string, LoadedChain>;
  /** The highest reorg id in the database. */
  lastReorgId: number;
  leaseMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Makes the JSON-RPC client of a source; tests may pass their own. */
  rpcFor?: (url: string) => EvmRpc;
}

/** A source as GET /v1/queues/:queue/source shows it. */
export interface SourceView extends SourceConfig {
  queue: string;
  head: number | null;
  headHash: string | null;
  lag: number | null;
  /** Seconds since the head last changed height; null before the first head. */
  headAgeSeconds: number | null;
  state: string;
  lastError: string | null;
  lagging: boolean;
  /** Heads arrive by a newHeads subscription now (ws:// sources). */
  subscribed: boolean;
  reorg: string | null;
}

export class Chains implements HashReports {
  private readonly chains = new Map<string, QueueChain>();
  private readonly followers = new Map<string, SourceFollower>();
  private readonly rpcs = new Map<string, EvmRpc>();
  private readonly abort = new AbortController();
  private readonly reorgs: ReorgHandler;
  readonly reverts: RevertRunner;
  private lastReorgId: number;

  constructor(private readonly options: ChainsOptions) {
    this.lastReorgId = options.lastReorgId;
    this.reverts = new RevertRunner({
      links: () => options.dispatcher.workers(),
      log: options.log,
      timeoutMs: options.leaseMs,
      maxAttempts: options.maxAttempts,
      retryBaseMs: options.retryBaseMs,
      retryMaxMs: options.retryMaxMs,
    });
    this.reorgs = new ReorgHandler({
      dispatcher: options.dispatcher,
      writer: options.writer,
      reverts: this.reverts,
      metrics: options.metrics,
      log: options.log,
      nextReorgId: () => ++this.lastReorgId,
      signal: this.abort.signal,
    });
    for (const [name, loaded] of options.loaded) {
      const chain = this.chainOf(name);
      chain.source = loaded.source;
      chain.head = loaded.head;
      if (loaded.head) {
        const ceiling = loaded.head.height - chain.confirmations;
        options.queues.get(name)?.noteHead(loaded.head.height, ceiling);
      }
      for (const [height, link] of loaded.hashes) chain.hashes.set(height, link);
      chain.reorgs.push(...loaded.reorgs);
    }
  }

  /** Starts the followers and the reverts left due by a previous leader. */
  start(): void {
    for (const chain of this.chains.values()) {
      const queue = this.options.queues.get(chain.queue);
      if (!queue) continue;
      const due = chain.reorgs.find((record) => record.revertedAt === null);
      if (due) this.reorgs.resumeRevert(chain, queue, due);
      if (chain.source?.kind === 'evm') this.follow(chain);
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.reverts.close();
    await Promise.all([...this.followers.values()].map((follower) => follower.stop()));
    this.followers.clear();
  }

  // Sources (PUT/GET/DELETE /v1/queues/:queue/source)

  async setSource(name: string, source: SourceConfig): Promise<SourceView> {
    await this.options.service.deleted(name);
    const queue = this.options.service.ensureQueue(name);
    const chain = this.chainOf(name);
    await this.stopFollowing(name);
    chain.source = source;
    chain.sourceStatus = undefined;
    const writes = this.options.writer.forQueue(name);
    writes.touched = true;
    writes.source = source;
    await this.options.writer.committed();
    if (source.kind === 'evm') this.follow(chain);
    else if (chain.head) await this.catchUp(chain, queue, chain.head.height, 'backfill');
    return this.view(chain);
  }

  source(name: string): SourceView | undefined {
    const chain = this.chains.get(name);
    return chain?.source ? this.view(chain) : undefined;
  }

  /** Stops following; heights already enqueued stay. False when the queue had no source. */
  async deleteSource(name: string): Promise<boolean> {
    const chain = this.chains.get(name);
    if (!chain?.source) return false;
    await this.stopFollowing(name);
    chain.source = undefined;
    chain.sourceStatus = undefined;
    // No head any more: heights above the last one may go out, and no hash is kept.
    chain.head = undefined;
    chain.lagging = false;
    this.options.queues.get(name)?.clearHead();
    const writes = this.options.writer.forQueue(name);
    writes.source = null;
    writes.head = null;
    for (const height of chain.hashes.clear()) writes.hashes.set(height, null);
    await this.options.writer.committed();
    return true;
  }

  /** POST /v1/queues/:queue/head: a head from a client, for chains without an evm source. */
  async pushHead(name: string, head: { height: number; hash: string }): Promise<{ added: number }> {
    await this.options.service.deleted(name);
    const queue = this.options.service.ensureQueue(name);
    const chain = this.chainOf(name);
    return { added: await this.onHead(chain, queue, { height: head.height, hash: head.hash }) };
  }

  /**
   * DELETE /v1/queues/:queue: the follower stops first (a head it is handling still lands in the
   * queue), then the queue service deletes the queue, and its chain state (source, head, kept
   * hashes, reorganisations) goes with it. False for an unknown queue.
   */
  async deleteQueue(name: string): Promise<boolean> {
    if (!this.options.queues.has(name)) return this.options.service.delete(name);
    await this.stopFollowing(name);
    const deleted = this.options.service.delete(name);
    // After the queue left memory (delete's first, synchronous part): nothing makes it again.
    this.chains.delete(name);
    return deleted;
  }

  reorgList(name: string, limit: number): ReorgRecord[] | undefined {
    if (!this.options.queues.has(name)) return undefined;
    return (this.chains.get(name)?.reorgs ?? []).slice(0, limit);
  }

  /**
   * An operator resumed a paused queue: the kept hashes that disagreed are forgotten, so the
   * chain as the node has it now is trusted from here on (docs/chains.md, "Beyond finality").
   */
  resumed(name: string): void {
    const chain = this.chains.get(name);
    // An operator's own pause keeps the hashes: only a reorganisation's pause trusts the node.
    if (!chain || !this.options.queues.get(name)?.pausedReason?.startsWith(REORG_PAUSE)) return;
    const writes = this.options.writer.forQueue(name);
    for (const height of chain.hashes.clear()) writes.hashes.set(height, null);
  }

  /** Heights enqueued by force will report again: their kept hashes must not stand in the way. */
  forgetHashes(name: string, heights: RangeSet): void {
    const chain = this.chains.get(name);
    if (!chain || chain.hashes.size === 0) return;
    const writes = this.options.writer.forQueue(name);
    for (const height of chain.hashes.heightsDescending()) {
      if (!heights.has(height)) continue;
      chain.hashes.delete(height);
      writes.hashes.set(height, null);
    }
  }

  // Results (called by the dispatcher, synchronously, for heights the lease held)

  reported(name: string, reports: readonly BlockReport[]): void {
    const queue = this.options.queues.get(name);
    if (!queue) return;
    const chain = this.chainOf(name);
    const writes = this.options.writer.forQueue(name);
    for (const report of reports) {
      const link = { hash: report.hash.toLowerCase(), parentHash: report.parentHash.toLowerCase() };
      const probe = chain.reorg?.phase === 'probing' ? chain.reorg.probe : undefined;
      if (probe === report.height) {
        chain.hashes.set(report.height, link);
        writes.hashes.set(report.height, link);
        this.reorgs.probed(chain, queue, report.height, link);
        continue;
      }
      if (chain.reorg) continue; // re-checked once the reorg is handled and the heights re-run
      const conflict = chain.hashes.conflictOf(report.height, link);
      if (conflict) {
        this.reorgs.begin(chain, queue, conflict, this.canonical(chain));
        continue;
      }
      if (chain.keeps(report.height)) {
        chain.hashes.set(report.height, link);
        writes.hashes.set(report.height, link);
      }
    }
  }

  // Heads

  private follow(chain: QueueChain): void {
    const source = chain.source;
    if (!source?.url) return;
    const queue = this.options.queues.get(chain.queue);
    if (!queue) return;
    const follower = new SourceFollower({
      queue: chain.queue,
      source,
      rpc: this.rpcOf(source.url),
      log: this.options.log,
      onHead: async (header) => {
        await this.onHead(chain, queue, header);
      },
      onStatus: (status) => {
        chain.sourceStatus = status;
      },
    });
    this.followers.set(chain.queue, follower);
  }

  private async stopFollowing(name: string): Promise<void> {
    const follower = this.followers.get(name);
    this.followers.delete(name);
    await follower?.stop();
  }

  /**
   * A head arrived (from the node, or pushed): check it against the kept hashes, move the head,
   * enqueue what it makes ready, forget hashes that became final. Returns heights added.
   */
  private async onHead(
    chain: QueueChain,
    queue: QueueState,
    header: { height: number; hash?: string | undefined; parentHash?: string | undefined },
  ): Promise<number> {
    const { log, writer } = this.options;
    const hash = header.hash?.toLowerCase();
    const previous = chain.head;
    // A reorganisation being handled re-checks everything once the heights run again.
    const conflict = chain.reorg
      ? undefined
      : chain.hashes.conflictOf(header.height, {
          hash,
          parentHash: header.parentHash?.toLowerCase(),
        });
    if (conflict) {
      // The node's head is the chain now, also when it is lower than before (a shorter chain).
      this.moveHead(chain, queue, header.height, hash);
      this.reorgs.begin(chain, queue, conflict, this.canonical(chain));
      return 0;
    }
    if (previous && header.height < previous.height) {
      // Lower, and what we kept there still agrees: the node lags (a load balancer, a node
      // still syncing). Nothing is undone; heights come again once it catches up.
      if (!chain.lagging)
        log.warn(
          { queue: chain.queue, head: header.height, ours: previous.height },
          'chain source lags behind the head we saw',
        );
      chain.lagging = true;
      return 0;
    }
    if (chain.lagging)
      log.info({ queue: chain.queue, head: header.height }, 'chain source caught up');
    chain.lagging = false;
    this.moveHead(chain, queue, header.height, hash);
    const line = chain.finalLine();
    if (line !== undefined && chain.hashes.size > 0) {
      const writes = writer.forQueue(chain.queue);
      for (const height of chain.hashes.pruneUpTo(line)) writes.hashes.set(height, null);
    }
    // The first head of a source is a backfill; what comes after it is the tip.
    return this.catchUp(chain, queue, header.height, previous ? 'tip' : 'backfill');
  }

  private moveHead(chain: QueueChain, queue: QueueState, height: number, hash: string | undefined) {
    const previous = chain.head;
    if (previous && previous.height === height && previous.hash === hash) return;
    chain.head = { height, hash };
    this.options.writer.forQueue(chain.queue).head = chain.head;
    queue.noteHead(height, height - chain.confirmations);
  }

  /** Enqueues from..head - confirmations; what is there already is skipped, never added twice. */
  private async catchUp(
    chain: QueueChain,
    queue: QueueState,
    head: number,
    lane: 'tip' | 'backfill',
  ): Promise<number> {
    const to = head - chain.confirmations;
    const from = Math.max(chain.from, (queue.enqueued.max() ?? chain.from - 1) + 1);
    if (to < from) return 0;
    const result = await this.options.service.enqueue(
      queue.name,
      RangeSet.from([[from, to]]),
      false,
      lane,
    );
    return result.added;
  }

  private canonical(chain: QueueChain): CanonicalHash {
    const url = chain.source?.kind === 'evm' ? chain.source.url : undefined;
    if (!url) return undefined;
    const rpc = this.rpcOf(url);
    const { log } = this.options;
    const signal = this.abort.signal;
    // A node that fails while the fork is searched is asked again with the source's backoff,
    // the queue held meanwhile: a failed search would pause the queue for an operator.
    return (height) =>
      retry(async () => (await rpc.blockAt(height, signal))?.hash, {
        policy: RETRY_POLICIES.rpc,
        signal,
        shouldRetry: ({ error }) => error instanceof RpcError,
        onFailedAttempt: ({ error, attemptNumber, delayMs }) => {
          if (attemptNumber === 1 || attemptNumber % 10 === 0)
            log.warn(
              {
                queue: chain.queue,
                height,
                attempt: attemptNumber,
                retryInMs: delayMs,
                err: error.message,
              },
              'the node fails while the fork point is searched; retrying',
            );
        },
      });
  }

  private rpcOf(url: string): EvmRpc {
    const httpUrl = url.replace(/^ws(s?):\/\//, 'http$1://');
    let rpc = this.rpcs.get(httpUrl);
    if (!rpc) {
      rpc = this.options.rpcFor?.(httpUrl) ?? new EvmRpc({ url: httpUrl });
      this.rpcs.set(httpUrl, rpc);
    }
    return rpc;
  }

  private chainOf(name: string): QueueChain {
    let chain = this.chains.get(name);
    if (!chain) {
      chain = new QueueChain(name);
      this.chains.set(name, chain);
    }
    return chain;
  }

  private view(chain: QueueChain): SourceView {
    const source = chain.source as SourceConfig;
    const head = this.options.queues.get(chain.queue)?.headView();
    return {
      queue: chain.queue,
      ...source,
      url: source.url === undefined ? undefined : displayRpcUrl(source.url),
      head: head?.head ?? null,
      headHash: chain.head?.hash ?? null,
      lag: head?.lag ?? null,
      headAgeSeconds: head?.headAgeSeconds ?? null,
      state: chain.lagging
        ? 'lagging'
        : (chain.sourceStatus?.state ??
          (source.kind === 'push' ? 'waiting for heads' : 'starting')),
      lastError: chain.sourceStatus?.lastError ?? null,
      lagging: chain.lagging,
      subscribed: chain.sourceStatus?.subscribed ?? false,
      reorg: chain.reorg?.phase ?? null,
    };
  }
}

/**
 * S8 fleet (docs/performance.md, "What each scenario measures"): 8,000 worker links on one
 * manager, each a WebSocket of its own that speaks the worker protocol (shared/protocol.ts)
 * with a capacity of one height and answers every dispatch at once, so no link is slower than
 * another by its handler. A backfill of 25 heights per link runs through them; the figure is how
 * evenly the manager spread it: the heights the busiest link ran over the median link's.
 * A worker process per link would need 8,000 processes: the links live in this process, and
 * what they measure is the manager's side, its dispatch over many links.
 */
import WebSocket from 'ws';
import {
  type DispatchFrame,
  heightsIn,
  type ManagerFrame,
  PROTOCOL_VERSION,
  type ResultsFrame,
} from '../shared/protocol.js';
import { Cluster } from './cluster.js';
import { connectedWorkers, enqueue, queueSummary } from './manager-api.js';
import type { BenchOptions } from './options.js';
import type { S8Fleet } from './results.js';
import { median, round } from './stats.js';
import { waitUntil } from './wait.js';

const QUEUE = 's8-fleet';
/** Links opening at once: enough to be quick, few enough for the listen backlog. */
const CONNECTING_AT_ONCE = 200;
const CONNECT_TIMEOUT_MS = 120_000;
const DRAIN_TIMEOUT_MS = 600_000;

interface FleetLink {
  socket: WebSocket;
  heights: number;
}

export async function runS8Fleet(options: BenchOptions): Promise<S8Fleet> {
  const { links: count, heightsPerLink } = options.s8;
  const heights = count * heightsPerLink;
  const cluster = await Cluster.start(options.adminUrl, 's8_fleet', options.cpuProfDir);
  const links: FleetLink[] = [];
  try {
    for (let first = 0; first < count; first += CONNECTING_AT_ONCE) {
      const batch = Array.from({ length: Math.min(CONNECTING_AT_ONCE, count - first) }, (_, i) =>
        openLink(cluster.wsUrl, `fleet-${first + i + 1}`),
      );
      links.push(...(await Promise.all(batch)));
    }
    await waitUntil(
      async () => {
        cluster.assertRunning();
        return (await connectedWorkers(cluster.url)) >= count;
      },
      { timeoutMs: CONNECT_TIMEOUT_MS, intervalMs: 100, message: `${count} connected links` },
    );
    const started = performance.now();
    await enqueue(cluster.url, QUEUE, { from: 0, to: heights - 1 });
    await waitUntil(
      async () => {
        cluster.assertRunning();
        return (await queueSummary(cluster.url, QUEUE)).done === heights;
      },
      { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: 20, message: `${QUEUE} to be drained` },
    );
    const elapsedMs = performance.now() - started;
    const perLink = links.map((link) => link.heights);
    const ran = perLink.reduce((sum, n) => sum + n, 0);
    if (ran < heights) throw new Error(`the links ran ${ran} of ${heights} heights`);
    const medianHeights = median(perLink);
    const busiest = Math.max(...perLink);
    return {
      links: count,
      heights,
      elapsedMs: round(elapsedMs),
      heightsPerSecond: Math.round(heights / (elapsedMs / 1000)),
      medianHeights,
      busiestHeights: busiest,
      idlestHeights: Math.min(...perLink),
      busiestToMedian: round(busiest / medianHeights, 2),
      measured: `${count} WebSocket links in the bench process, each a worker with capacity 1 answering every dispatch at once; ${heights} heights (${heightsPerLink} per link) in one request; from the request until the summary reads every height done; heights per link counted from the dispatches each received`,
    };
  } finally {
    for (const link of links) link.socket.terminate();
    await cluster.stop();
  }
}

/** One link: hello, then every dispatch answered at once with all its heights done. */
function openLink(url: string, name: string): Promise<FleetLink> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const link: FleetLink = { socket, heights: 0 };
    socket.once('error', reject);
    socket.once('open', () => {
      socket.send(
        JSON.stringify({
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          name,
          queues: [QUEUE],
          capacity: 1,
        }),
      );
    });
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as ManagerFrame;
      if (frame.type === 'welcome') {
        socket.off('error', reject);
        resolve(link);
      } else if (frame.type === 'dispatch') {
        link.heights += heightsIn(frame.ranges ?? []);
        socket.send(JSON.stringify(resultsOf(frame)));
      }
    });
    socket.once('close', (code, reason) => {
      reject(new Error(`link ${name} closed: ${code} ${String(reason)}`));
    });
  });
}

function resultsOf(frame: DispatchFrame): ResultsFrame {
  return { type: 'results', lease: frame.lease, done: frame.ranges ?? [], failed: [] };
}

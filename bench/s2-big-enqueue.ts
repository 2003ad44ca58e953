/**
 * S2 big enqueue (docs/performance.md, "What each scenario measures"): 0..99,999,999 in one request
 * to a manager with no worker connected, so what is measured is the enqueue itself, not dispatch. A
 * small enqueue on another queue first warms the request path, as on any manager that has served
 * requests. Memory is the manager's VmRSS, the median of several samples before and after.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Cluster } from './cluster.js';
import { databaseSize, withClient } from './databases.js';
import { enqueue } from './manager-api.js';
import type { BenchOptions } from './options.js';
import { residentBytes } from './processes.js';
import type { S2Result } from './results.js';
import { median, round } from './stats.js';

const RSS_SAMPLES = 7;
const RSS_SAMPLE_GAP_MS = 30;
/** After the answer: lets the write-behind and any allocation it triggered settle. */
const SETTLE_MS = 500;

export async function runS2(options: BenchOptions): Promise<S2Result> {
  const heights = options.s2.heights;
  const cluster = await Cluster.start(options.adminUrl, 's2', options.cpuProfDir);
  try {
    await enqueue(cluster.url, 's2-warmup', { from: 0, to: 999 });
    return await withClient(cluster.database.url, async (client) => {
      const databaseBytesBefore = await databaseSize(client);
      const rssSamplesBefore = await sampleRss(cluster.manager.pid);

      const started = performance.now();
      const answer = await enqueue(cluster.url, 's2-big', { from: 0, to: heights - 1 });
      const requestMs = performance.now() - started;
      if (answer.added !== heights) {
        throw new Error(`enqueue added ${answer.added} heights, expected ${heights}`);
      }

      await delay(SETTLE_MS);
      cluster.assertRunning();
      const rssSamplesAfter = await sampleRss(cluster.manager.pid);
      const databaseBytesAfter = await databaseSize(client);
      const rssBytesBefore = median(rssSamplesBefore);
      const rssBytesAfter = median(rssSamplesAfter);
      return {
        database: cluster.database.name,
        heights,
        added: answer.added,
        requestMs: round(requestMs),
        databaseBytesBefore,
        databaseBytesAfter,
        databaseGrowthBytes: databaseBytesAfter - databaseBytesBefore,
        rssBytesBefore,
        rssBytesAfter,
        rssGrowthBytes: rssBytesAfter - rssBytesBefore,
        rssSamplesBefore,
        rssSamplesAfter,
        measured: `POST {from:0,to:${heights - 1}} round trip (answered once committed), after a warm-up enqueue of 1,000 heights on another queue, no worker connected; pg_database_size before and after; manager VmRSS median of ${RSS_SAMPLES} samples ${RSS_SAMPLE_GAP_MS} ms apart, before and ${SETTLE_MS} ms after the answer`,
      };
    });
  } finally {
    await cluster.stop();
  }
}

async function sampleRss(pid: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < RSS_SAMPLES; i++) {
    if (i > 0) await delay(RSS_SAMPLE_GAP_MS);
    samples.push(residentBytes(pid));
  }
  return samples;
}

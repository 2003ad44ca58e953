/**
 * `blockrunner status [--queue Q] [--watch] [--interval-ms 1000]`: one line per queue from
 * GET /v1/queues or /v1/queues/:queue; with --watch, again every interval until SIGINT.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { type Env, integer } from '../shared/config.js';
import { ApiClient, queuePath } from './api-client.js';
import { connectionFlags, connectionShape, parseClientArgs, queueName } from './client-options.js';

const schema = z.object({
  ...connectionShape,
  /** One queue only. Default unset: every queue. */
  '--queue': queueName(undefined),
  /** Pause between two polls with --watch. Default 1000. */
  '--interval-ms': integer(1_000, 50, 3_600_000),
});

const flags = {
  ...connectionFlags,
  queue: { type: 'string', short: 'q' },
  watch: { type: 'boolean' },
  'interval-ms': { type: 'string' },
} as const;

const count = z.number().int().min(0);

export const summarySchema = z.object({
  queue: z.string(),
  pending: count,
  leased: count,
  retrying: count,
  done: count,
  failed: count,
  watermark: z.number().nullable(),
  rate: z.number(),
});

export type QueueSummary = z.infer<typeof summarySchema>;

const allSchema = z.object({ queues: z.array(summarySchema) });

export async function status(args: string[], env: Env): Promise<void> {
  const { config, flags: set } = parseClientArgs('status', schema, flags, args, env);
  const queue = config['--queue'];
  const stop = new AbortController();
  const client = new ApiClient({
    url: config.BLOCKRUNNER_URL,
    token: config.BLOCKRUNNER_API_TOKEN,
    signal: stop.signal,
  });
  const poll = async (): Promise<{ lines: string[]; raw: string }> => {
    if (queue !== undefined) {
      const { body, raw } = await client.get(queuePath(queue), summarySchema);
      return { lines: statusLines([body]), raw };
    }
    const { body, raw } = await client.get('/v1/queues', allSchema);
    return { lines: statusLines(body.queues), raw };
  };
  const render = ({ lines, raw }: { lines: string[]; raw: string }) =>
    set.json ? [raw.trim()] : lines;

  if (!set.watch) {
    writeLines(render(await poll()));
    return;
  }

  // The first poll fails the command (wrong URL or token); later ones are shown and retried,
  // since a manager restarting or failing over is what one watches for.
  const screen = new Screen(process.stdout.isTTY === true && !set.json);
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    screen.draw(render(await poll()));
    while (!stop.signal.aborted) {
      await sleep(config['--interval-ms'], undefined, { signal: stop.signal });
      try {
        screen.draw(render(await poll()));
      } catch (error) {
        if (stop.signal.aborted) break;
        screen.draw([`blockrunner status: ${(error as Error).message} (retrying)`]);
      }
    }
  } catch (error) {
    // SIGINT is how a watch ends: exit 0.
    if (!stop.signal.aborted) throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function writeLines(lines: string[]): void {
  process.stdout.write(lines.map((line) => `${line}\n`).join(''));
}

/** Redraws in place on a terminal (cursor up, clear each line); appends lines when piped. */
export class Screen {
  private drawn = 0;

  constructor(private readonly tty: boolean) {}

  draw(lines: string[]): void {
    process.stdout.write(this.frame(lines));
  }

  frame(lines: string[]): string {
    if (!this.tty) return lines.map((line) => `${line}\n`).join('');
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    this.drawn = lines.length;
    // \r and ESC[2K clear each line before it is rewritten; ESC[J drops lines left from a taller frame.
    return `${up}${lines.map((line) => `\r\x1b[2K${line}\n`).join('')}\x1b[J`;
  }
}

/**
 * One line per queue: `name  done/total  pct%  pending N  leased N  retrying N  failed N
 * watermark H  rate R/s`, where total counts every height ever enqueued.
 */
export function statusLines(summaries: readonly QueueSummary[]): string[] {
  if (summaries.length === 0)
    return ['no queues yet (add heights with blockrunner enqueue 0..9999)'];
  const width = Math.max(...summaries.map((s) => s.queue.length));
  return summaries.map((s) => {
    const total = s.pending + s.leased + s.retrying + s.done + s.failed;
    return [
      s.queue.padEnd(width),
      `${s.done}/${total}`,
      percent(s.done, total),
      `pending ${s.pending}`,
      `leased ${s.leased}`,
      `retrying ${s.retrying}`,
      `failed ${s.failed}`,
      `watermark ${s.watermark ?? '-'}`,
      `rate ${formatRate(s.rate)}/s`,
    ].join('  ');
  });
}

/** Rounded down, so 99.99% done never reads 100.0%. */
export function percent(done: number, total: number): string {
  if (total === 0) return '-';
  return `${(Math.floor((done * 1000) / total) / 10).toFixed(1)}%`;
}

function formatRate(rate: number): string {
  return rate >= 100 || rate === 0 ? String(Math.round(rate)) : rate.toFixed(1);
}

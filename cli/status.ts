/**
 * `blockrunner status [--queue Q] [--watch] [--interval-ms 1000] [--json]`: one line per queue
 * from GET /v1/queues or /v1/queues/:queue; with --watch, again every interval until SIGINT:
 * on a terminal a progress bar per queue redrawn in place, piped the same plain lines again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { QueueSummary } from '../shared/api-schemas.js';
import { Client } from '../shared/client.js';
import { type Env, integer } from '../shared/config.js';
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

export type { QueueSummary };

export async function status(args: string[], env: Env): Promise<void> {
  const { config, flags: set } = parseClientArgs('status', schema, flags, args, env);
  const queue = config['--queue'];
  const stop = new AbortController();
  const client = new Client({
    url: config.BLOCKRUNNER_URL,
    token: config.BLOCKRUNNER_API_TOKEN,
    signal: stop.signal,
  });
  const poll = async (): Promise<Poll> => {
    if (queue !== undefined) {
      const { body, raw } = await client.answers.summary(queue);
      return { summaries: [body], raw };
    }
    const { body, raw } = await client.answers.summaries();
    return { summaries: body.queues, raw };
  };

  if (!set.watch) {
    const { summaries, raw } = await poll();
    writeLines(set.json ? [raw.trim()] : statusLines(summaries));
    return;
  }

  const tty = process.stdout.isTTY === true && !set.json;
  const header = `blockrunner status  ${config.BLOCKRUNNER_URL}  every ${seconds(config['--interval-ms'])}  (Ctrl-C to stop)`;
  const columns = () => process.stdout.columns || 80;
  const render = ({ summaries, raw }: Poll): string[] => {
    if (set.json) return [raw.trim()];
    return tty ? [header, ...progressLines(summaries, columns())] : statusLines(summaries);
  };
  // The first poll fails the command (wrong URL or token); later ones are shown and retried,
  // since a manager restarting or failing over is what one watches for.
  const screen = new Screen(tty, columns);
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (tty) process.stdout.write(HIDE_CURSOR);
  try {
    screen.draw(render(await poll()));
    while (!stop.signal.aborted) {
      await sleep(config['--interval-ms'], undefined, { signal: stop.signal });
      try {
        screen.draw(render(await poll()));
      } catch (error) {
        if (stop.signal.aborted) break;
        const problem = `blockrunner status: ${(error as Error).message} (retrying)`;
        screen.draw(tty ? [header, problem] : [problem]);
      }
    }
  } catch (error) {
    // SIGINT is how a watch ends: exit 0.
    if (!stop.signal.aborted) throw error;
  } finally {
    if (tty) process.stdout.write(SHOW_CURSOR);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

interface Poll {
  summaries: QueueSummary[];
  /** The answer as sent, for --json. */
  raw: string;
}

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

function writeLines(lines: string[]): void {
  process.stdout.write(lines.map((line) => `${line}\n`).join(''));
}

/** Redraws in place on a terminal (cursor up, clear each line); appends lines when piped. */
export class Screen {
  private drawn = 0;

  constructor(
    private readonly tty: boolean,
    /** Terminal width, read at each frame (the window may be resized). */
    private readonly columns: () => number = () => 80,
  ) {}

  draw(lines: string[]): void {
    process.stdout.write(this.frame(lines));
  }

  frame(lines: string[]): string {
    if (!this.tty) return lines.map((line) => `${line}\n`).join('');
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    this.drawn = lines.length;
    // A line that wraps would take two rows and throw the cursor-up count off: cut it.
    const width = Math.max(1, this.columns() - 1);
    const cut = (line: string) => (line.length > width ? line.slice(0, width) : line);
    // \r and ESC[2K clear each line before it is rewritten; ESC[J drops lines left from a taller frame.
    return `${up}${lines.map((line) => `\r\x1b[2K${cut(line)}\n`).join('')}\x1b[J`;
  }
}

const BAR_MIN = 10;
const BAR_MAX = 40;
/** Eighths of a cell, so a bar moves before a whole cell is done. */
const PARTIAL = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/**
 * One line per queue for a terminal: `name [████▌     ] 45.6%  done/total  rate/s  ETA  watermark
 * failed`, then head, lag and pause as in statusLines. The bar takes what the widest line leaves
 * of `columns`, between 10 and 40 cells.
 */
export function progressLines(summaries: readonly QueueSummary[], columns: number): string[] {
  if (summaries.length === 0) return statusLines([]);
  const width = Math.max(...summaries.map((s) => s.queue.length));
  const rows = summaries.map((s) => {
    const total = s.pending + s.leased + s.retrying + s.done + s.failed;
    const remaining = s.pending + s.leased + s.retrying;
    const tail = [
      percent(s.done, total).padStart(6),
      `${grouped(s.done)}/${grouped(total)}`,
      `${grouped(Math.round(s.rate))}/s`,
      remaining === 0 ? 'done' : `ETA ${eta(remaining, s.rate)}`,
      `watermark ${s.watermark === null ? '-' : grouped(s.watermark)}`,
      `failed ${grouped(s.failed)}`,
      ...chainParts(s, grouped),
    ].join('  ');
    return { name: s.queue.padEnd(width), fraction: total === 0 ? 0 : s.done / total, tail };
  });
  const widest = Math.max(...rows.map((row) => row.name.length + row.tail.length));
  // name, space, [bar], space, tail, and one column spare so the line never wraps.
  const cells = Math.min(BAR_MAX, Math.max(BAR_MIN, columns - widest - 5));
  return rows.map((row) => `${row.name} [${bar(row.fraction, cells)}] ${row.tail}`);
}

/** `fraction` of `cells` filled, in eighths; always exactly `cells` characters. */
export function bar(fraction: number, cells: number): string {
  const eighths = Math.floor(Math.min(1, Math.max(0, fraction)) * cells * 8);
  const full = Math.floor(eighths / 8);
  const part = PARTIAL[eighths % 8] ?? '';
  return `${'█'.repeat(full)}${part}`.padEnd(cells, ' ');
}

/** Time left at `rate` per second: `42s`, `3m05s`, `2h07m`, `3d04h`; `-` when stalled. */
export function eta(remaining: number, rate: number): string {
  if (remaining <= 0) return '0s';
  if (rate <= 0) return '-';
  const total = Math.ceil(remaining / rate);
  const two = (n: number) => String(n).padStart(2, '0');
  if (total < 60) return `${total}s`;
  if (total < 3_600) return `${Math.floor(total / 60)}m${two(total % 60)}s`;
  if (total < 86_400) return `${Math.floor(total / 3_600)}h${two(Math.floor(total / 60) % 60)}m`;
  return `${Math.floor(total / 86_400)}d${two(Math.floor(total / 3_600) % 24)}h`;
}

/** 1234567 -> 1,234,567: long heights are read at a glance. */
function grouped(n: number): string {
  return n.toLocaleString('en-US');
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * One line per queue: `name  done/total  pct%  pending N  leased N  retrying N  failed N
 * watermark H  rate R/s`, where total counts every height ever enqueued, then `head H  lag L`
 * and `paused (reason)` when they apply.
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
      ...chainParts(s, String),
    ].join('  ');
  });
}

/**
 * `head H  lag L` for a queue with a chain head (docs/chains.md), `paused (reason)` for a
 * paused one; nothing for the others, whose lines stay as they were.
 */
function chainParts(s: QueueSummary, number: (n: number) => string): string[] {
  const parts: string[] = [];
  if (s.head !== undefined) {
    parts.push(
      `head ${number(s.head)}`,
      `lag ${s.lag === null || s.lag === undefined ? '-' : number(s.lag)}`,
    );
  }
  if (s.state === 'paused') {
    const reason = s.pausedReason?.replace(/\s+/g, ' ').trim();
    parts.push(reason ? `paused (${reason})` : 'paused');
  }
  return [...parts, ...settingsParts(s)];
}

/**
 * The settings that differ from the defaults (docs/api.md, "Queue settings"): `priority P`,
 * `range R`, `budget B/s` with the effective rate when lower, `max in flight M`.
 */
function settingsParts(s: QueueSummary): string[] {
  const settings = s.settings;
  if (!settings) return [];
  const parts: string[] = [];
  if (settings.priority !== 0) parts.push(`priority ${settings.priority}`);
  if (settings.rangeSize !== 1) parts.push(`range ${settings.rangeSize}`);
  const effective = s.effectiveRate ?? null;
  if (settings.ratePerSecond !== null) {
    const lowered = effective !== null && effective < settings.ratePerSecond;
    parts.push(
      lowered
        ? `budget ${formatRate(settings.ratePerSecond)}/s (now ${formatRate(effective)}/s)`
        : `budget ${formatRate(settings.ratePerSecond)}/s`,
    );
  } else if (effective !== null) {
    parts.push(`backed off to ${formatRate(effective)}/s`);
  }
  if (settings.maxInFlight !== null) parts.push(`max in flight ${settings.maxInFlight}`);
  return parts;
}

/** Rounded down, so 99.99% done never reads 100.0%. */
export function percent(done: number, total: number): string {
  if (total === 0) return '-';
  return `${(Math.floor((done * 1000) / total) / 10).toFixed(1)}%`;
}

function formatRate(rate: number): string {
  return rate >= 100 || rate === 0 ? String(Math.round(rate)) : rate.toFixed(1);
}

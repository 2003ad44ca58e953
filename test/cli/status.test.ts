import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bar,
  eta,
  percent,
  progressLines,
  type QueueSummary,
  Screen,
  statusLines,
} from '../../cli/status.js';
import { waitFor } from '../helpers/wait.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

describe('statusLines', () => {
  it('pads queue names and shows a missing watermark as -', () => {
    expect(
      statusLines([
        {
          queue: 'a',
          pending: 1,
          leased: 2,
          retrying: 3,
          done: 4,
          failed: 0,
          watermark: null,
          rate: 2.25,
          state: 'active',
        },
        {
          queue: 'longer',
          pending: 0,
          leased: 0,
          retrying: 0,
          done: 9,
          failed: 1,
          watermark: 8,
          rate: 0,
          state: 'active',
        },
      ]),
    ).toEqual([
      'a       4/10  40.0%  pending 1  leased 2  retrying 3  failed 0  watermark -  rate 2.3/s',
      'longer  9/10  90.0%  pending 0  leased 0  retrying 0  failed 1  watermark 8  rate 0/s',
    ]);
  });

  it('says so when there is no queue', () => {
    expect(statusLines([])).toEqual([expect.stringMatching(/^no queues yet/)]);
  });
});

describe('percent', () => {
  it('rounds down, so an unfinished queue never reads 100%', () => {
    expect(percent(99_999, 100_000)).toBe('99.9%');
    expect(percent(100_000, 100_000)).toBe('100.0%');
    expect(percent(1, 3)).toBe('33.3%');
    expect(percent(0, 0)).toBe('-');
  });
});

describe('Screen', () => {
  it('appends plain lines when not a terminal', () => {
    const screen = new Screen(false);
    expect(screen.frame(['a', 'b'])).toBe('a\nb\n');
    expect(screen.frame(['c'])).toBe('c\n');
  });

  it('redraws in place on a terminal: cursor up over the last frame, clear, rewrite', () => {
    const screen = new Screen(true);
    expect(screen.frame(['a', 'b'])).toBe('\r\x1b[2Ka\n\r\x1b[2Kb\n\x1b[J');
    expect(screen.frame(['c'])).toBe('\x1b[2A\r\x1b[2Kc\n\x1b[J');
  });
});

const queue = (fields: Partial<QueueSummary> = {}): QueueSummary => ({
  state: 'active',
  queue: 'default',
  pending: 0,
  leased: 0,
  retrying: 0,
  done: 0,
  failed: 0,
  watermark: null,
  rate: 0,
  ...fields,
});

describe('progressLines', () => {
  it('draws a bar, done/total, rate, ETA, watermark and failed per queue, fitted to the width', () => {
    const lines = progressLines(
      [
        queue({ pending: 4_000, leased: 170, done: 5_830, watermark: 5_829, rate: 1_234.4 }),
        queue({ queue: 'eth-receipts', done: 100, failed: 2, rate: 0 }),
      ],
      100,
    );
    expect(lines).toEqual([
      'default      [███████████        ]  58.3%  5,830/10,000  1,234/s  ETA 4s  watermark 5,829  failed 0',
      'eth-receipts [██████████████████▋]  98.0%  100/102  0/s  done  watermark -  failed 2',
    ]);
    for (const line of lines) expect(line.length).toBeLessThan(100);
  });

  it('keeps the bar between 10 and 40 cells whatever the width', () => {
    const cells = (columns: number) =>
      /\[(.*)\]/.exec(progressLines([queue({ pending: 1, done: 1 })], columns)[0] as string)?.[1]
        ?.length;
    expect(cells(20)).toBe(10);
    expect(cells(500)).toBe(40);
  });

  it('says when nothing moves, and when there is no queue', () => {
    expect(progressLines([queue({ pending: 5 })], 80)[0]).toContain('  0.0%  0/5  0/s  ETA -  ');
    expect(progressLines([], 80)).toEqual([expect.stringMatching(/^no queues yet/)]);
  });
});

describe('bar', () => {
  it('fills in eighths of a cell and always has the same width', () => {
    expect(bar(0, 4)).toBe('    ');
    expect(bar(1 / 32, 4)).toBe('▏   ');
    expect(bar(0.5, 4)).toBe('██  ');
    expect(bar(0.99, 4)).toBe('███▉');
    expect(bar(1, 4)).toBe('████');
    expect(bar(2, 4)).toBe('████');
  });
});

describe('eta', () => {
  it('reads as seconds, minutes, hours or days', () => {
    expect(eta(10, 4)).toBe('3s');
    expect(eta(185, 1)).toBe('3m05s');
    expect(eta(7_620, 1)).toBe('2h07m');
    expect(eta(100_000_000, 365)).toBe('3d04h');
    expect(eta(5, 0)).toBe('-');
  });
});

describe('Screen on a narrow terminal', () => {
  it('cuts lines to the width so that none wraps and the redraw stays in place', () => {
    const screen = new Screen(true, () => 6);
    expect(screen.frame(['abcdefgh'])).toBe('\r\x1b[2Kabcde\n\x1b[J');
  });
});

describe('status --watch under a pseudo-terminal (script from util-linux)', () => {
  const servers: Server[] = [];
  const scripts: ChildProcess[] = [];
  afterEach(async () => {
    for (const script of scripts.splice(0)) {
      if (script.exitCode === null && script.signalCode === null) script.kill('SIGKILL');
    }
    for (const server of servers.splice(0)) {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('redraws progress bars in place, then restores the cursor and exits 0 on SIGINT', async () => {
    let polls = 0;
    const server = createServer((_request, response) => {
      polls++;
      const done = Math.min(polls * 10, 100);
      const body = {
        queues: [queue({ pending: 100 - done, done, watermark: done - 1, rate: 10 })],
      };
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // exec: the shell that script starts becomes the command, so the signal below reaches it.
    const command = ['exec', process.execPath, CLI, 'status', '--watch', '--interval-ms', '50']
      .concat(['--url', `http://127.0.0.1:${port}`])
      .join(' ');
    // -e: exit with the command's status; -f: flush at once; -q: no "Script started" lines.
    const script = spawn('script', ['-qfec', command, '/dev/null'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LANG: 'C.UTF-8' },
    });
    scripts.push(script);
    let output = '';
    script.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((resolve) => script.on('close', resolve));
    await waitFor(() => polls >= 4 && output.split('\x1b[2A').length > 3, {
      timeoutMs: 10_000,
      intervalMs: 20,
      message: 'three redraws',
    });
    // script runs the command in its own session: signal the command itself, as Ctrl-C would.
    const children = readFileSync(`/proc/${script.pid}/task/${script.pid}/children`, 'utf8');
    const status = Number(children.trim().split(/\s+/)[0]);
    expect(status).toBeGreaterThan(0);
    process.kill(status, 'SIGINT');
    expect(await exited).toBe(0);

    expect(output.startsWith('\x1b[?25l')).toBe(true);
    expect(output).toContain('\x1b[?25h');
    // Each redraw goes back over the header and the queue line, clears and rewrites them.
    const frames = output.split('\x1b[2A').slice(1);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    for (const frame of frames) {
      const [header, line] = frame.split('\r\x1b[2K').slice(1);
      expect(header).toMatch(/^blockrunner status {2}http:\/\/127\.0\.0\.1:\d+ {2}every 50ms/);
      expect(line).toMatch(/^default \[[█▏▎▍▌▋▊▉ ]+\] +\d+\.\d% {2}\d+\/100 {2}10\/s {2}/);
    }
    const done = frames.map((frame) => Number(/ (\d+)\/100 /.exec(frame)?.[1]));
    expect(done.at(-1)).toBeGreaterThan(done[0] as number);
  });
});

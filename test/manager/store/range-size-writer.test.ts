/**
 * The writer of effective range sizes with a save function the test controls: one write at a
 * time, the latest size of a queue wins over the ones recorded while a write ran, a failed write
 * is logged at warn and the next change writes again, and a lost fence writes nothing quietly.
 */
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { RangeSizeWriter } from '../../../manager/store/range-size-writer.js';

interface Call {
  queue: string;
  size: number | null;
  finish(outcome: boolean | Error): void;
}

function setup() {
  const calls: Call[] = [];
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const writer = new RangeSizeWriter(
    (queue, size) =>
      new Promise<boolean>((resolve, reject) => {
        calls.push({
          queue,
          size,
          finish: (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)),
        });
      }),
    log,
  );
  return { writer, calls, lines };
}

/** Lets the writer's promise chain take its next step. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

it('writes one size at a time, and of the sizes recorded meanwhile only the latest', async () => {
  const { writer, calls } = setup();
  writer.record('logs', 2_500);
  writer.record('logs', 1_250);
  writer.record('blocks', 10);
  await turn();
  expect(calls.map(({ queue, size }) => [queue, size])).toEqual([['logs', 2_500]]);
  // Recorded while the first write runs: the later sizes replace the earlier ones.
  writer.record('logs', 1_000);
  writer.record('logs', null);
  calls[0]?.finish(true);
  await turn();
  calls[1]?.finish(true);
  await turn();
  calls[2]?.finish(true);
  await writer.flushed();
  // 1,250 and 1,000 were never written: each was replaced before its turn came.
  expect(calls.map(({ queue, size }) => [queue, size])).toEqual([
    ['logs', 2_500],
    ['logs', null],
    ['blocks', 10],
  ]);
});

it('logs a failed write at warn, goes on with the others, and writes again at the next change', async () => {
  const { writer, calls, lines } = setup();
  writer.record('logs', 500);
  writer.record('blocks', 20);
  await turn();
  calls[0]?.finish(new Error('connection terminated'));
  await turn();
  expect(calls.map(({ queue }) => queue)).toEqual(['logs', 'blocks']);
  calls[1]?.finish(true);
  await writer.flushed();
  const warned = lines.filter((line) => line.level === 40);
  expect(warned).toHaveLength(1);
  expect(warned[0]).toMatchObject({
    queue: 'logs',
    size: 500,
    msg: 'effective range size not written',
  });
  expect(JSON.stringify(warned[0]?.err)).toContain('connection terminated');

  writer.record('logs', 400);
  await turn();
  expect(calls.at(-1)).toMatchObject({ queue: 'logs', size: 400 });
  calls.at(-1)?.finish(true);
  await writer.flushed();
  expect(lines.filter((line) => line.level === 40)).toHaveLength(1);
});

it('says at debug only that a manager no longer leading wrote nothing', async () => {
  const { writer, calls, lines } = setup();
  writer.record('logs', 300);
  await turn();
  calls[0]?.finish(false);
  await writer.flushed();
  expect(lines.map(({ level, msg }) => [level, msg])).toEqual([
    [20, 'effective range size not written: not leading'],
  ]);
});

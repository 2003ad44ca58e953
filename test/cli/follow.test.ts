/**
 * `blockrunner follow`, `blockrunner reorgs` and what `blockrunner status` shows of a chain, run
 * as the built command (`node dist/cli/main.js`) against a real manager on a test database and
 * a real anvil node, with a worker running the evm-blocks example handler (docs/chains.md).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sourceAnswerSchema } from '../../shared/api-schemas.js';
import { startAnvil, stopAllAnvils } from '../helpers/anvil.js';
import {
  mineWithTransfers,
  QUEUE,
  startChainWorker,
  waitForReverted,
  waitUntilIndexed,
} from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { type ManagerProcess, startManager, stopAll } from '../helpers/processes.js';
import { queueSummary, waitForQueue } from '../helpers/queues.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const CLI_TIMEOUT_MS = 30_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let running = 0;
const databases: TestDatabase[] = [];

/** The environment without anything that would point the CLI at another manager. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(BLOCKRUNNER_|DATABASE_URL$|HOST$|PORT$)/.test(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

/** Runs the command to its end (killed at the timeout, so none outlives its test). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  running++;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: cleanEnv(env), timeout: CLI_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        running--;
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

async function managerWithDatabase(): Promise<{ manager: ManagerProcess; db: TestDatabase }> {
  const db = await createTestDatabase();
  databases.push(db);
  const manager = await startManager({
    databaseUrl: db.url,
    env: { BLOCKRUNNER_RETRY_BASE_MS: '20', BLOCKRUNNER_RETRY_MAX_MS: '200' },
  });
  return { manager, db };
}

/** The summary's total: every height the queue ever had enqueued. */
const total = (s: {
  pending: number;
  leased: number;
  retrying: number;
  done: number;
  failed: number;
}) => s.pending + s.leased + s.retrying + s.done + s.failed;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
});

afterEach(async () => {
  await stopAll();
  await stopAllAnvils();
  for (const db of databases.splice(0)) await db.drop();
  expect(running, 'a CLI process outlived its test').toBe(0);
});

describe('blockrunner follow, reorgs and status against a real chain', () => {
  it('follows a node up to its head, lists a reorganisation, shows head, lag and pause, and stops', async () => {
    const anvil = await startAnvil();
    const { manager, db } = await managerWithDatabase();
    const env = { BLOCKRUNNER_URL: manager.url };
    const head = await mineWithTransfers(anvil, 20);
    const worker = await startChainWorker(manager, anvil, db, 'w1');

    // The line names the node as the manager shows it, and the first head (the command waits for it).
    const set = await cli(
      ['follow', '--queue', QUEUE, '--rpc', anvil.url, '--poll-ms', '100'],
      env,
    );
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(lines(set.stdout)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^queue ${QUEUE}: follows ${anvil.url}, head ${head}, lag (-|\\d+), state following$`,
        ),
      ),
    ]);
    // The queue fills up to the node's head, is indexed, and follows new blocks.
    await waitForQueue(manager.url, (s) => total(s) === head + 1, `0..${head} enqueued`, {
      queue: QUEUE,
    });
    const chain = { anvil, db, manager, workers: [worker] };
    await waitUntilIndexed(chain);
    const grown = await mineWithTransfers(anvil, 3);
    await waitUntilIndexed(chain);

    // A reorganisation, found from the hashes the handler reports, listed newest first.
    expect(lines((await cli(['reorgs', '-q', QUEUE], env)).stderr)).toEqual([
      `queue ${QUEUE}: no reorganisations`,
    ]);
    await anvil.reorg(3, 2);
    await mineWithTransfers(anvil, 1);
    const [recorded] = await waitForReverted(manager.url);
    await waitUntilIndexed(chain);
    const listed = await cli(['reorgs', '--queue', QUEUE, '--limit', '5'], env);
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(lines(listed.stdout)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  fork ${grown - 3}  depth ${recorded?.depth}  0x[0-9a-f]{6}…[0-9a-f]{4} → 0x[0-9a-f]{6}…[0-9a-f]{4}  reverted$`,
        ),
      ),
    ]);
    expect(JSON.parse((await cli(['reorgs', '-q', QUEUE, '--json'], env)).stdout)).toEqual({
      items: [recorded],
    });

    // Without the worker the watermark stays where it is while the head moves on: lag 5.
    await worker.stop();
    const indexed = await anvil.blockNumber();
    const moved = await mineWithTransfers(anvil, 5);
    await waitForQueue(manager.url, (s) => s.head === moved, `head ${moved}`, { queue: QUEUE });
    const status = await cli(['status'], env);
    expect(status).toMatchObject({ code: 0, stderr: '' });
    expect(lines(status.stdout)).toEqual([
      expect.stringMatching(
        new RegExp(`^${QUEUE} .*  watermark ${indexed}  rate \\S+/s  head ${moved}  lag 5$`),
      ),
    ]);

    // Paused by an operator: the status line says so, with the reason.
    await api(manager.url).post(`/v1/queues/${QUEUE}/pause`, { reason: 'node maintenance' });
    const paused = await cli(['status', '--queue', QUEUE], env);
    expect(lines(paused.stdout)).toEqual([
      expect.stringMatching(/ {2}head \d+ {2}lag 5 {2}paused \(node maintenance\)$/),
    ]);

    // --stop removes the source; what was enqueued stays.
    const stopped = await cli(['follow', '--queue', QUEUE, '--stop'], env);
    expect(stopped).toMatchObject({ code: 0, stderr: '' });
    expect(lines(stopped.stdout)).toEqual([
      `queue ${QUEUE}: stopped following; enqueued heights stay`,
    ]);
    expect(await api(manager.url).get(`/v1/queues/${QUEUE}/source`)).toMatchObject({
      status: 404,
      body: { code: 'BR_ERR_SOURCE_NOT_FOUND' },
    });
    expect(total(await queueSummary(manager.url, QUEUE))).toBe(moved + 1);
    const again = await cli(['follow', '--queue', QUEUE, '--stop'], env);
    expect(again.code).toBe(1);
    expect(lines(again.stderr)).toEqual([
      `blockrunner follow: BR_ERR_SOURCE_NOT_FOUND: queue "${QUEUE}" has no chain source`,
    ]);
  }, 120_000);

  it('sets a push source, whose pushed heads show in status; --json prints the answer', async () => {
    const { manager } = await managerWithDatabase();
    const env = { BLOCKRUNNER_URL: manager.url };
    const set = await cli(['follow', '-q', 'pushed', '--push', '--confirmations', '2'], env);
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(lines(set.stdout)).toEqual([
      'queue pushed: takes pushed heads, head -, lag -, state waiting for heads',
    ]);
    expect(
      (await api(manager.url).post('/v1/queues/pushed/head', { height: 41, hash: '0x29' })).body,
    ).toEqual({
      added: 40,
    });
    const status = await cli(['status', '-q', 'pushed'], env);
    expect(lines(status.stdout)).toEqual([
      'pushed  0/40  0.0%  pending 40  leased 0  retrying 0  failed 0  watermark -  rate 0/s  head 41  lag -',
    ]);
    // Queues without a chain head keep their line as it was.
    await api(manager.url).post('/v1/queues/plain/heights', { from: 0, to: 9 });
    expect(lines((await cli(['status', '-q', 'plain'], env)).stdout)).toEqual([
      'plain  0/10  0.0%  pending 10  leased 0  retrying 0  failed 0  watermark -  rate 0/s',
    ]);

    const json = await cli(['follow', '-q', 'pushed', '--push', '--json'], env);
    expect(json.code).toBe(0);
    expect(sourceAnswerSchema.parse(JSON.parse(json.stdout))).toMatchObject({
      queue: 'pushed',
      kind: 'push',
      confirmations: 0,
      head: 41,
    });
  });

  it('bad flags exit 2 with one line naming the flag, before any request', async () => {
    // Nothing listens here: a request would fail with exit 1 instead.
    const env = { BLOCKRUNNER_URL: 'http://127.0.0.1:9' };
    const cases: [string[], RegExp][] = [
      [['follow', '--rpc', 'http://127.0.0.1:8545'], /--queue is required/],
      [['follow', '-q', 'eth'], /pass --rpc URL, --push or --stop/],
      [['follow', '-q', 'eth', '--rpc', 'ftp://node'], /--rpc: expected an http:\/\/, https:\/\//],
      [
        ['follow', '-q', 'eth', '--rpc', 'http://a', '--push'],
        /--rpc and --push exclude each other/,
      ],
      [['follow', '-q', 'eth', '--stop', '--from', '7'], /--stop takes no --from/],
      [
        ['follow', '-q', 'eth', '--push', '--finality', '0'],
        /--finality: expected a whole number from 1 to 1000000/,
      ],
      [
        ['follow', '-q', 'eth', '--push', '--poll-ms', 'fast'],
        /--poll-ms: expected a whole number/,
      ],
      [['follow', '-q', 'eth', '--push', '--from=-1'], /--from: "-1": heights cannot be negative/],
      [['follow', '-q', 'Bad!', '--push'], /--queue: "Bad!"/],
      [['follow', '-q', 'eth', '--push', '--rpc-url', 'x'], /Unknown option '--rpc-url'/],
      [['reorgs'], /--queue is required/],
      [
        ['reorgs', '-q', 'eth', '--limit', '1001'],
        /--limit: expected a whole number from 1 to 1000/,
      ],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args, env);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout, args.join(' ')).toBe('');
      expect(lines(run.stderr), args.join(' ')).toEqual([expect.stringMatching(message)]);
      expect(run.stderr, args.join(' ')).toMatch(/^blockrunner: /);
    }
  });
});

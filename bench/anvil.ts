/**
 * A local EVM node for S5 and S7: anvil, the binary that the `@foundry-rs/anvil` dev dependency
 * ships, on a free port of 127.0.0.1, run as a BenchProcess (so an interrupted bench kills it).
 * It mines a block every `blockTime` seconds, or only when told (`mine`); `reorg` replaces the
 * top blocks with `anvil_reorg`. JSON-RPC goes through node:http with keep-alive, like
 * manager-api.ts and for the same reason: S7 polls the head every few milliseconds and times
 * what it sees.
 */

import { Agent, request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../shared/package-root.js';
import { freePort } from './cluster.js';
import { BenchProcess } from './processes.js';
import { waitUntil } from './wait.js';

/** States anvil keeps (`--prune-history`): the deepest `anvil_reorg` is one less. */
const KEPT_STATES = 128;
const START_TIMEOUT_MS = 15_000;
const RPC_TIMEOUT_MS = 30_000;

export interface AnvilSettings {
  /** Seconds between blocks anvil mines by itself; unset: `--no-mining`, blocks come from `mine`. */
  blockTime?: number;
}

/** A transfer between two of anvil's funded, unlocked dev accounts (by index). */
export interface Transfer {
  from: number;
  to: number;
  /** Wei. */
  value: bigint;
}

export class BenchAnvil {
  private nextId = 1;
  private accounts: string[] = [];
  private readonly agent = new Agent({ keepAlive: true });

  private constructor(
    readonly process: BenchProcess,
    readonly port: number,
  ) {}

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The same port: anvil serves WebSocket JSON-RPC (eth_subscribe) beside HTTP. */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Starts anvil and resolves once it answers `eth_blockNumber`. */
  static async start(label: string, settings: AnvilSettings = {}): Promise<BenchAnvil> {
    const port = await freePort();
    const args = [
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--prune-history',
      String(KEPT_STATES),
      '--silent',
      ...(settings.blockTime === undefined
        ? ['--no-mining']
        : ['--block-time', String(settings.blockTime)]),
    ];
    const child = new BenchProcess(`${label} anvil`, args, {}, packageRoot(), anvilBinary());
    const anvil = new BenchAnvil(child, port);
    try {
      await waitUntil(
        async () => {
          anvil.assertRunning();
          return anvil.rpc('eth_blockNumber', [], 1_000).then(
            () => true,
            () => false,
          );
        },
        { timeoutMs: START_TIMEOUT_MS, intervalMs: 50, message: `anvil on ${anvil.url} to answer` },
      );
      anvil.accounts = await anvil.rpc<string[]>('eth_accounts');
      return anvil;
    } catch (error) {
      await anvil.stop();
      throw new Error(`anvil did not start: ${(error as Error).message}`, {
        cause: new Error(child.describe()),
      });
    }
  }

  /** Throws, with its last output, when anvil has exited. */
  assertRunning(): void {
    if (this.process.exitStatus()) throw new Error(`anvil died: ${this.process.describe()}`);
  }

  /** One JSON-RPC call; an error answer rejects with its message and code. */
  rpc<T = unknown>(method: string, params: unknown[] = [], timeoutMs = RPC_TIMEOUT_MS): Promise<T> {
    const payload = JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method, params });
    return new Promise<T>((resolve, reject) => {
      const req = httpRequest(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
          },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            text += chunk;
          });
          response.on('error', reject);
          response.on('end', () => {
            try {
              const answer = JSON.parse(text) as {
                result?: T;
                error?: { code: number; message: string };
              };
              if (answer.error) {
                reject(
                  new Error(`${method}: ${answer.error.message} (JSON-RPC ${answer.error.code})`),
                );
              } else resolve(answer.result as T);
            } catch {
              reject(new Error(`${method}: HTTP ${response.statusCode}, ${text.slice(0, 200)}`));
            }
          });
        },
      );
      req.setTimeout(timeoutMs, () =>
        req.destroy(new Error(`${method}: no answer within ${timeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async blockNumber(): Promise<number> {
    return Number(await this.rpc<string>('eth_blockNumber'));
  }

  /** Mines `blocks` blocks in one call (`anvil_mine`). */
  async mine(blocks: number): Promise<void> {
    await this.rpc('anvil_mine', [hex(blocks)]);
  }

  /** Sends a transfer; with `--no-mining` it waits in the pool for the next mined block. */
  async send(transfer: Transfer): Promise<string> {
    return this.rpc<string>('eth_sendTransaction', [this.transaction(transfer)]);
  }

  /**
   * Replaces the top `depth` blocks with as many new ones (`anvil_reorg`, params
   * `[depth, [[tx, offset], ...]]`, offset 0 being the lowest replacement block): the head height
   * stays, the hashes of those blocks change.
   */
  async reorg(depth: number, transfers: { transfer: Transfer; offset: number }[]): Promise<void> {
    await this.rpc('anvil_reorg', [
      depth,
      transfers.map(({ transfer, offset }) => [this.transaction(transfer), offset]),
    ]);
  }

  /** The hashes of heights from..to on the node's chain now, lowest first. */
  async hashes(from: number, to: number): Promise<string[]> {
    const heights = Array.from({ length: to - from + 1 }, (_, i) => from + i);
    const blocks = await Promise.all(
      heights.map((height) =>
        this.rpc<{ hash: string } | null>('eth_getBlockByNumber', [hex(height), false]),
      ),
    );
    return blocks.map((block, i) => {
      if (!block) throw new Error(`anvil has no block ${heights[i]}`);
      return block.hash.toLowerCase();
    });
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    await this.process.stop(5_000);
  }

  private transaction({ from, to, value }: Transfer) {
    return { from: this.account(from), to: this.account(to), value: hex(value) };
  }

  private account(index: number): string {
    const address = this.accounts[index];
    if (address === undefined) throw new Error(`anvil has no dev account ${index}`);
    return address;
  }
}

/** The anvil executable inside the platform package that `@foundry-rs/anvil` installs. */
function anvilBinary(): string {
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];
  const name = `@foundry-rs/anvil-${process.platform}-${arch ?? process.arch}`;
  const require = createRequire(join(packageRoot(), 'package.json'));
  try {
    return require.resolve(`${name}/bin/anvil`);
  } catch (error) {
    throw new Error(`cannot find the anvil binary: ${name} is not installed (npm install)`, {
      cause: error,
    });
  }
}

function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}

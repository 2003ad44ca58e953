/**
 * When each block first appears on the node, seen from the bench (S7), two ways at once, the
 * earlier one counting: `eth_blockNumber` every HEAD_POLL_MS over a keep-alive connection, and
 * an `eth_subscribe("newHeads")` of the bench's own, which hears of a block as soon as anvil
 * tells anyone (a manager subscribed the same way can be no earlier). A block seen in a poll's
 * answer was not there when the poll before it was sent, so it was produced between that
 * request and this answer: the width of that window is kept with each block, and bounds how far
 * "first seen" can be from "produced". Anvil's own block timestamps are whole seconds, too
 * coarse to time against.
 */
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { BenchAnvil } from './anvil.js';

export const HEAD_POLL_MS = 2;

export interface Sighting {
  /** performance.timeOrigin + performance.now() when the bench first heard of it. */
  at: number;
  /**
   * From the poll before the one that showed it (which did not) to that poll's answer, in ms:
   * the block was produced in that window. The notification may come earlier still.
   */
  windowMs: number;
  /** How it was first heard of. */
  by: 'poll' | 'newHeads';
}

export class HeadWatch {
  readonly seen = new Map<number, Sighting>();
  private stopped = false;
  private failure: Error | undefined;
  private readonly done: Promise<void>;

  private constructor(
    private readonly anvil: BenchAnvil,
    private head: number,
    private readonly socket: WebSocket,
  ) {
    socket.on('message', (data) => this.notified(data.toString()));
    socket.on('close', () => {
      if (!this.stopped) this.failure ??= new Error('the newHeads subscription closed');
    });
    this.done = this.loop().catch((error: unknown) => {
      this.failure = error instanceof Error ? error : new Error(String(error));
    });
  }

  /** Starts watching from the node's head now: only blocks above it are timed. */
  static async start(anvil: BenchAnvil): Promise<HeadWatch> {
    const socket = new WebSocket(anvil.wsUrl);
    socket.on('error', () => {});
    await once(socket, 'open');
    socket.send(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }),
    );
    const [answer] = (await once(socket, 'message')) as [Buffer];
    if (!(JSON.parse(answer.toString()) as { result?: string }).result) {
      socket.terminate();
      throw new Error(`anvil refused eth_subscribe newHeads: ${answer.toString().slice(0, 200)}`);
    }
    return new HeadWatch(anvil, await anvil.blockNumber(), socket);
  }

  /** The last head seen. */
  get latest(): number {
    return this.head;
  }

  /** Throws when polling failed (anvil died, or stopped answering). */
  assertWatching(): void {
    if (this.failure) throw new Error(`watching the head failed: ${this.failure.message}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.socket.terminate();
    await this.done;
  }

  private notified(text: string): void {
    const at = now();
    const note = JSON.parse(text) as { params?: { result?: { number?: string } } };
    const number = note.params?.result?.number;
    if (number === undefined) return;
    const height = Number.parseInt(number, 16);
    if (height > this.head && !this.seen.has(height)) {
      this.seen.set(height, { at, windowMs: Number.NaN, by: 'newHeads' });
    }
  }

  private async loop(): Promise<void> {
    let askedBefore = now();
    while (!this.stopped) {
      const asked = now();
      const head = await this.anvil.blockNumber();
      const at = now();
      for (let height = this.head + 1; height <= head; height++) {
        const heard = this.seen.get(height);
        // Heard first from the subscription: keep that time, with this poll's window.
        this.seen.set(height, {
          at: heard ? Math.min(heard.at, at) : at,
          windowMs: at - askedBefore,
          by: heard && heard.at < at ? 'newHeads' : 'poll',
        });
      }
      if (head > this.head) this.head = head;
      askedBefore = asked;
      await delay(HEAD_POLL_MS);
    }
  }
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The few JSON-RPC calls an evm source makes (docs/chains.md): the head block and the block at
 * a height, over HTTP. Every answer is validated; every failure is an RpcError whose `kind`
 * says what went wrong, so the source can report it and retry instead of crashing or trusting a
 * malformed answer.
 */
import { z } from 'zod';
import { RpcError } from '../../shared/errors.js';

const hexQuantity = z.string().regex(/^0x[0-9a-fA-F]{1,16}$/, 'expected a hex quantity');
const hash32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'expected a 32-byte hex hash');

const blockSchema = z.object({
  number: hexQuantity,
  hash: hash32,
  parentHash: hash32,
});

const responseSchema = z.union([
  z.object({ jsonrpc: z.literal('2.0'), id: z.number(), result: z.unknown() }),
  z.object({
    jsonrpc: z.literal('2.0'),
    id: z.number().nullable(),
    error: z.object({ code: z.number(), message: z.string() }),
  }),
]);

export interface BlockHeader {
  height: number;
  hash: string;
  parentHash: string;
}

export interface EvmRpcOptions {
  url: string;
  /** Longest wait for one answer. Default 10 s. */
  timeoutMs?: number;
}

/** Largest answer read from a node: a block header without transactions is about 1 kB. */
const MAX_ANSWER_BYTES = 1024 * 1024;

export class EvmRpc {
  private nextId = 1;
  private readonly timeoutMs: number;

  constructor(private readonly options: EvmRpcOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The node's newest block. */
  async head(signal?: AbortSignal): Promise<BlockHeader> {
    const block = await this.block('latest', signal);
    if (!block) throw new RpcError('eth_getBlockByNumber("latest") answered null', 'malformed');
    return block;
  }

  /** The node's canonical block at `height`, or undefined when it has none (above its head). */
  async blockAt(height: number, signal?: AbortSignal): Promise<BlockHeader | undefined> {
    return this.block(`0x${height.toString(16)}`, signal);
  }

  private async block(tag: string, signal?: AbortSignal): Promise<BlockHeader | undefined> {
    const result = await this.call('eth_getBlockByNumber', [tag, false], signal);
    if (result === null) return undefined;
    const parsed = blockSchema.safeParse(result);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RpcError(
        `eth_getBlockByNumber(${tag}): ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'unexpected block'}`,
        'malformed',
      );
    }
    const height = Number.parseInt(parsed.data.number, 16);
    if (!Number.isSafeInteger(height)) throw new RpcError('block number out of range', 'malformed');
    return {
      height,
      hash: parsed.data.hash.toLowerCase(),
      parentHash: parsed.data.parentHash.toLowerCase(),
    };
  }

  private async call(method: string, params: unknown[], signal?: AbortSignal): Promise<unknown> {
    const id = this.nextId++;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let response: Response;
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      if (timeout.aborted)
        throw new RpcError(`${method}: no answer within ${this.timeoutMs} ms`, 'timeout');
      const cause = (error as { cause?: { code?: string } }).cause;
      throw new RpcError(
        `${method}: ${cause?.code ?? (error as Error).message}`,
        'unreachable',
        undefined,
        {
          cause: error,
        },
      );
    }
    if (response.status === 429) {
      await response.body?.cancel();
      throw new RpcError(`${method}: HTTP 429`, 'rate_limited', retryAfterMs(response.headers));
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new RpcError(`${method}: HTTP ${response.status}`, 'http_error');
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new RpcError(`${method}: answer cut off`, 'unreachable', undefined, { cause: error });
    }
    if (text.length > MAX_ANSWER_BYTES)
      throw new RpcError(`${method}: answer too large`, 'malformed');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new RpcError(`${method}: answer is not JSON`, 'malformed');
    }
    const parsed = responseSchema.safeParse(json);
    if (!parsed.success) throw new RpcError(`${method}: not a JSON-RPC answer`, 'malformed');
    if ('error' in parsed.data) {
      const { code, message } = parsed.data.error;
      // -32005 is what several providers answer when a plan's request rate is exceeded.
      const kind = code === -32005 || code === 429 ? 'rate_limited' : 'rpc_error';
      throw new RpcError(`${method}: ${code} ${message.slice(0, 200)}`, kind);
    }
    if (parsed.data.id !== id)
      throw new RpcError(`${method}: answer for another request`, 'malformed');
    return parsed.data.result;
  }
}

function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 600_000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.min(date - Date.now(), 600_000));
}

/** An RPC URL for logs and answers: scheme and host only, since paths often hold API keys. */
export function displayRpcUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const hidden = parsed.pathname.length > 1 || parsed.search ? '/…' : '';
    return `${parsed.protocol}//${parsed.host}${hidden}`;
  } catch {
    return '[unparseable url]';
  }
}

/**
 * BullMQ needs Redis on 127.0.0.1. When none answers and redis-server is installed, the bench
 * starts one that keeps nothing on disk; when that is impossible, BullMQ is reported as not run
 * with the reason, never dropped silently.
 */
import { execFile } from 'node:child_process';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import { waitUntil } from './wait.js';

const run = promisify(execFile);

export type RedisCheck = { ok: true; started: boolean } | { ok: false; reason: string };

/** True when a PING on host:port answers +PONG within a second. */
export async function redisAnswers(host: string, port: number): Promise<boolean> {
  return (await redisCommand(host, port, 'PING')) === 'PONG';
}

/** `redis_version` from INFO server, or undefined when Redis does not answer. */
export function redisVersion(host: string, port: number): Promise<string | undefined> {
  return redisInfoField(host, port, 'server', 'redis_version');
}

/** One field of INFO <section>, or undefined when Redis does not answer or lacks it. */
export async function redisInfoField(
  host: string,
  port: number,
  section: string,
  field: string,
): Promise<string | undefined> {
  const info = await redisCommand(host, port, `INFO ${section}`);
  return info === undefined
    ? undefined
    : new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/**
 * Sends one inline command and returns its reply: the text of a simple string (+) or of a bulk
 * string ($); undefined for anything else, an error, or no answer within a second. Enough for
 * PING and INFO without a client library in the bench's own process.
 */
function redisCommand(host: string, port: number, command: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = Buffer.alloc(0);
    const done = (text: string | undefined) => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(1_000, () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      const headerEnd = reply.indexOf('\r\n');
      if (headerEnd === -1) return;
      const header = reply.subarray(0, headerEnd).toString('latin1');
      if (header.startsWith('+')) return done(header.slice(1));
      if (!header.startsWith('$')) return done(undefined);
      const length = Number(header.slice(1));
      if (length < 0) return done(undefined);
      const body = reply.subarray(headerEnd + 2);
      if (body.length >= length) done(body.subarray(0, length).toString('utf8'));
    });
    socket.connect(port, host, () => socket.write(`${command}\r\n`));
  });
}

export async function ensureRedis(host: string, port: number): Promise<RedisCheck> {
  if (await redisAnswers(host, port)) return { ok: true, started: false };
  if (host !== '127.0.0.1') return { ok: false, reason: `no Redis answers at ${host}:${port}` };
  try {
    await run('redis-server', [
      '--daemonize',
      'yes',
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
  } catch (error) {
    return {
      ok: false,
      reason: `no Redis answers at ${host}:${port} and redis-server could not be started (${(error as Error).message.split('\n')[0]}); install it with apt-get install redis-server`,
    };
  }
  try {
    await waitUntil(() => redisAnswers(host, port), {
      timeoutMs: 5_000,
      intervalMs: 100,
      message: `the redis-server started on ${host}:${port} to answer PING`,
    });
    return { ok: true, started: true };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

#!/usr/bin/env node
/**
 * The `blockrunner` command (package.json `bin`). Picks the subcommand and turns failures into
 * one line and an exit code: 2 for usage errors (ConfigError: bad flag, variable or height;
 * unknown command), 1 for everything else. cli/usage.ts documents the same contract.
 */
import type { Env } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { commandUsage, USAGE } from './usage.js';

type Command = (args: string[], env: Env) => Promise<void>;

// Imported on use, so `blockrunner status` never loads the manager and help stays fast.
const commands: Record<string, Command> = {
  manager: async (args, env) => (await import('../manager/main.js')).main(args, env),
  worker: async (args, env) => (await import('../worker/main.js')).main(args, env),
  up: async (args, env) => (await import('./up.js')).up(args, env),
  enqueue: async (args, env) => (await import('./enqueue.js')).enqueue(args, env),
  status: async (args, env) => (await import('./status.js')).status(args, env),
  failed: async (args, env) => (await import('./dead-letters.js')).failed(args, env),
  retry: async (args, env) => (await import('./dead-letters.js')).retry(args, env),
  follow: async (args, env) => (await import('./follow.js')).follow(args, env),
  reorgs: async (args, env) => (await import('./reorgs.js')).reorgs(args, env),
  settings: async (args, env) => (await import('./settings.js')).settings(args, env),
  delete: async (args, env) => (await import('./delete.js')).deleteQueue(args, env),
};

const HELP_FLAGS = new Set(['--help', '-h']);

async function run(argv: string[], env: Env): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (name === 'help' || HELP_FLAGS.has(name)) {
    const topic = args[0];
    const text = topic === undefined ? USAGE : commandUsage(topic);
    if (text === undefined) return usageError(`unknown command "${topic}"`);
    process.stdout.write(text);
    return 0;
  }
  const command = commands[name];
  if (command === undefined) return usageError(`unknown command "${name}"`);
  // Before `--`, a help flag anywhere asks for help; after it, it would be a positional.
  const end = args.indexOf('--');
  if ((end === -1 ? args : args.slice(0, end)).some((arg) => HELP_FLAGS.has(arg))) {
    process.stdout.write(commandUsage(name) ?? USAGE);
    return 0;
  }
  try {
    await command(args, env);
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`blockrunner: ${oneLine(error.message)}\n`);
      return 2;
    }
    process.stderr.write(`blockrunner ${name}: ${oneLine(describe(error))}\n`);
    return 1;
  }
}

function usageError(message: string): number {
  process.stderr.write(`blockrunner: ${message} (blockrunner --help lists the commands)\n`);
  return 2;
}

/** The message with its causes, which carry the context an operator needs (SQLSTATE text, errno). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const parts = [error.message];
  let cause = error.cause;
  for (let depth = 0; cause instanceof Error && depth < 3; depth++) {
    if (!parts.join(': ').includes(cause.message)) parts.push(cause.message);
    cause = cause.cause;
  }
  return parts.join(': ');
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

const code = await run(process.argv.slice(2), process.env);
// Commands that keep running (manager, worker) return once started and leave the exit to
// their own signal handlers; the others end here.
if (code !== 0) process.exit(code);

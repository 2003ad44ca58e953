/**
 * Help texts: `blockrunner --help` and `blockrunner <command> --help`. The manager's and the
 * worker's flags are listed from their config schemas, so a new variable shows up here by
 * itself (its note belongs in MANAGER_NOTES or WORKER_NOTES); the client commands' are written
 * out and must follow cli/*.ts.
 */
import type { z } from 'zod';
import { managerConfigSchema } from '../manager/config.js';
import { flagName, parseConfig } from '../shared/config.js';
import { workerConfigSchema } from '../worker/config.js';

export const USAGE = `Usage: blockrunner <command> [flags]

Blockrunner distributes block heights to indexing workers.

Commands:
  up        a manager and local workers in one process tree, for a first run
  manager   run the manager (HTTP API, worker endpoint, queue state in PostgreSQL)
  worker    run a worker that connects to a manager and runs a handler per height
  enqueue   add heights and ranges to a queue: blockrunner enqueue 0..9999 42
  status    progress per queue, once or with --watch
  failed    list dead-lettered heights with their attempts and last error
  retry     requeue dead-lettered heights
  follow    make a queue follow a chain's head, enqueueing each new block
  reorgs    list a queue's chain reorganisations
  settings  show or change a queue's priority, range size, rate and in-flight bound
  delete    delete a queue with all its heights and history (needs --yes)
  help      this text; blockrunner <command> --help for a command's flags

Exit codes: 0 success; 1 failure (manager unreachable, API error, a process died);
2 usage error (unknown command, bad flag, bad environment variable, bad height).
`;

const CONNECTION_FLAGS = `  --url URL                 BLOCKRUNNER_URL, default http://127.0.0.1:8080
                            the manager's HTTP address
  --token TOKEN             BLOCKRUNNER_API_TOKEN, default none
                            sent as "Authorization: Bearer <token>"
  --json                    print the manager's JSON answer as is`;

const FLAGS_NOTE = 'Flags (a flag wins over the environment variable it mirrors):';

const CLIENT_USAGE: Record<string, string> = {
  enqueue: `Usage: blockrunner enqueue [--queue Q] [--force] HEIGHTS...

Adds heights to a queue in one request and prints "queue Q: added N, skipped M".
HEIGHTS are heights (7) or inclusive ranges (100..200), 0 to 2^53-1. Heights already
pending, leased or done are skipped, unless --force reprocesses the done ones.

${FLAGS_NOTE}
  -q, --queue Q             queue name (default "default")
  --force                   reprocess heights that are already done
${CONNECTION_FLAGS}

Example: blockrunner enqueue --queue eth 0..999999 1000042
`,
  status: `Usage: blockrunner status [--queue Q] [--watch] [--interval-ms MS]

Prints one line per queue: done/total, percent done, pending, leased, retrying,
failed, watermark (highest height done with no hole below it, "-" if none), and
done heights per second over the last minute; then, for a queue that follows a
chain, "head H lag L" (head minus watermark), and "paused (reason)" for a paused one.

${FLAGS_NOTE}
  -q, --queue Q             only this queue (default every queue)
  --watch                   repeat until Ctrl-C (exit 0); on a terminal, a
                            progress bar per queue with rate and ETA, redrawn
                            in place; piped, the lines above again each time;
                            errors after the first answer are shown and retried
  --interval-ms MS          pause between two polls (default 1000)
${CONNECTION_FLAGS}
`,
  failed: `Usage: blockrunner failed [--queue Q] [--limit N] [--after HEIGHT]

Lists dead-lettered heights, one line each: height, attempts, last error.

${FLAGS_NOTE}
  -q, --queue Q             queue name (default "default")
  --limit N                 at most N heights (default 100)
  --after HEIGHT            only heights above HEIGHT (next page)
${CONNECTION_FLAGS}
`,
  retry: `Usage: blockrunner retry [--queue Q] [--from A] [--to B]

Requeues dead-lettered heights (all of them, or those from A to B inclusive) with a
fresh attempt count, and prints "requeued N".

${FLAGS_NOTE}
  -q, --queue Q             queue name (default "default")
  --from A                  lowest height to requeue (default 0)
  --to B                    highest height to requeue (default 2^53-1)
${CONNECTION_FLAGS}
`,
  follow: `Usage: blockrunner follow --queue Q (--rpc URL | --push | --stop) [flags]

Sets the queue's chain source (creating the queue, replacing a source it has) and prints
one line: the queue, the node's URL as the manager shows it (scheme and host), the head,
the lag (head minus watermark, "-" while there is none) and the source's state. With
--rpc the manager polls the node and enqueues every height from --from up to the head
minus --confirmations, then each new block; the command waits up to --wait-ms for the
first head. With --push, heads come by POST /v1/queues/Q/head instead. With --stop, the
queue stops following; heights already enqueued stay. See docs/chains.md.

${FLAGS_NOTE}
  -q, --queue Q             queue name (required)
  --rpc URL                 the node's JSON-RPC URL: http://, https://, ws:// or
                            wss:// (ws: new heads by subscription)
  --push                    heads are pushed, there is no node to poll
  --stop                    stop following (DELETE the source)
  --from N                  lowest height to enqueue (default 0)
  --confirmations N         heights held back below the head (default 0)
  --finality N              heights below the head that a reorganisation may
                            still replace; their hashes are kept (default 64)
  --poll-ms MS              pause between two polls of the node (default 1000)
  --wait-ms MS              how long to wait for the first head (default 5000)
${CONNECTION_FLAGS}
                            (with --stop, nothing: the manager answers 204)

Example: blockrunner follow --queue eth --rpc http://127.0.0.1:8545 --confirmations 2
`,
  reorgs: `Usage: blockrunner reorgs --queue Q [--limit N]

Lists the queue's reorganisations, newest first, one line each: when it was detected,
the fork height (the highest height still on the chain), the depth, the old and new hash
above the fork (shortened), and "reverted" once the workers' revert of the orphaned
heights succeeded, "revert due" until then.

${FLAGS_NOTE}
  -q, --queue Q             queue name (required)
  --limit N                 at most N reorganisations (default 100, at most 1000)
${CONNECTION_FLAGS}
`,
  settings: `Usage: blockrunner settings --queue Q [--priority N] [--range-size N] [--rate R|none] [--max-in-flight N|none]

Changes the queue's settings and prints them all; with no change given, prints them.
Settings left out stay as they are; "none" removes a bound. They hold across every
worker together and survive restarts (docs/api.md, "Queue settings").

${FLAGS_NOTE}
  -q, --queue Q             queue name (required)
  --priority N              between queues a worker serves, higher first (default 0)
  --range-size N            heights per call of a range handler (default 1)
  --rate R|none             handler calls per second across all workers (default none)
  --max-in-flight N|none    heights leased at once across all workers (default none)
${CONNECTION_FLAGS}

Example: blockrunner settings --queue eth --rate 200 --max-in-flight 64
`,
  delete: `Usage: blockrunner delete --queue Q --yes

Deletes the queue: its heights, attempt history, dead letters, chain source, kept
hashes and reorganisations; workers holding its heights are told to cancel them.
Prints "queue Q: deleted". Enqueuing to Q afterwards starts a fresh queue. Without
--yes nothing is deleted (exit 2).

${FLAGS_NOTE}
  -q, --queue Q             queue name (required)
  -y, --yes                 confirm: delete it
${CONNECTION_FLAGS}
                            (nothing: the manager answers 204)

Example: blockrunner delete --queue eth --yes
`,
  up: `Usage: blockrunner up [--workers N] [--port PORT] [--host HOST]

Starts a manager and N local workers (this same CLI, same environment), waits until
the manager is ready and every worker is connected to it, and prints how to enqueue and
watch. Ctrl-C or SIGTERM stops the workers, then the manager (a second Ctrl-C kills
them); SIGHUP replaces the workers one at a time. Exits 2 on a bad setting, 1 if the
port or the data directory is in use or any process dies.

${FLAGS_NOTE}
  --workers N               local worker processes (default 2)
  --port PORT               PORT, default 8080
                            the manager's port
  --host HOST               HOST, default 127.0.0.1
                            the manager's interface
  --ready-timeout-ms MS     how long the manager may take to be ready
                            (default 60000)

The manager and workers also read every variable of "blockrunner manager --help" and
"blockrunner worker --help"; BLOCKRUNNER_HANDLER picks the workers' handler (default noop).
`,
};

/** One note per variable, required by the type: a variable added to a schema needs its note. */
type Notes<S extends z.ZodObject> = Record<keyof S['shape'] & string, string>;

const MANAGER_NOTES: Notes<typeof managerConfigSchema> = {
  DATABASE_URL:
    'PostgreSQL connection string: postgres://user:password@host:5432/db (or postgresql://, or a socket: ?host=/var/run/postgresql); unset: an embedded database under BLOCKRUNNER_DATA_DIR, for trying Blockrunner out',
  BLOCKRUNNER_DIRECT_DATABASE_URL:
    'a direct (session) connection for the leader and migration locks, when DATABASE_URL goes through a transaction pooler (PgBouncer pool_mode=transaction); unset: DATABASE_URL',
  BLOCKRUNNER_DATA_DIR: 'where local state lives',
  HOST: 'interface to listen on',
  PORT: 'HTTP and WebSocket port; 0 picks a free one',
  BLOCKRUNNER_API_TOKEN: 'when set, /v1 routes need "Authorization: Bearer <token>"',
  BLOCKRUNNER_WORKER_TOKEN: 'when set, workers must present it at the WebSocket upgrade',
  BLOCKRUNNER_LEASE_MS: 'how long a worker holds a height before the attempt fails',
  BLOCKRUNNER_MAX_ATTEMPTS: 'attempts before a height is dead-lettered',
  BLOCKRUNNER_RETRY_BASE_MS: 'backoff before the first retry, doubling per attempt',
  BLOCKRUNNER_RETRY_MAX_MS: 'longest backoff between two attempts',
  BLOCKRUNNER_SHUTDOWN_MS: 'on SIGTERM, how long running heights may take to report',
  BLOCKRUNNER_HEARTBEAT_MS: 'WebSocket ping interval; silent for two, a worker is dropped',
  BLOCKRUNNER_TLS_CERT:
    'PEM certificate file (the chain, leaf first); with --tls-key, serve HTTPS and wss:// on the same port; both or neither',
  BLOCKRUNNER_TLS_KEY: 'PEM private key file of --tls-cert',
  LOG_LEVEL: 'fatal, error, warn, info, debug, trace or silent',
};

const WORKER_NOTES: Notes<typeof workerConfigSchema> = {
  BLOCKRUNNER_MANAGER_URL: "the manager's WebSocket endpoints, comma-separated, tried in turn",
  BLOCKRUNNER_WORKER_TOKEN: 'presented at the upgrade when the manager wants one',
  BLOCKRUNNER_QUEUES: 'comma-separated queues to take heights from',
  BLOCKRUNNER_CONCURRENCY: 'handlers running at once',
  BLOCKRUNNER_PREFETCH: 'heights held beyond the running ones (default: the concurrency)',
  BLOCKRUNNER_HANDLER: 'noop, sleep, flaky, or a module path (.js; .ts on Node 22.18+)',
  BLOCKRUNNER_SLEEP_MS: 'how long the sleep handler sleeps per height',
  BLOCKRUNNER_FLAKY_RATE: 'share of attempts the flaky handler fails, 0 to 1',
  BLOCKRUNNER_WORKER_NAME: 'shown in GET /v1/workers (default <host name>-<process id>)',
  BLOCKRUNNER_SHUTDOWN_MS: 'on SIGTERM, how long running handlers may take before abort',
  BLOCKRUNNER_HEARTBEAT_MS: "the manager's ping interval; must match the manager's",
  BLOCKRUNNER_PROCESSES: 'worker processes; above 1, a supervisor restarts the ones that end',
  BLOCKRUNNER_MAX_JOBS: 'heights after which a worker exits 0 to be replaced; 0: never',
  BLOCKRUNNER_RESTART_LIMIT: 'crashes within the window the supervisor tolerates, then exits 1',
  BLOCKRUNNER_RESTART_WINDOW_MS: 'the window of --restart-limit',
  BLOCKRUNNER_HEALTH_PORT: 'serve GET /healthz and /readyz (linked to a manager) on this port',
  LOG_LEVEL: 'fatal, error, warn, info, debug, trace or silent',
};

/** Defaults that depend on the machine or on another variable, shown in the note instead. */
const NO_DEFAULT = new Set([
  'BLOCKRUNNER_API_TOKEN',
  'BLOCKRUNNER_WORKER_TOKEN',
  'BLOCKRUNNER_WORKER_NAME',
]);

const NOTE_INDENT = 28;
const LINE_WIDTH = 92;

/** `text` in lines of at most LINE_WIDTH columns, each indented by NOTE_INDENT. */
function wrapNote(text: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && NOTE_INDENT + line.length + 1 + word.length > LINE_WIDTH) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.map((l) => `${' '.repeat(NOTE_INDENT)}${l}`).join('\n');
}

/** One entry per variable of `schema`, its default read by parsing an empty environment. */
function variableRows<S extends z.ZodObject>(schema: S, notes: Notes<S>): string {
  const defaults: Record<string, unknown> = parseConfig(schema, {});
  const noted: Record<string, string> = notes;
  return Object.keys(schema.shape)
    .map((variable) => {
      const value = defaults[variable];
      const shown =
        value === undefined || NO_DEFAULT.has(variable) ? '' : `, default ${String(value)}`;
      const flag = `  --${flagName(variable)} VALUE`.padEnd(NOTE_INDENT - 1);
      return `${flag} ${variable}${shown}\n${wrapNote(noted[variable] ?? '')}`;
    })
    .join('\n');
}

function managerUsage(): string {
  return `Usage: blockrunner manager [flags]

Runs the manager: HTTP API and worker endpoint on one port, queue state in PostgreSQL.
Stops on SIGINT/SIGTERM after in-flight heights report.

${FLAGS_NOTE}
${variableRows(managerConfigSchema, MANAGER_NOTES)}
`;
}

function workerUsage(): string {
  return `Usage: blockrunner worker [flags]

Connects to a manager (reconnecting with backoff), runs the handler for every height it
is given, and reports the results. Stops on SIGINT/SIGTERM after handing back its heights.
With --processes N, runs N such workers as child processes and replaces any that ends
(see docs/workers.md); exits 1 when they crash more than --restart-limit times.

${FLAGS_NOTE}
${variableRows(workerConfigSchema, WORKER_NOTES)}
`;
}

/** The help text of `command`, or undefined for an unknown one. */
export function commandUsage(command: string): string | undefined {
  if (command === 'manager') return managerUsage();
  if (command === 'worker') return workerUsage();
  if (command === 'help') return USAGE;
  return CLIENT_USAGE[command];
}

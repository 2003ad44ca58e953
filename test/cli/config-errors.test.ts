/**
 * The built CLI (`node dist/cli/main.js`, built by `npm run build`) on bad configuration and
 * asking for help: a malformed DATABASE_URL stops `manager` and `up` with exit 2 and one line
 * naming the variable, its password never printed, before anything starts; so does a TLS file
 * that cannot be read, before the database is tried; every flag of `manager --help` and
 * `worker --help` says what it does.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { managerConfigSchema } from '../../manager/config.js';
import { flagName } from '../../shared/config.js';
import { workerConfigSchema } from '../../worker/config.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const TIMEOUT_MS = 20_000;
const PASSWORD = 'hunter2-s3cret';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end (killed at the timeout, so none outlives its test). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(BLOCKRUNNER_|DATABASE_URL$|PORT$)/.test(key)),
  );
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...base, ...env }, timeout: TIMEOUT_MS, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

describe('a malformed DATABASE_URL', () => {
  it('stops the manager with exit 2 and one line naming it', async () => {
    const run = await cli(['manager'], { DATABASE_URL: 'notaurl' });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(lines(run.stderr)).toEqual([
      'blockrunner: invalid configuration: DATABASE_URL: not a PostgreSQL URL (postgres://user:***@host:5432/db)',
    ]);
  });

  it('never prints the password, from the environment or from --database-url', async () => {
    const bad = `mysql://root:${PASSWORD}@db:3306/indexer`;
    for (const run of [
      await cli(['manager'], { DATABASE_URL: bad }),
      await cli(['manager', '--database-url', bad]),
    ]) {
      expect(run.code).toBe(2);
      expect(lines(run.stderr)).toHaveLength(1);
      expect(run.stderr).toMatch(/DATABASE_URL: expected postgres:\/\/ or postgresql:\/\//);
      expect(run.stderr + run.stdout).not.toContain(PASSWORD);
    }
  });

  it('stops up with exit 2 before it starts a manager', async () => {
    // PORT 1: were a manager started, it could not listen; up refuses before that.
    const run = await cli(['up', '--port', '1'], {
      DATABASE_URL: `postgres://u:${PASSWORD}@/indexer`,
    });
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toEqual([
      'blockrunner: invalid configuration: DATABASE_URL: no host (postgres://user:***@host:5432/db, or ?host=/var/run/postgresql for a socket)',
    ]);
    expect(run.stdout).toBe('');
  });
});

describe('a TLS file that cannot be read', () => {
  it('stops the manager with exit 2 and one line naming the variable and the file', async () => {
    // Port 1 of loopback refuses connections: were the database tried first, that would be the line.
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/blockrunner', PORT: '0' };
    const missing = await cli(['manager', '--tls-key', 'package.json'], {
      ...env,
      BLOCKRUNNER_TLS_CERT: '/nonexistent/blockrunner-cert.pem',
    });
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toEqual([
      'blockrunner: BLOCKRUNNER_TLS_CERT: cannot read /nonexistent/blockrunner-cert.pem: ENOENT',
    ]);
    // A directory where the key should be: the key's variable is named.
    const directory = await cli(
      ['manager', '--tls-cert', 'package.json', '--tls-key', 'docs'],
      env,
    );
    expect(directory.code).toBe(2);
    expect(lines(directory.stderr)).toEqual([
      'blockrunner: BLOCKRUNNER_TLS_KEY: cannot read docs: EISDIR',
    ]);
  });
});

describe('manager --help and worker --help', () => {
  it.each([
    ['manager', managerConfigSchema],
    ['worker', workerConfigSchema],
  ] as const)(
    '%s: every flag has a note, and no line is wider than 100 columns',
    async (command, schema) => {
      const run = await cli([command, '--help']);
      expect(run.code).toBe(0);
      const text = lines(run.stdout);
      for (const variable of Object.keys(schema.shape)) {
        const at = text.findIndex((line) => line.startsWith(`  --${flagName(variable)} VALUE `));
        expect(at, `--${flagName(variable)}`).toBeGreaterThan(-1);
        const note = text[at + 1] ?? '';
        // The note is the indented line below the flag, not the next flag.
        expect(note, `--${flagName(variable)} has no note`).toMatch(/^ {28}\S/);
      }
      for (const line of text) expect(line.length, line).toBeLessThanOrEqual(100);
    },
  );

  it('says what --tls-cert and --tls-key are', async () => {
    const run = await cli(['manager', '--help']);
    expect(run.stdout).toMatch(/--tls-cert VALUE +BLOCKRUNNER_TLS_CERT\n +PEM certificate file/);
    expect(run.stdout).toMatch(/--tls-key VALUE +BLOCKRUNNER_TLS_KEY\n +PEM private key file/);
  });
});

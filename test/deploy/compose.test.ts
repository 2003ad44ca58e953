/**
 * docker-compose.yml, resolved by Compose itself, against the CLI it starts: every command is
 * a real `blockrunner` command, every variable set in a Blockrunner container is one that the
 * command's config schema knows and accepts, tokens come from the environment, workers find the
 * manager, and the manager waits for a healthy PostgreSQL. Then the handler example's override
 * (examples/custom-handler/compose.handler.yml) merged over it: workers from the example's image,
 * built FROM the image the base file builds, with the handler where that image puts it. No
 * Docker engine is needed.
 */
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { managerConfigSchema } from '../../manager/config.js';
import { parseConfig } from '../../shared/config.js';
import { packageRoot } from '../../shared/package-root.js';
import { workerConfigSchema } from '../../worker/config.js';
import {
  BASE_COMPOSE,
  type ComposeFile,
  type ComposeService,
  commandOf,
  composeConfig,
  HANDLER_COMPOSE,
} from './compose.js';
import { all, execForm, last, parseCopy, parseEnv, readDockerfile } from './dockerfile.js';
import { runCommand } from './run-command.js';

const schemas = { manager: managerConfigSchema, worker: workerConfigSchema } as const;
const tokens = {
  BLOCKRUNNER_API_TOKEN: 'api-token-from-env',
  BLOCKRUNNER_WORKER_TOKEN: 'worker-token-from-env',
};

/** The Blockrunner services: built from this repository's Dockerfile. */
function blockrunnerServices(services: Record<string, ComposeService>) {
  return Object.entries(services).filter(([, service]) => service.build !== undefined);
}

function environment(service: ComposeService): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([key, value]) => [key, value ?? '']),
  );
}

describe('docker-compose.yml', () => {
  // docker-compose takes a second or two per run: resolve the file once with tokens, once without.
  let open: ComposeFile;
  let withTokens: ComposeFile;
  beforeAll(async () => {
    [open, withTokens] = await Promise.all([composeConfig(), composeConfig(tokens)]);
  });

  it('runs postgres, a manager that waits for it to be healthy, and scalable workers', () => {
    const { services } = open;
    expect(Object.keys(services).sort()).toEqual(['manager', 'postgres', 'worker']);
    expect(services.postgres?.healthcheck?.test?.join(' ')).toContain('pg_isready');
    expect(services.manager?.depends_on?.postgres).toEqual({ condition: 'service_healthy' });
    // --scale worker=4 needs no fixed container name and no host port.
    expect(services.worker?.container_name).toBeUndefined();
    expect(services.worker?.ports).toBeUndefined();
    // Workers are healthy while linked: /readyz on their health port, not the image's check.
    const workerCheck = services.worker?.healthcheck?.test?.join(' ') ?? '';
    const healthPort = services.worker?.environment?.BLOCKRUNNER_HEALTH_PORT;
    expect(workerCheck).toContain(`http://127.0.0.1:${healthPort}/readyz`);
    expect(services.manager?.ports).toEqual(['127.0.0.1:8080:8080/tcp']);
  });

  it('sets only variables the CLI accepts, with values it parses, tokens from the environment', () => {
    const { services } = withTokens;
    const seen: string[] = [];
    for (const [name, service] of blockrunnerServices(services)) {
      const [command] = commandOf(service);
      expect(Object.keys(schemas), `${name}: command`).toContain(command);
      const schema = schemas[command as keyof typeof schemas];
      const env = environment(service);
      for (const key of Object.keys(env)) {
        expect(Object.keys(schema.shape), `${name}: ${key}`).toContain(key);
      }
      expect(() => parseConfig(schema, env), name).not.toThrow();
      seen.push(command as string);
    }
    expect(seen.sort()).toEqual(['manager', 'worker']);

    const manager = parseConfig(managerConfigSchema, environment(services.manager ?? {}));
    const worker = parseConfig(workerConfigSchema, environment(services.worker ?? {}));
    expect(manager.HOST).toBe('0.0.0.0');
    expect(manager.BLOCKRUNNER_API_TOKEN).toBe(tokens.BLOCKRUNNER_API_TOKEN);
    expect(manager.BLOCKRUNNER_WORKER_TOKEN).toBe(tokens.BLOCKRUNNER_WORKER_TOKEN);
    expect(worker.BLOCKRUNNER_WORKER_TOKEN).toBe(tokens.BLOCKRUNNER_WORKER_TOKEN);
    expect(new URL(manager.DATABASE_URL ?? '').host).toBe('postgres:5432');
    // Workers reach the manager service on the port it listens on.
    expect(worker.BLOCKRUNNER_MANAGER_URL).toEqual([`ws://manager:${manager.PORT}/v1/ws`]);
  });

  it('leaves the API and workers open when no token is set', () => {
    const { services } = open;
    const manager = parseConfig(managerConfigSchema, environment(services.manager ?? {}));
    expect(manager.BLOCKRUNNER_API_TOKEN).toBeUndefined();
    expect(manager.BLOCKRUNNER_WORKER_TOKEN).toBeUndefined();
  });

  it('starts commands the CLI has, through the image entrypoint', async () => {
    const { services } = open;
    const runtime = readDockerfile().at(-1);
    const entrypoint = execForm(
      last(runtime ?? { name: '', image: '', instructions: [] }, 'ENTRYPOINT')?.args ?? '[]',
    );
    expect(entrypoint).toEqual(['node', 'dist/cli/main.js']);
    for (const [name, service] of blockrunnerServices(services)) {
      const args = [join(packageRoot(), entrypoint[1] ?? ''), ...commandOf(service), '--help'];
      const result = await runCommand(process.execPath, args, { timeoutMs: 20_000 });
      // An unknown command exits 2; a known one prints its help and exits 0.
      expect({ name, code: result.code, stderr: result.stderr }).toEqual({
        name,
        code: 0,
        stderr: '',
      });
      expect(result.stdout).toContain(`blockrunner ${commandOf(service)[0]}`);
    }
  });
});

describe('examples/custom-handler/compose.handler.yml over docker-compose.yml', () => {
  const exampleDir = join(packageRoot(), 'examples', 'custom-handler');
  let base: ComposeFile;
  let merged: ComposeFile;
  beforeAll(async () => {
    [base, merged] = await Promise.all([
      composeConfig(tokens),
      composeConfig(tokens, [BASE_COMPOSE, HANDLER_COMPOSE]),
    ]);
  });

  it('changes only the workers: built from the example, still scalable, after PostgreSQL', () => {
    expect(Object.keys(merged.services).sort()).toEqual(['manager', 'postgres', 'worker']);
    expect(merged.services.manager).toEqual(base.services.manager);
    expect(merged.services.postgres).toEqual(base.services.postgres);
    const worker = merged.services.worker ?? {};
    expect(worker.build?.context).toBe(exampleDir);
    expect(worker.image).toBe('blockrunner-custom-handler:local');
    expect(worker.image).not.toBe(base.services.manager?.image);
    expect(commandOf(worker)).toEqual(['worker']);
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports).toBeUndefined();
    expect(worker.depends_on).toEqual({
      manager: { condition: 'service_healthy' },
      postgres: { condition: 'service_healthy' },
    });
  });

  it('builds FROM the image the base file builds, installs the handler and runs it as node', () => {
    const [stage, ...more] = readDockerfile(join(exampleDir, 'Dockerfile'));
    expect(more).toEqual([]);
    if (!stage) throw new Error('examples/custom-handler/Dockerfile has no FROM');
    expect(stage.image).toBe(base.services.manager?.image);
    expect(stage.image).toBe('blockrunner:local');
    expect(['', 'root', '0']).not.toContain(last(stage, 'USER')?.args ?? '');
    // The base image's ENTRYPOINT (node dist/cli/main.js) is relative to /app.
    expect(last(stage, 'WORKDIR')?.args).toBe('/app');
    expect(execForm(last(stage, 'CMD')?.args ?? '[]')).toEqual(['worker']);

    // Where each COPY lands, by the WORKDIR in force at that line; npm ci after its lock file.
    let workdir = '/';
    const landed: Record<string, string> = {};
    let lockCopied = false;
    for (const instruction of stage.instructions) {
      if (instruction.keyword === 'WORKDIR') workdir = posix.resolve(workdir, instruction.args);
      if (instruction.keyword === 'COPY') {
        const copy = parseCopy(instruction.args);
        for (const source of copy.sources) {
          const dest = posix.resolve(workdir, copy.destination);
          landed[source] = copy.destination.endsWith('/') ? posix.join(dest, source) : dest;
        }
        lockCopied ||= copy.sources.includes('package-lock.json');
      }
      if (instruction.keyword === 'RUN' && instruction.args.startsWith('npm ci')) {
        expect(lockCopied, 'package-lock.json is copied before npm ci').toBe(true);
        expect(instruction.args).toContain('--omit=dev');
      }
    }
    expect(landed['handler.mjs']).toBe('/app/handler/handler.mjs');
    const env = Object.assign({}, ...all(stage, 'ENV').map((i) => parseEnv(i.args)));
    expect(env.BLOCKRUNNER_HANDLER).toBe(landed['handler.mjs']);
    // The compose file names the same module (it must: the base file sets the variable).
    expect(merged.services.worker?.environment?.BLOCKRUNNER_HANDLER).toBe(landed['handler.mjs']);
  });

  it("sets only the worker's variables and the handler's own, and the handler reaches PostgreSQL", () => {
    const worker = environment(merged.services.worker ?? {});
    const handlerSource = readFileSync(join(exampleDir, 'handler.mjs'), 'utf8');
    const workerVariables = Object.keys(workerConfigSchema.shape);
    const own = Object.keys(worker).filter((key) => !workerVariables.includes(key));
    expect(own).toEqual(['HANDLER_DATABASE_URL']);
    for (const key of own) expect(handlerSource, key).toContain(`env.${key}`);
    const config = parseConfig(workerConfigSchema, worker);
    expect(config.BLOCKRUNNER_HANDLER).toBe('/app/handler/handler.mjs');
    expect(config.BLOCKRUNNER_WORKER_TOKEN).toBe(tokens.BLOCKRUNNER_WORKER_TOKEN);
    expect(config.BLOCKRUNNER_MANAGER_URL).toEqual(['ws://manager:8080/v1/ws']);

    const handlerDb = new URL(worker.HANDLER_DATABASE_URL ?? '');
    const managerDb = new URL(environment(merged.services.manager ?? {}).DATABASE_URL ?? '');
    expect(handlerDb.host).toBe('postgres:5432');
    expect(handlerDb.username).toBe(managerDb.username);
    expect(handlerDb.password).toBe(managerDb.password);
  });

  it('follows POSTGRES_PASSWORD like the base file does', async () => {
    const custom = await composeConfig({ POSTGRES_PASSWORD: 'from-env' }, [
      BASE_COMPOSE,
      HANDLER_COMPOSE,
    ]);
    const worker = environment(custom.services.worker ?? {});
    expect(new URL(worker.HANDLER_DATABASE_URL ?? '').password).toBe('from-env');
    expect(custom.services.postgres?.environment?.POSTGRES_PASSWORD).toBe('from-env');
  });
});

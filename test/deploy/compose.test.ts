/**
 * docker-compose.yml, resolved by Compose itself, against the CLI it starts: every command is
 * a real `blockrunner` command, every variable set in a Blockrunner container is one that the
 * command's config schema knows and accepts, tokens come from the environment, workers find the
 * manager, and the manager waits for a healthy PostgreSQL. No Docker engine is needed.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { managerConfigSchema } from '../../manager/config.js';
import { parseConfig } from '../../shared/config.js';
import { packageRoot } from '../../shared/package-root.js';
import { workerConfigSchema } from '../../worker/config.js';
import { type ComposeFile, type ComposeService, commandOf, composeConfig } from './compose.js';
import { execForm, last, readDockerfile } from './dockerfile.js';
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
    // The image's HEALTHCHECK asks for /healthz, which only the manager serves.
    expect(services.worker?.healthcheck?.test).toEqual(['NONE']);
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

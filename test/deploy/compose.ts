/**
 * docker-compose.yml as Compose resolves it, without a Docker engine: Debian's docker-compose
 * (.ci/validate-compose installs it) prints the resolved file, variables filled in, and the YAML
 * module of the Python that docker-compose itself runs on turns that into JSON. With more files
 * (an override such as examples/custom-handler/compose.handler.yml), Compose merges them first.
 */
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { packageRoot } from '../../shared/package-root.js';
import { runCommand } from './run-command.js';

export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string };
  command?: string | string[];
  container_name?: string;
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
}

const TIMEOUT_MS = 30_000;

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** The base file and the handler example's override, relative to the package root. */
export const BASE_COMPOSE = 'docker-compose.yml';
export const HANDLER_COMPOSE = 'examples/custom-handler/compose.handler.yml';

/**
 * Resolves `files` (merged in order, as `docker compose -f a -f b` does) with `variables` as
 * the only environment it interpolates.
 */
export async function composeConfig(
  variables: Record<string, string> = {},
  files: string[] = [BASE_COMPOSE],
): Promise<ComposeFile> {
  const tool = findOnPath('docker-compose');
  if (tool === undefined) {
    throw new Error(
      "docker-compose is not installed: run `bash .ci/validate-compose` (it installs Debian's docker-compose)",
    );
  }
  const root = packageRoot();
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ...variables };
  // An empty env file: no .env of the developer's may change what the test sees.
  const dir = mkdtempSync(join(tmpdir(), 'compose-env-'));
  const envFile = join(dir, 'empty.env');
  writeFileSync(envFile, '');
  const config = await runCommand(
    tool,
    ['--env-file', envFile, ...files.flatMap((file) => ['-f', join(root, file)]), 'config'],
    { cwd: root, env, timeoutMs: TIMEOUT_MS },
  ).finally(() => rmSync(dir, { recursive: true, force: true }));
  if (config.code !== 0) throw new Error(`docker-compose config failed:\n${config.stderr}`);
  const python = readFileSync(tool, 'utf8').match(/^#!\s*(\S+)/)?.[1];
  if (python === undefined) throw new Error(`${tool} has no #! line naming its interpreter`);
  const json = await runCommand(
    python,
    ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
    { env, input: config.stdout, timeoutMs: TIMEOUT_MS },
  );
  if (json.code !== 0) throw new Error(`cannot turn the resolved file into JSON:\n${json.stderr}`);
  return JSON.parse(json.stdout) as ComposeFile;
}

/** A service's command as an argument list (Compose accepts a string or a list). */
export function commandOf(service: ComposeService): string[] {
  const { command } = service;
  if (command === undefined) return [];
  return Array.isArray(command) ? command : command.split(/\s+/).filter(Boolean);
}

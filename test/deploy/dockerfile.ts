/**
 * Reads the project's Dockerfile the way `docker build` does, for the parts the deploy tests
 * check: stages, their instructions, and the argument forms of COPY, ENV, RUN, HEALTHCHECK and
 * ENTRYPOINT. No engine runs here, so the tests replay what the instructions say instead.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../shared/package-root.js';

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  name: string | undefined;
  image: string;
  instructions: Instruction[];
}

export function readDockerfile(path = join(packageRoot(), 'Dockerfile')): Stage[] {
  return parseDockerfile(readFileSync(path, 'utf8'));
}

/** Comments and blank lines dropped, `\` continuations joined, one instruction per entry. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    if (whole === '') continue;
    const keyword = whole.split(/\s/, 1)[0] ?? '';
    const instruction = {
      keyword: keyword.toUpperCase(),
      args: whole.slice(keyword.length).trim(),
    };
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.split(/\s+/);
      stages.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${instruction.keyword} before any FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

export function all(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** The last one counts, as in Docker (WORKDIR, USER, ENTRYPOINT, HEALTHCHECK). */
export function last(stage: Stage, keyword: string): Instruction | undefined {
  return all(stage, keyword).at(-1);
}

/** `["node", "x.js"]`: the exec form; the shell form is not accepted here. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
    throw new Error(`expected the exec form ["cmd", "arg"], got ${args}`);
  }
  return parsed;
}

export interface Copy {
  from: string | undefined;
  sources: string[];
  destination: string;
}

export function parseCopy(args: string): Copy {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  const destination = paths.pop();
  if (destination === undefined || paths.length === 0) throw new Error(`bad COPY ${args}`);
  return { from, sources: paths, destination };
}

/** `ENV A=1 B=2` (the key=value form). */
export function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of args.split(/\s+/)) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`expected KEY=value in ENV, got ${pair}`);
    env[pair.slice(0, at)] = pair.slice(at + 1).replace(/^"(.*)"$/, '$1');
  }
  return env;
}

/** `HEALTHCHECK --interval=10s CMD ["node", ...]`: the options and the command. */
export function parseHealthcheck(args: string): { options: string[]; command: string[] } {
  const at = args.indexOf('CMD ');
  if (at === -1) throw new Error(`HEALTHCHECK without CMD: ${args}`);
  return {
    options: args.slice(0, at).trim().split(/\s+/).filter(Boolean),
    command: execForm(args.slice(at + 'CMD '.length).trim()),
  };
}

/**
 * Writes the results file. Inside the repository it is then formatted with the project's own
 * formatter (biome, a devDependency like the anchors), so that `npm run lint` passes on a
 * committed bench/results/latest.json; elsewhere it stays as JSON.stringify wrote it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../shared/package-root.js';
import type { BenchResults } from './results.js';

const run = promisify(execFile);

export async function writeResults(path: string, results: BenchResults): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
  const root = packageRoot();
  const biome = join(root, 'node_modules', '.bin', 'biome');
  const inside = !relative(root, path).startsWith('..');
  if (!inside || !existsSync(biome)) return;
  // Best effort: an unformatted file is still a correct results file.
  await run(biome, ['format', '--write', path], { cwd: root }).catch(() => {});
}

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder holding Blockrunner's package.json, found by walking up from this file, so the
 * same code finds migrations/ and the built-in handlers from the sources (tests) and from dist/.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the blockrunner package root');
    dir = parent;
  }
  return dir;
}

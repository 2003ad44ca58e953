import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { errors } from '../../manager/errors.js';

it('documents every error code of the catalogue in docs/api.md, with its status', () => {
  const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  for (const [code, Create] of Object.entries(errors)) {
    const error = new Create('x', 'y');
    expect(doc).toContain(`| \`${code}\` | ${error.statusCode} |`);
  }
  const documented = [...doc.matchAll(/\| `(BR_ERR_[A-Z_]+)` \|/g)].map((match) => match[1]);
  expect(documented.sort()).toEqual(Object.keys(errors).sort());
});

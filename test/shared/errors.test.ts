/**
 * The error catalogue against the documents that list it, both ways: every code of
 * shared/errors.ts is documented with its status or close code and name, and every documented
 * code is in the catalogue. HTTP codes in docs/api.md; close codes and upgrade refusals in
 * docs/protocol.md.
 */
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  type CloseCodeEntry,
  closeCodes,
  httpErrors,
  internalErrors,
  MAX_CLOSE_REASON_BYTES,
  truncateUtf8,
  type UpgradeRefusalEntry,
  upgradeRefusals,
  wsClose,
} from '../../shared/errors.js';

function doc(name: string): string {
  return readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');
}

/** The rows of the markdown tables in `text` whose first cell matches `first`, as their cells. */
function rows(text: string, first: RegExp): string[][] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('|'))
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    )
    .filter((cells) => first.test(cells[0] ?? ''));
}

const unquote = (cell: string | undefined): string => (cell ?? '').replace(/^`|`$/g, '');

describe('HTTP errors and docs/api.md', () => {
  const documented = rows(doc('api.md'), /^`BR_ERR_[A-Z_]+`$/);

  it('documents every code of the catalogue with its status', () => {
    for (const [code, Create] of Object.entries(httpErrors)) {
      const error = new Create('x', 'y');
      expect(error.code).toBe(code);
      const row = documented.find((cells) => unquote(cells[0]) === code);
      expect(row, code).toBeDefined();
      expect(row?.[1], code).toBe(String(error.statusCode));
    }
  });

  it('documents no code the catalogue lacks', () => {
    const codes = documented.map((cells) => unquote(cells[0]));
    expect(codes.sort()).toEqual(Object.keys(httpErrors).sort());
  });
});

describe('close codes and docs/protocol.md', () => {
  // | close code | code | name | meaning | worker should |
  const documented = rows(doc('protocol.md'), /^\d{4}$/).filter((cells) =>
    /^`BR_WS_/.test(cells[1] ?? ''),
  );

  it('documents every close code with its number and name, and "by ws" where ws sends it', () => {
    for (const [code, entry] of Object.entries(closeCodes) as [string, CloseCodeEntry][]) {
      const row = documented.find((cells) => unquote(cells[1]) === code);
      expect(row, code).toBeDefined();
      expect(row?.[0], code).toBe(String(entry.closeCode));
      expect(unquote(row?.[2]), code).toBe(entry.name);
      expect(row?.[3]?.includes('by ws'), code).toBe(entry.byLibrary === true);
    }
  });

  it('documents no close code the catalogue lacks', () => {
    const codes = documented.map((cells) => unquote(cells[1]));
    expect(codes.sort()).toEqual(Object.keys(closeCodes).sort());
  });

  it('gives each code its own close code and name', () => {
    const entries: CloseCodeEntry[] = Object.values(closeCodes);
    expect(new Set(entries.map((e) => e.closeCode)).size).toBe(entries.length);
    expect(new Set(entries.map((e) => e.name)).size).toBe(entries.length);
    for (const { closeCode, name } of entries) {
      // 1000-2999 are the RFC's, 4000-4999 are for applications; names are lower snake case.
      expect(closeCode < 3000 || (closeCode >= 4000 && closeCode < 5000)).toBe(true);
      expect(name).toMatch(/^[a-z]+(_[a-z0-9]+)*$/);
    }
  });
});

describe('upgrade refusals and docs/protocol.md', () => {
  // | status | code | when | what a worker should do |
  const documented = rows(doc('protocol.md'), /^\d{3}$/).filter((cells) =>
    /^`BR_UPGRADE_/.test(cells[1] ?? ''),
  );

  it('documents every refusal with its status, and "by ws" where ws answers it', () => {
    for (const [code, entry] of Object.entries(upgradeRefusals) as [
      string,
      UpgradeRefusalEntry,
    ][]) {
      expect(entry.text, code).toBe(STATUS_CODES[entry.status]);
      const row = documented.find((cells) => unquote(cells[1]) === code);
      expect(row, code).toBeDefined();
      expect(row?.[0], code).toBe(String(entry.status));
      expect(row?.[2]?.includes('by ws'), code).toBe(entry.byLibrary === true);
    }
  });

  it('documents no refusal the catalogue lacks', () => {
    const codes = documented.map((cells) => unquote(cells[1]));
    expect(codes.sort()).toEqual(Object.keys(upgradeRefusals).sort());
  });
});

describe('wsClose', () => {
  it('gives the close code and a reason that starts with the name', () => {
    expect(wsClose('BR_WS_BAD_FRAME', 'hello sent twice')).toEqual({
      code: 4400,
      reason: 'bad_frame: hello sent twice',
    });
    expect(wsClose('BR_WS_GOING_AWAY', 'manager stopping')).toEqual({
      code: 1001,
      reason: 'going_away: manager stopping',
    });
  });

  it('cuts the reason to 123 bytes on a character boundary', () => {
    const { reason } = wsClose('BR_WS_BAD_FRAME', 'é'.repeat(100));
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
    expect(Buffer.byteLength(reason)).toBeGreaterThanOrEqual(MAX_CLOSE_REASON_BYTES - 1);
    expect(reason).toMatch(/^bad_frame: é+$/);
    expect(truncateUtf8('é'.repeat(100), 123)).toBe('é'.repeat(61));
    expect(truncateUtf8('short', 123)).toBe('short');
  });
});

describe('internal errors', () => {
  it('each class carries its catalogue code and its own name', () => {
    for (const [code, ErrorClass] of Object.entries(internalErrors)) {
      // Every constructor takes the message first; the rest is optional or unused here.
      const error = new (ErrorClass as new (message: string) => Error & { code: string })('x');
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe(code);
      expect(error.name).toBe(ErrorClass.name);
      expect(error.message).toBe('x');
    }
  });

  it('uses every code once across the whole catalogue', () => {
    const all = [
      ...Object.keys(httpErrors),
      ...Object.keys(closeCodes),
      ...Object.keys(upgradeRefusals),
      ...Object.keys(internalErrors),
    ];
    expect(new Set(all).size).toBe(all.length);
    for (const code of all) expect(code).toMatch(/^BR_[A-Z0-9_]+$/);
  });
});

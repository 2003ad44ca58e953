/**
 * docs/protocol.md against shared/protocol.ts, both ways: every frame of the schemas has its
 * section, every field of a frame is in that section's field table and every documented field
 * is in the schema, the fields of list items (`failed`, `hashes`) are the ones the type cell
 * names, and every example frame on the page is one the schemas accept.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  blockReportSchema,
  managerFrameSchema,
  PROTOCOL_VERSION,
  parseFrame,
  workerFrameSchema,
} from '../../shared/protocol.js';

const page = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

type FrameSchema = z.ZodObject<z.ZodRawShape>;

/** The frame schemas of a union, by their `type` literal. */
function framesOf(union: { options: readonly z.ZodType[] }): Map<string, FrameSchema> {
  const frames = new Map<string, FrameSchema>();
  for (const option of union.options) {
    const schema = option as FrameSchema;
    const literal = schema.shape.type as z.ZodLiteral<string>;
    frames.set(literal.value, schema);
  }
  return frames;
}

/** The text of the `## title` section, up to the next `## ` heading. */
function section(title: string): string {
  const start = page.indexOf(`\n## ${title}\n`);
  expect(start, `section "## ${title}"`).toBeGreaterThanOrEqual(0);
  const end = page.indexOf('\n## ', start + 1);
  return page.slice(start, end === -1 ? undefined : end);
}

/** The `### \`name\`` subsections of `text`, by name. */
function frameSections(text: string): Map<string, string> {
  const sections = new Map<string, string>();
  const parts = text.split(/\n### /).slice(1);
  for (const part of parts) {
    const name = /^`([a-z]+)`/.exec(part)?.[1];
    if (name) sections.set(name, part);
  }
  return sections;
}

/** The rows of the first table whose header starts with `header`, as cells, header left out. */
function fieldRows(text: string, header = 'field'): string[][] {
  const rows: string[][] = [];
  let inTable = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    const cells = line
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim());
    if (!inTable) {
      inTable = cells[0] === header;
      continue;
    }
    if (/^-+$/.test(cells[0] ?? '')) continue;
    rows.push(cells);
  }
  return rows;
}

const unquote = (cell: string | undefined): string => (cell ?? '').replace(/^`|`$/g, '');

/**
 * Lists checked in one loop rather than a zod array (shared/protocol.ts, hashListSchema), and the
 * schema of their items.
 */
const loopCheckedItems: Record<string, FrameSchema> = { hashes: blockReportSchema };

/** The object schema of a list field's items (`failed`, `hashes`), if it is one. */
function itemObject(name: string, field: z.ZodType): FrameSchema | undefined {
  const looped = loopCheckedItems[name];
  if (looped) return looped;
  let inner: z.ZodType = field;
  if (inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  if (!(inner instanceof z.ZodArray)) return undefined;
  const element = inner.element as z.ZodType;
  return element instanceof z.ZodObject ? (element as FrameSchema) : undefined;
}

/** The keys of the `{"a": ..., "b": ...}` an item's type cell shows. */
function documentedItemKeys(typeCell: string): string[] {
  const object = /\{([^}]*)\}/.exec(typeCell)?.[1] ?? '';
  return [...object.matchAll(/"([A-Za-z]+)":/g)].map((match) => match[1] as string);
}

const directions = [
  { title: 'Frames from the worker', schema: workerFrameSchema },
  { title: 'Frames from the manager', schema: managerFrameSchema },
] as const;

describe('docs/protocol.md and shared/protocol.ts', () => {
  it('is the page of the version the code speaks', () => {
    expect(page.split('\n')[0]).toBe(`# Worker protocol (version ${PROTOCOL_VERSION})`);
    const versions = section('Versions');
    const latest = fieldRows(versions, 'version').at(-1);
    expect(latest?.[0]).toBe(String(PROTOCOL_VERSION));
  });

  for (const { title, schema } of directions) {
    describe(title, () => {
      const frames = framesOf(schema as unknown as { options: readonly z.ZodType[] });
      const documented = frameSections(section(title));

      it('has a section for every frame, and no frame the schemas lack', () => {
        expect([...documented.keys()].sort()).toEqual([...frames.keys()].sort());
      });

      for (const [type, frame] of frames) {
        it(`documents exactly the fields of \`${type}\``, () => {
          const rows = fieldRows(documented.get(type) ?? '');
          const fields = rows.map((cells) => unquote(cells[0]));
          expect(fields.sort(), type).toEqual(Object.keys(frame.shape).sort());
          for (const [name, field] of Object.entries(frame.shape)) {
            const item = itemObject(name, field as z.ZodType);
            if (!item) continue;
            const row = rows.find((cells) => unquote(cells[0]) === name);
            expect(documentedItemKeys(row?.[1] ?? '').sort(), `${type}.${name}`).toEqual(
              Object.keys(item.shape).sort(),
            );
          }
        });

        it(`says which fields of \`${type}\` are optional`, () => {
          for (const cells of fieldRows(documented.get(type) ?? '')) {
            const name = unquote(cells[0]);
            const field = frame.shape[name] as z.ZodType | undefined;
            const optional = field instanceof z.ZodOptional;
            expect(/\boptional\b/.test(cells[1] ?? ''), `${type}.${name}`).toBe(optional);
          }
        });

        it(`gives examples of \`${type}\` that the schema accepts`, () => {
          const text = documented.get(type) ?? '';
          const block = /```json\n([\s\S]*?)```/.exec(text)?.[1];
          expect(block, `${type} example`).toBeDefined();
          for (const line of (block ?? '').split('\n').filter((l) => l.trim() !== '')) {
            const parsed = parseFrame(schema as z.ZodType<unknown>, line);
            expect(parsed, line).toMatchObject({ ok: true, frame: { type } });
          }
        });
      }
    });
  }

  it('shows only valid frames in the full exchange', () => {
    const exchange = section('A full exchange');
    const lines = exchange.split('\n').filter((line) => /^[<>] \{/.test(line));
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      const schema = line.startsWith('>') ? workerFrameSchema : managerFrameSchema;
      expect(parseFrame(schema as z.ZodType<unknown>, line.slice(2)), line).toMatchObject({
        ok: true,
      });
    }
  });
});

// Renders docs/configuration.md from the configuration schema, so the documented options and
// defaults are the ones the code enforces. A test fails when the committed file is stale.

import { z } from 'zod';
import { configSchema } from './schema.js';

interface JsonSchema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  oneOf?: JsonSchema[];
  minimum?: number;
  exclusiveMinimum?: number;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  const bound =
    s.exclusiveMinimum !== undefined
      ? ` > ${s.exclusiveMinimum}`
      : s.minimum !== undefined
        ? ` >= ${s.minimum}`
        : '';
  return `${s.type ?? 'value'}${bound}`;
}

function rows(
  s: JsonSchema,
  prefix: string,
  out: string[],
  sections: [string, JsonSchema][],
  inherited: Record<string, unknown> = {},
): void {
  for (const [key, prop] of Object.entries(s.properties ?? {})) {
    const path = `${prefix}${key}`;
    // A field without its own default takes the one its parent object's default gives it.
    const fallback = inherited[key];
    if (prop.oneOf) {
      sections.push([path, prop]);
      continue;
    }
    if (prop.type === 'object' && prop.properties) {
      const own = (prop.default ?? fallback ?? {}) as Record<string, unknown>;
      rows(prop, `${path}.`, out, sections, own);
      continue;
    }
    if (prop.type === 'object' && typeof prop.additionalProperties === 'object') {
      sections.push([path, prop]);
      continue;
    }
    // A list of objects (e.g. pusher.apps) gets a section for the fields of each entry.
    if (prop.type === 'array' && prop.items?.properties) sections.push([path, prop]);
    const value = prop.default ?? fallback;
    const def = value === undefined ? 'none' : `\`${JSON.stringify(value)}\``;
    out.push(`| \`${path}\` | ${typeOf(prop)} | ${def} | ${prop.description ?? ''} |`);
  }
}

function table(s: JsonSchema, prefix: string, sections: [string, JsonSchema][]): string[] {
  const out = ['| option | type | default | meaning |', '|---|---|---|---|'];
  rows(s, prefix, out, sections);
  return out;
}

export function renderConfigDocs(): string {
  const root = z.toJSONSchema(configSchema, { io: 'input' }) as JsonSchema;
  const sections: [string, JsonSchema][] = [];
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`; edit the schema, not this file. -->',
    '',
    'One schema validates the whole configuration at start-up; an invalid value stops hubbub with a',
    'message naming the field and the reason. Unknown fields are errors too, so a typo never passes',
    'silently.',
    '',
    ...table(root, '', sections),
  ];
  for (const [path, section] of sections) {
    lines.push('', `## \`${path}\``, '', section.description ?? '', '');
    if (section.items?.properties) {
      lines.push('Each entry:', '', ...table(section.items, `${path}[].`, sections));
      continue;
    }
    if (typeof section.additionalProperties === 'object') {
      lines.push(...table(section.additionalProperties, `${path}.<name>.`, sections), '');
      lines.push('Default:', '', '```json', JSON.stringify(section.default, null, 2), '```');
      continue;
    }
    for (const variant of section.oneOf ?? []) {
      const kind = variant.properties?.type?.const;
      lines.push(
        `### \`${path}.type: ${JSON.stringify(kind)}\``,
        '',
        variant.properties?.type?.description ?? '',
        '',
      );
      lines.push(...table(variant, `${path}.`, sections), '');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

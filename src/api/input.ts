// Request input into typed values: a JSON body or query parameters, checked by a zod schema.
// Anything else becomes a `bad_request` whose message and `details.field` name what was wrong.

import type { z } from 'zod';
import { HubError } from '../protocol/errors.js';
import { wellFormed } from '../protocol/validate.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** For query text a leading U+FEFF is part of the value, as URLSearchParams keeps it. */
const utf8KeepBom = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/**
 * Splits a query string as URLSearchParams does, except that text which is not UTF-8 once
 * percent-decoded is refused: URLSearchParams turns it into U+FFFD, so `%ED%A0%80` (a lone
 * surrogate) would name the member "\ufffd\ufffd\ufffd", one the caller never meant.
 */
export function parseQueryString(text: string): URLSearchParams {
  const out = new URLSearchParams();
  // As URLSearchParams: one leading "?" is not part of the first name.
  for (const pair of (text.startsWith('?') ? text.slice(1) : text).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const name = decodeComponent(rawName);
    const value = eq < 0 ? '' : decodeComponent(pair.slice(eq + 1));
    if (name === undefined || value === undefined) {
      const field = name ?? rawName;
      throw new HubError('bad_request', `parameter ${JSON.stringify(field)} is not valid percent-encoded UTF-8`, { field });
    }
    out.append(name, value);
  }
  return out;
}

function decodeComponent(text: string): string | undefined {
  if (!wellFormed(text)) return undefined;
  let valid = true;
  // A multi-byte character is one unbroken run of %XX, so each run decodes on its own.
  const decoded = text.replaceAll('+', ' ').replace(PERCENT_RUN, (run) => {
    try {
      return utf8KeepBom.decode(Buffer.from(run.replaceAll('%', ''), 'hex'));
    } catch {
      valid = false;
      return '';
    }
  });
  return valid ? decoded : undefined;
}

/** Parses a JSON body against `schema`. */
export function parseBody<S extends z.ZodType>(schema: S, body: Buffer): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(utf8.decode(body));
  } catch {
    throw new HubError(
      'bad_request',
      body.length === 0 ? 'send a JSON object as the request body' : 'the request body is not valid JSON',
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HubError('bad_request', 'the request body must be a JSON object');
  }
  return check(schema, raw, 'field');
}

/** Parses query parameters against `schema`; a parameter given twice is refused. */
export function parseQuery<S extends z.ZodType>(schema: S, query: URLSearchParams): z.output<S> {
  const raw: Record<string, string> = {};
  for (const [name, value] of query) {
    if (Object.hasOwn(raw, name)) {
      throw new HubError('bad_request', `parameter "${name}" is given more than once`, { field: name });
    }
    raw[name] = value;
  }
  return check(schema, raw, 'parameter');
}

function check<S extends z.ZodType>(schema: S, raw: object, noun: 'field' | 'parameter'): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new HubError('bad_request', 'the request is not valid');
  if (issue.code === 'unrecognized_keys') {
    const field = [...issue.path, issue.keys[0] ?? ''].join('.');
    throw new HubError('bad_request', `unknown ${noun} "${field}"`, { field });
  }
  const field = issue.path.join('.');
  if (valueAt(raw, issue.path) === undefined) {
    throw new HubError('bad_request', `${noun} "${field}" is required`, { field });
  }
  const what = issue.message.replace(/^Invalid input: /, '');
  throw new HubError('bad_request', `${noun} "${field}": ${what}`, { field });
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let at = root;
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}

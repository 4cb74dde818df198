// parseFrame faces every byte an attacker sends: it must answer each frame with commands or a
// close, never throw, and accepted publication data must encode back to what was parsed.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { methods, parseFrame } from '../../../src/protocol/index.js';
import { jsonDataProblem } from '../../../src/protocol/validate.js';

const fieldValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('__proto__', 'constructor', 'toString', '\ud800', 'chat:a', 'scores:b'),
  fc.jsonValue({ maxDepth: 4 }),
);

/** Commands that look almost right: real methods, real field names, values of any type. */
const nearCommand = fc.record(
  {
    id: fc.oneof(fc.integer({ min: -2, max: 2 ** 53 + 2 }), fieldValue),
    method: fc.oneof(fc.constantFrom(...methods), fieldValue),
    channel: fieldValue,
    data: fieldValue,
    member: fieldValue,
    since: fc.oneof(fc.record({ offset: fieldValue, epoch: fieldValue }), fieldValue),
    token: fieldValue,
    by: fieldValue,
    limit: fieldValue,
    __proto__: fieldValue,
  },
  { requiredKeys: [] },
);

const deepText = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":'))
  .map(([n, open]) => `{"id":1,"method":"publish","channel":"chat:a","data":${open.repeat(n)}1${(open === '[' ? ']' : '}').repeat(n)}}`);

const frames = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ maxDepth: 6 }),
  nearCommand.map((c) => JSON.stringify(c)),
  fc.array(nearCommand, { maxLength: 120 }).map((b) => JSON.stringify(b)),
  deepText,
  // Truncated and mutated valid frames.
  fc.tuple(nearCommand.map((c) => JSON.stringify(c)), fc.nat()).map(([t, n]) => t.slice(0, n % (t.length + 1))),
);

describe('parseFrame on arbitrary input', () => {
  it('never throws, and answers with commands or a coded close', () => {
    fc.assert(
      fc.property(frames, (text) => {
        const parsed = parseFrame(text, 64);
        if (parsed.kind === 'close') {
          expect(parsed.code).toBeGreaterThanOrEqual(4000);
          return;
        }
        for (const item of parsed.items) {
          expect(Number.isSafeInteger(item.id) && item.id > 0).toBe(true);
          if ('error' in item) expect(typeof item.error.code).toBe('string');
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts publication data only when it encodes back to the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (data) => {
        const text = JSON.stringify({ id: 1, method: 'publish', channel: 'chat:a', data });
        const parsed = parseFrame(text, 64);
        if (parsed.kind !== 'commands') throw new Error('closed');
        const item = parsed.items[0];
        if (item === undefined || 'error' in item || item.method !== 'publish') throw new Error('refused');
        expect(JSON.stringify(item.data)).toBe(JSON.stringify(data));
      }),
      { numRuns: 2000 },
    );
  });

  it('bounds nesting at maxDepth without recursion, at any depth', () => {
    expect(jsonDataProblem(JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), 64)).toContain('deeper than 64');
    expect(jsonDataProblem(JSON.parse(`${'['.repeat(64)}${']'.repeat(64)}`), 64)).toBeUndefined();
    expect(jsonDataProblem({ a: [{ b: 1e308 * 10 }] }, 64)).toContain('finite');
  });
});

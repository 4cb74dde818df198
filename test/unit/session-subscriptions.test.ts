// A session's subscriptions change representation as they grow and shrink (one, a few in an
// array, many in a Map): checked against a plain Map as the model, over random command sequences.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NamespaceConfig } from '../../src/config/index.js';
import { type Subscription, Subscriptions } from '../../src/session.js';

const sub = (channel: string, tag: number): Subscription => ({
  channel,
  namespace: {} as NamespaceConfig,
  pending: undefined,
  pendingBytes: tag,
  floor: undefined,
  present: false,
  joinLeave: true,
});

type Op = { kind: 'set'; channel: string; tag: number } | { kind: 'delete'; channel: string };

// 20 names, so sequences cross the array/Map boundary (8) both ways and revisit names.
const channel = fc.integer({ min: 0, max: 19 }).map((i) => `ns:c${i}`);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), channel, tag: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const), channel }),
);

describe('Session subscriptions', () => {
  it('answer get, has, size, delete and values as a Map does, whatever the sequence', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const subs = new Subscriptions();
        const model = new Map<string, Subscription>();
        for (const o of ops) {
          if (o.kind === 'set') {
            const s = sub(o.channel, o.tag);
            subs.set(o.channel, s);
            model.set(o.channel, s);
          } else {
            expect(subs.delete(o.channel)).toBe(model.delete(o.channel));
          }
          expect(subs.size).toBe(model.size);
          for (let i = 0; i < 20; i++) {
            const name = `ns:c${i}`;
            expect(subs.get(name)).toBe(model.get(name));
            expect(subs.has(name)).toBe(model.has(name));
          }
          expect(new Set(subs.values())).toEqual(new Set(model.values()));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('hands out a snapshot: leaving while iterating it visits every subscription once', () => {
    const subs = new Subscriptions();
    for (let i = 0; i < 12; i++) subs.set(`ns:c${i}`, sub(`ns:c${i}`, i));
    const seen: string[] = [];
    for (const s of subs.values()) {
      seen.push(s.channel);
      subs.delete(s.channel);
    }
    expect(seen).toHaveLength(12);
    expect(subs.size).toBe(0);
  });
});

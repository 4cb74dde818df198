import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamLog } from '../../../../src/engine/memory/stream-log.js';
import type { ClientInfo, Publication, StreamPosition } from '../../../../src/engine/types.js';
import { HubError } from '../../../../src/protocol/errors.js';

const alice: ClientInfo = { client: 'c1', user: 'alice', info: { name: 'Alice' } };

function thrown(fn: () => unknown): HubError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HubError);
    return err as HubError;
  }
  throw new Error('expected a HubError');
}

/** A log holding publications 'd1'..'dN' at times 1..N. */
function filled(n: number, maxLen = 1000, epoch = 'e1'): StreamLog {
  const log = new StreamLog(epoch);
  for (let i = 1; i <= n; i++) log.append(`d${i}`, i, undefined, maxLen);
  return log;
}

const offsets = (pubs: Publication[]): number[] => pubs.map((p) => p.offset);

describe('StreamLog', () => {
  it('numbers publications from offset 1, contiguously', () => {
    const log = new StreamLog('e1');
    expect([log.top, log.first, log.length]).toEqual([0, 1, 0]);
    expect(log.append('a', 10, undefined, 5)).toBe(1);
    expect(log.append('b', 11, undefined, 5)).toBe(2);
    expect(log.append('c', 12, undefined, 5)).toBe(3);
    expect([log.top, log.first, log.length]).toEqual([3, 1, 3]);
    expect(log.read()).toEqual([
      { offset: 1, data: 'a', time: 10 },
      { offset: 2, data: 'b', time: 11 },
      { offset: 3, data: 'c', time: 12 },
    ]);
  });

  it('keeps only the newest maxLen entries', () => {
    const log = filled(10, 3);
    expect([log.top, log.first, log.length]).toEqual([10, 8, 3]);
    expect(log.read().map((p) => p.data)).toEqual(['d8', 'd9', 'd10']);
  });

  it('keeps nothing with maxLen 0 but still advances the offset', () => {
    const log = filled(3);
    expect(log.append('x', 4, undefined, 0)).toBe(4);
    expect(log.append('y', 5, undefined, 0)).toBe(5);
    expect([log.top, log.first, log.length, log.bytes]).toEqual([5, 6, 0, 0]);
    expect(log.read()).toEqual([]);
    expect(log.append('z', 6, undefined, 2)).toBe(6);
    expect(log.read()).toEqual([{ offset: 6, data: 'z', time: 6 }]);
  });

  it('reads forward after an exclusive since, oldest first, up to limit', () => {
    const log = filled(10);
    expect(offsets(log.read({ since: { offset: 6, epoch: 'e1' } }))).toEqual([7, 8, 9, 10]);
    expect(offsets(log.read({ since: { offset: 6, epoch: 'e1' }, limit: 2 }))).toEqual([7, 8]);
    expect(offsets(log.read({ since: { offset: 0, epoch: 'e1' }, limit: 3 }))).toEqual([1, 2, 3]);
    expect(offsets(log.read({ limit: 2 }))).toEqual([1, 2]);
  });

  it('reads in reverse before an exclusive since, newest first, up to limit', () => {
    const log = filled(10);
    expect(offsets(log.read({ reverse: true, limit: 3 }))).toEqual([10, 9, 8]);
    expect(offsets(log.read({ since: { offset: 4, epoch: 'e1' }, reverse: true }))).toEqual([3, 2, 1]);
    expect(offsets(log.read({ since: { offset: 8, epoch: 'e1' }, reverse: true, limit: 2 }))).toEqual([7, 6]);
    expect(log.read({ since: { offset: 1, epoch: 'e1' }, reverse: true })).toEqual([]);
  });

  it('returns nothing for limit 0 and everything when limit is absent', () => {
    const log = filled(5);
    expect(log.read({ limit: 0 })).toEqual([]);
    expect(log.read({ reverse: true, limit: 0 })).toEqual([]);
    expect(log.read()).toHaveLength(5);
  });

  it('treats since = top as recoverable with nothing new', () => {
    const log = filled(10, 4);
    expect(log.covers({ offset: 10, epoch: 'e1' })).toBe(true);
    expect(log.read({ since: { offset: 10, epoch: 'e1' } })).toEqual([]);
    const empty = new StreamLog('e1');
    expect(empty.read({ since: { offset: 0, epoch: 'e1' } })).toEqual([]);
  });

  it('recovers from first - 1, the newest position whose successors are all held', () => {
    const log = filled(10, 4);
    expect(log.first).toBe(7);
    expect(log.covers({ offset: 6, epoch: 'e1' })).toBe(true);
    expect(offsets(log.read({ since: { offset: 6, epoch: 'e1' } }))).toEqual([7, 8, 9, 10]);
  });

  it('throws unrecoverable_position with details when since is older than first - 1', () => {
    const log = filled(10, 4);
    expect(log.covers({ offset: 5, epoch: 'e1' })).toBe(false);
    const err = thrown(() => log.read({ since: { offset: 5, epoch: 'e1' } }));
    expect(err.code).toBe('unrecoverable_position');
    expect(err.message).toMatch(/reload/);
    expect(err.details).toEqual({ epoch: 'e1', top: 10, first: 7 });
  });

  it('throws unrecoverable_position for a since from another epoch, forward or reverse', () => {
    const log = filled(3);
    const since = { offset: 2, epoch: 'old' };
    expect(log.covers(since)).toBe(false);
    expect(thrown(() => log.read({ since })).code).toBe('unrecoverable_position');
    const err = thrown(() => log.read({ since, reverse: true }));
    expect(err.code).toBe('unrecoverable_position');
    expect(err.details).toEqual({ epoch: 'e1', top: 3, first: 1 });
  });

  it('throws unrecoverable_position for a since beyond top, but reverse reads start from the newest', () => {
    const log = filled(3);
    const since = { offset: 4, epoch: 'e1' };
    expect(log.covers(since)).toBe(false);
    expect(thrown(() => log.read({ since })).code).toBe('unrecoverable_position');
    expect(offsets(log.read({ since: { offset: 99, epoch: 'e1' }, reverse: true }))).toEqual([3, 2, 1]);
  });

  it('rejects malformed limits, lengths and positions as bad_request', () => {
    const log = filled(3);
    for (const limit of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(thrown(() => log.read({ limit })).code).toBe('bad_request');
    }
    for (const maxLen of [-1, 2.5, Number.NaN]) {
      expect(thrown(() => log.append('x', 4, undefined, maxLen)).code).toBe('bad_request');
    }
    expect(thrown(() => log.dropOldest(-1)).code).toBe('bad_request');
    expect(thrown(() => log.read({ since: { offset: -1, epoch: 'e1' } })).code).toBe('bad_request');
    expect(thrown(() => log.read({ since: { offset: 1.5, epoch: 'e1' } })).code).toBe('bad_request');
    expect(log.top).toBe(3);
  });

  it('trims entries strictly older than the cutoff', () => {
    const log = filled(10);
    expect(log.trimOlderThan(4)).toBe(3);
    expect([log.first, log.length]).toEqual([4, 7]);
    expect(log.trimOlderThan(4)).toBe(0);
    expect(log.trimOlderThan(100)).toBe(7);
    expect([log.top, log.first, log.length, log.bytes]).toEqual([10, 11, 0, 0]);
    expect(log.append('next', 101, undefined, 5)).toBe(11);
  });

  it('drops the oldest entries on demand and returns the bytes released', () => {
    const log = new StreamLog('e1');
    log.append('aaaa', 1, undefined, 10);
    log.append('bb', 2, undefined, 10);
    log.append('c', 3, undefined, 10);
    expect(log.dropOldest(2)).toBe(6);
    expect(log.first).toBe(3);
    expect(log.dropOldest(0)).toBe(0);
    expect(log.dropOldest(5)).toBe(1);
    expect([log.length, log.bytes, log.first]).toEqual([0, 0, 4]);
  });

  it('keeps the byte count exact across append, cap, trim and drop', () => {
    const log = new StreamLog('e1');
    const held = (): number => log.read().reduce((sum, p) => sum + p.data.length, 0);
    for (let i = 1; i <= 50; i++) {
      log.append('x'.repeat(i % 7), i, undefined, 20);
      expect(log.bytes).toBe(held());
    }
    log.trimOlderThan(40);
    expect(log.bytes).toBe(held());
    const before = log.bytes;
    const freed = log.dropOldest(3);
    expect(log.bytes).toBe(before - freed);
    expect(log.bytes).toBe(held());
  });

  it('stays correct as the ring grows, wraps around and maxLen changes', () => {
    const log = new StreamLog('e1');
    const expectNewest = (n: number): void => {
      const top = log.top;
      const want = Array.from({ length: Math.min(n, top) }, (_, i) => top - Math.min(n, top) + 1 + i);
      expect(offsets(log.read())).toEqual(want);
      expect(log.read().map((p) => p.data)).toEqual(want.map((o) => `d${o}`));
    };
    const push = (count: number, maxLen: number): void => {
      for (let i = 0; i < count; i++) log.append(`d${log.top + 1}`, log.top + 1, undefined, maxLen);
    };
    push(37, 3);
    expectNewest(3);
    push(2500, 1000);
    expectNewest(1000);
    push(1, 10);
    expectNewest(10);
    push(25, 10);
    expectNewest(10);
    push(700, 1000);
    expectNewest(710);
    push(5, 1);
    expectNewest(1);
    expect(log.top).toBe(3268);
  });

  it('includes from only on publications that were given one', () => {
    const log = new StreamLog('e1');
    log.append('a', 1, alice, 5);
    log.append('b', 2, undefined, 5);
    const [withFrom, without] = log.read();
    expect(withFrom).toEqual({ offset: 1, data: 'a', time: 1, from: alice });
    expect(without).toEqual({ offset: 2, data: 'b', time: 2 });
    expect(without !== undefined && 'from' in without).toBe(false);
    expect(log.read({ reverse: true })[1]?.from).toBe(alice);
  });
});

// A trivially correct model: a plain array, filtered and sliced.
interface ModelEntry {
  offset: number;
  data: string;
  time: number;
  from?: ClientInfo;
}

class Model {
  entries: ModelEntry[] = [];
  top = 0;
  constructor(readonly epoch: string) {}
  get first(): number {
    return this.entries[0]?.offset ?? this.top + 1;
  }
  get bytes(): number {
    return this.entries.reduce((sum, e) => sum + e.data.length, 0);
  }
  append(data: string, time: number, from: ClientInfo | undefined, maxLen: number): number {
    this.top++;
    this.entries.push(
      from === undefined ? { offset: this.top, data, time } : { offset: this.top, data, time, from },
    );
    this.entries = this.entries.slice(Math.max(0, this.entries.length - maxLen));
    return this.top;
  }
  trimOlderThan(cutoff: number): number {
    const kept = this.entries.filter((e) => e.time >= cutoff);
    const dropped = this.entries.length - kept.length;
    this.entries = kept;
    return dropped;
  }
  dropOldest(n: number): number {
    const dropped = this.entries.splice(0, n);
    return dropped.reduce((sum, e) => sum + e.data.length, 0);
  }
  read(
    since: StreamPosition | undefined,
    limit: number | undefined,
    reverse: boolean,
  ): Publication[] | string {
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) return 'bad_request';
    if (since !== undefined) {
      if (!Number.isInteger(since.offset) || since.offset < 0) return 'bad_request';
      if (since.epoch !== this.epoch) return 'unrecoverable_position';
      if (!reverse && (since.offset < this.first - 1 || since.offset > this.top)) {
        return 'unrecoverable_position';
      }
    }
    let picked = reverse
      ? this.entries.filter((e) => since === undefined || e.offset < since.offset).reverse()
      : this.entries.filter((e) => since === undefined || e.offset > since.offset);
    if (limit !== undefined) picked = picked.slice(0, limit);
    return picked;
  }
}

type Op =
  | { kind: 'append'; data: string; dt: number; withFrom: boolean; maxLen: number }
  | { kind: 'trim'; back: number }
  | { kind: 'drop'; n: number }
  | { kind: 'read'; since: number | null; epoch: string; limit: number | null; reverse: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      data: fc.string({ maxLength: 12 }),
      dt: fc.nat(3),
      withFrom: fc.boolean(),
      maxLen: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 6, max: 40 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('trim' as const), back: fc.integer({ min: -1, max: 15 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), n: fc.nat(6) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      since: fc.option(fc.oneof(fc.integer({ min: -2, max: 80 }), fc.constant(2.5)), { nil: null }),
      epoch: fc.constantFrom('e1', 'e1', 'e1', 'other'),
      limit: fc.option(fc.oneof(fc.nat(8), fc.constant(-1), fc.constant(1.5)), { nil: null }),
      reverse: fc.boolean(),
    }),
  },
);

function codeOf(fn: () => Publication[]): Publication[] | string {
  try {
    return fn();
  } catch (err) {
    if (err instanceof HubError) return err.code;
    throw err;
  }
}

describe('StreamLog against a reference model', () => {
  it('agrees on state and every read for random operation sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const log = new StreamLog('e1');
        const model = new Model('e1');
        let now = 0;
        for (const op of ops) {
          if (op.kind === 'append') {
            now += op.dt;
            const from = op.withFrom ? alice : undefined;
            expect(log.append(op.data, now, from, op.maxLen)).toBe(
              model.append(op.data, now, from, op.maxLen),
            );
          } else if (op.kind === 'trim') {
            expect(log.trimOlderThan(now - op.back)).toBe(model.trimOlderThan(now - op.back));
          } else if (op.kind === 'drop') {
            expect(log.dropOldest(op.n)).toBe(model.dropOldest(op.n));
          } else {
            const since = op.since === null ? undefined : { offset: op.since, epoch: op.epoch };
            const options = {
              reverse: op.reverse,
              ...(since === undefined ? {} : { since }),
              ...(op.limit === null ? {} : { limit: op.limit }),
            };
            const want = model.read(since, op.limit ?? undefined, op.reverse);
            expect(codeOf(() => log.read(options))).toEqual(want);
            if (since !== undefined && Number.isInteger(since.offset) && since.offset >= 0) {
              expect(log.covers(since)).toBe(
                model.read(since, undefined, false) !== 'unrecoverable_position',
              );
            }
          }
          expect([log.top, log.first, log.length, log.bytes]).toEqual([
            model.top,
            model.first,
            model.entries.length,
            model.bytes,
          ]);
        }
      }),
      { numRuns: 300 },
    );
  });
});

// Leaderboard must rank exactly like a Redis sorted set read with ZREVRANGE / ZREVRANK. Besides
// the worked cases, a property test replays random operations on it and on a sort-on-read model.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Leaderboard } from '../../../../src/engine/memory/leaderboard.js';
import { Leaderboards } from '../../../../src/engine/memory/leaderboards.js';
import { compareMembers } from '../../../../src/engine/memory/member-order.js';
import type { LeaderboardEntry, LeaderboardUpdate, ScoreMode } from '../../../../src/engine/types.js';
import { isHubError } from '../../../../src/protocol/errors.js';

/** A seeded generator, so every data set here can be replayed. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** Code point order computed the slow, obvious way: compare UTF-8 bytes, as Redis does. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Highest score first; equal scores by member, greatest first (ZREVRANGE order). */
function ranked(scores: ReadonlyMap<string, number>): LeaderboardEntry[] {
  return [...scores]
    .sort(([ma, sa], [mb, sb]) => sb - sa || byUtf8(mb, ma))
    .map(([member, score], rank) => ({ member, score, rank }));
}

function board(entries: Record<string, number>): Leaderboard {
  const lb = new Leaderboard();
  for (const [member, score] of Object.entries(entries)) lb.set(member, score);
  return lb;
}

function expectHubError(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isHubError(caught), `expected a HubError, got ${String(caught)}`).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
}

const names = (entries: LeaderboardEntry[]): string[] => entries.map((e) => e.member);

describe('compareMembers', () => {
  it('orders ASCII like plain string comparison, shorter prefix first', () => {
    expect(compareMembers('a', 'b')).toBeLessThan(0);
    expect(compareMembers('b', 'a')).toBeGreaterThan(0);
    expect(compareMembers('ab', 'abc')).toBeLessThan(0);
    expect(compareMembers('', 'a')).toBeLessThan(0);
    expect(compareMembers('same', 'same')).toBe(0);
  });

  it('puts astral characters (surrogate pairs) after U+E000..U+FFFF, unlike JS <', () => {
    const astral = '\u{1F600}'; // UTF-16 D83D DE00
    expect('\uE000' > astral).toBe(true); // code unit order gets this wrong
    expect(compareMembers(astral, '\uE000')).toBeGreaterThan(0);
    expect(compareMembers('\uFFFF', '\u{10000}')).toBeLessThan(0);
    expect(compareMembers('x\u{10000}', 'x\uFFFF')).toBeGreaterThan(0);
    expect(compareMembers('\u{10000}', '\u{1F600}')).toBeLessThan(0);
    expect(compareMembers('\uD7FF', '\u{10000}')).toBeLessThan(0);
  });

  it('agrees with UTF-8 byte order on any well-formed strings', () => {
    const tricky = fc.constantFrom('a', '\uD7FF', '\uE000', '\uFFFF', '\u{10000}', '\u{1F600}', '\u{10FFFF}');
    const unit = fc.oneof(tricky, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }));
    const member = fc.string({ unit, maxLength: 4 });
    fc.assert(
      fc.property(member, member, (a, b) => {
        expect(Math.sign(compareMembers(a, b))).toBe(Math.sign(byUtf8(a, b)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('Leaderboard', () => {
  it('answers empty on an empty board', () => {
    const lb = new Leaderboard();
    expect(lb.size).toBe(0);
    expect(lb.top(10)).toEqual([]);
    expect(lb.top(10, 3)).toEqual([]);
    expect(lb.rank('a')).toBeUndefined();
    expect(lb.score('a')).toBeUndefined();
    expect(lb.around('a', 2)).toEqual([]);
    expect(lb.remove('a')).toBe(false);
    expect(lb.trimTo(0)).toEqual([]);
  });

  it('ranks the highest score first with 0-based ranks', () => {
    const lb = board({ low: 1, high: 30, mid: 20 });
    expect(lb.top(10)).toEqual([
      { member: 'high', score: 30, rank: 0 },
      { member: 'mid', score: 20, rank: 1 },
      { member: 'low', score: 1, rank: 2 },
    ]);
    expect(lb.rank('high')).toBe(0);
    expect(lb.rank('low')).toBe(2);
    expect(lb.size).toBe(3);
  });

  it('orders equal scores by member, greatest first, like ZREVRANGE', () => {
    const lb = board({ a: 5, b: 5, c: 5 });
    expect(names(lb.top(3))).toEqual(['c', 'b', 'a']);
    expect([lb.rank('c'), lb.rank('b'), lb.rank('a')]).toEqual([0, 1, 2]);
  });

  it('breaks ties by code point, so an astral member outranks U+E000..U+FFFF members', () => {
    const lb = board({ '\uE000': 1, '\u{1F600}': 1, '\uFFFF': 1, z: 1, '\u{10000}': 1 });
    expect(names(lb.top(5))).toEqual(['\u{1F600}', '\u{10000}', '\uFFFF', '\uE000', 'z']);
    expect(lb.rank('\u{10000}')).toBe(1);
  });

  describe('set modes', () => {
    it('always adds, updates, and reports no change for the same score', () => {
      const lb = new Leaderboard();
      expect(lb.set('a', 1)).toBe(true);
      expect(lb.set('a', 2, 'always')).toBe(true);
      expect(lb.set('a', 2)).toBe(false);
      expect(lb.score('a')).toBe(2);
    });

    it('nx adds an absent member but never touches an existing one', () => {
      const lb = new Leaderboard();
      expect(lb.set('a', 1, 'nx')).toBe(true);
      expect(lb.set('a', 9, 'nx')).toBe(false);
      expect(lb.score('a')).toBe(1);
    });

    it('xx updates an existing member but never adds', () => {
      const lb = new Leaderboard();
      expect(lb.set('a', 1, 'xx')).toBe(false);
      expect(lb.size).toBe(0);
      expect(lb.score('a')).toBeUndefined();
      lb.set('a', 1);
      expect(lb.set('a', 3, 'xx')).toBe(true);
      expect(lb.score('a')).toBe(3);
    });

    it('gt adds an absent member and only ever raises an existing score', () => {
      const lb = new Leaderboard();
      expect(lb.set('a', 5, 'gt')).toBe(true);
      expect(lb.set('a', 3, 'gt')).toBe(false);
      expect(lb.set('a', 5, 'gt')).toBe(false);
      expect(lb.score('a')).toBe(5);
      expect(lb.set('a', 8, 'gt')).toBe(true);
      expect(lb.score('a')).toBe(8);
    });

    it('lt adds an absent member and only ever lowers an existing score', () => {
      const lb = new Leaderboard();
      expect(lb.set('a', 5, 'lt')).toBe(true);
      expect(lb.set('a', 8, 'lt')).toBe(false);
      expect(lb.set('a', 5, 'lt')).toBe(false);
      expect(lb.score('a')).toBe(5);
      expect(lb.set('a', -2, 'lt')).toBe(true);
      expect(lb.score('a')).toBe(-2);
    });

    it('rejects an unknown mode with bad_request', () => {
      const lb = new Leaderboard();
      expectHubError(() => lb.set('a', 1, 'ge' as ScoreMode), 'bad_request');
      expect(lb.size).toBe(0);
    });
  });

  it('incr creates an absent member at the increment and returns new scores', () => {
    const lb = new Leaderboard();
    expect(lb.incr('a', 5)).toBe(5);
    expect(lb.incr('a', 2.5)).toBe(7.5);
    expect(lb.incr('b', 0)).toBe(0);
    expect(lb.size).toBe(2);
    expect(names(lb.top(2))).toEqual(['a', 'b']);
  });

  it('incr can take a score below zero and reorders the board', () => {
    const lb = board({ a: 1, b: 2, c: 3 });
    expect(lb.incr('c', -10)).toBe(-7);
    expect(names(lb.top(3))).toEqual(['b', 'a', 'c']);
    expect(lb.rank('c')).toBe(2);
  });

  it('treats -0 and 0 as the same score', () => {
    const lb = new Leaderboard();
    lb.set('a', -0);
    expect(Object.is(lb.score('a'), 0)).toBe(true);
    expect(lb.set('a', 0)).toBe(false);
    expect(Object.is(lb.incr('b', -0), 0)).toBe(true);
  });

  it('remove takes a member out and closes the gap in ranks', () => {
    const lb = board({ a: 1, b: 2, c: 3 });
    expect(lb.remove('b')).toBe(true);
    expect(lb.remove('b')).toBe(false);
    expect(lb.size).toBe(2);
    expect(lb.score('b')).toBeUndefined();
    expect(lb.rank('a')).toBe(1);
    expect(names(lb.top(5))).toEqual(['c', 'a']);
    lb.set('b', 9);
    expect(names(lb.top(5))).toEqual(['b', 'c', 'a']);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'rejects the non-finite score %s with invalid_score and leaves the board unchanged',
    (bad) => {
      const lb = board({ a: 1, b: 2 });
      const before = lb.top(10);
      expectHubError(() => lb.set('a', bad), 'invalid_score');
      expectHubError(() => lb.set('new', bad, 'nx'), 'invalid_score');
      expectHubError(() => lb.incr('a', bad), 'invalid_score');
      expectHubError(() => lb.incr('new', bad), 'invalid_score');
      expect(lb.top(10)).toEqual(before);
      expect(lb.size).toBe(2);
    },
  );

  it('rejects an incr that overflows to Infinity and keeps the old score', () => {
    const lb = board({ a: 1.7e308, b: -1.7e308 });
    expectHubError(() => lb.incr('a', 1.7e308), 'invalid_score');
    expectHubError(() => lb.incr('b', -1.7e308), 'invalid_score');
    expect(lb.score('a')).toBe(1.7e308);
    expect(lb.score('b')).toBe(-1.7e308);
    expect(names(lb.top(2))).toEqual(['a', 'b']);
  });

  it('top pages by offset and returns nothing past the end', () => {
    const lb = board({ a: 1, b: 2, c: 3, d: 4, e: 5 });
    expect(lb.top(2, 1)).toEqual([
      { member: 'd', score: 4, rank: 1 },
      { member: 'c', score: 3, rank: 2 },
    ]);
    expect(names(lb.top(10, 3))).toEqual(['b', 'a']);
    expect(lb.top(1, 4)).toEqual([{ member: 'a', score: 1, rank: 4 }]);
    expect(lb.top(3, 5)).toEqual([]);
    expect(lb.top(3, 1000)).toEqual([]);
    expect(lb.top(0)).toEqual([]);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects the count %s with bad_request', (bad) => {
    const lb = board({ a: 1, b: 2 });
    expectHubError(() => lb.top(bad), 'bad_request');
    expectHubError(() => lb.top(1, bad), 'bad_request');
    expectHubError(() => lb.around('a', bad), 'bad_request');
    expectHubError(() => lb.trimTo(bad), 'bad_request');
    expect(lb.size).toBe(2);
  });

  it('around gives the neighbours on both sides, cut short at the edges', () => {
    const lb = board({ a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7 });
    expect(lb.around('d', 2)).toEqual([
      { member: 'f', score: 6, rank: 1 },
      { member: 'e', score: 5, rank: 2 },
      { member: 'd', score: 4, rank: 3 },
      { member: 'c', score: 3, rank: 4 },
      { member: 'b', score: 2, rank: 5 },
    ]);
    expect(names(lb.around('g', 2))).toEqual(['g', 'f', 'e']);
    expect(names(lb.around('a', 2))).toEqual(['c', 'b', 'a']);
    expect(lb.around('a', 0)).toEqual([{ member: 'a', score: 1, rank: 6 }]);
    expect(names(lb.around('d', 100))).toEqual(['g', 'f', 'e', 'd', 'c', 'b', 'a']);
    expect(lb.around('missing', 2)).toEqual([]);
  });

  it('trimTo keeps the best members and returns the dropped ones, lowest first', () => {
    const lb = board({ a: 1, b: 2, c: 3, d: 4, e: 5 });
    expect(lb.trimTo(10)).toEqual([]);
    expect(lb.trimTo(2)).toEqual(['a', 'b', 'c']);
    expect(lb.size).toBe(2);
    expect(names(lb.top(10))).toEqual(['e', 'd']);
    expect(lb.score('a')).toBeUndefined();
    expect(lb.trimTo(0)).toEqual(['d', 'e']);
    expect(lb.size).toBe(0);
    lb.incr('a', 1);
    expect(lb.top(10)).toEqual([{ member: 'a', score: 1, rank: 0 }]);
  });

  it('keeps top, rank and incr right after removing almost every member from the top down', () => {
    // Increasing scores fill leaves left to right, so 2,100 members make a root with two branches.
    // Removing from the top emptied the right branch down to one leaf, removing the rest from the
    // bottom then emptied the left one: the root collapsed onto a one-child branch, whose last
    // leaf was later unlinked as "empty", leaving a childless root, `first` on a detached leaf,
    // and the survivor's index entry pointing at it (TypeError on incr, [] from top, and rank
    // looping forever over a parent that no longer held the leaf).
    for (const keep of [1030, 1040, 1050]) {
      const lb = new Leaderboard();
      const total = 2100;
      for (let i = 0; i < total; i++) lb.set(`m${i}`, i);
      lb.checkInvariants();
      for (let i = total - 1; i >= keep; i--) expect(lb.remove(`m${i}`)).toBe(true);
      lb.checkInvariants();
      for (let i = 0; i < keep - 1; i++) expect(lb.remove(`m${i}`)).toBe(true);
      lb.checkInvariants();
      const survivor = `m${keep - 1}`;
      expect(lb.top(10)).toEqual([{ member: survivor, score: keep - 1, rank: 0 }]);
      expect(lb.incr(survivor, 5)).toBe(keep + 4);
      // Checked before rank, which walked a broken tree forever: these fail instead of hanging.
      lb.checkInvariants();
      expect(lb.top(10)).toEqual([{ member: survivor, score: keep + 4, rank: 0 }]);
      expect(lb.size).toBe(1);
      expect(lb.rank(survivor)).toBe(0);
      expect(lb.around(survivor, 3)).toEqual([{ member: survivor, score: keep + 4, rank: 0 }]);
      expect(lb.trimTo(0)).toEqual([survivor]);
      expect(lb.top(10)).toEqual([]);
      lb.set('again', 1);
      expect(lb.top(10)).toEqual([{ member: 'again', score: 1, rank: 0 }]);
      expect(lb.rank('again')).toBe(0);
    }
  });

  it('keeps ranks consistent with a sorted copy on a 100,000-member board', () => {
    const random = lcg(42);
    const lb = new Leaderboard();
    const model = new Map<string, number>();
    for (let i = 0; i < 100_000; i++) {
      const score = Math.floor(random() * 1000); // many ties
      lb.set(`user:${i}`, score);
      model.set(`user:${i}`, score);
    }
    for (let i = 0; i < 50_000; i++) {
      const member = `user:${Math.floor(random() * 100_000)}`;
      if (i % 10 === 0) {
        lb.remove(member);
        model.delete(member);
      } else {
        model.set(member, lb.incr(member, Math.floor(random() * 21) - 10));
      }
    }
    const expected = ranked(model);
    expect(lb.size).toBe(expected.length);
    expect(lb.top(expected.length)).toEqual(expected);
    for (let i = 0; i < expected.length; i += 97) {
      const entry = expected[i];
      if (entry === undefined) continue;
      expect(lb.rank(entry.member)).toBe(i);
      expect(lb.top(3, i)).toEqual(expected.slice(i, i + 3));
      expect(lb.around(entry.member, 2)).toEqual(expected.slice(Math.max(0, i - 2), i + 3));
    }
    expect(lb.trimTo(1000)).toEqual(names(expected.slice(1000).reverse()));
    expect(lb.top(1000)).toEqual(expected.slice(0, 1000));
  });
});

describe('Leaderboard against a sort-on-read model', () => {
  const members = ['a', 'b', 'c', 'ab', '', 'Z', 'é', '\uE000', '\uFFFF', '\u{10000}', '\u{1F600}'];
  const member = fc.constantFrom(...members);
  const value = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(0.5, -0.5, 1e9, -0));
  const op = fc.oneof(
    fc.record({ kind: fc.constant('incr' as const), member, by: value }),
    fc.record({
      kind: fc.constant('set' as const),
      member,
      score: value,
      mode: fc.constantFrom<ScoreMode>('always', 'gt', 'lt', 'nx', 'xx'),
    }),
    fc.record({ kind: fc.constant('remove' as const), member }),
    fc.record({ kind: fc.constant('trimTo' as const), max: fc.integer({ min: 0, max: 12 }) }),
  );

  type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

  function applyToModel(model: Map<string, number>, o: Op): unknown {
    switch (o.kind) {
      case 'incr': {
        const score = (model.get(o.member) ?? 0) + o.by + 0;
        model.set(o.member, score);
        return score;
      }
      case 'set': {
        const old = model.get(o.member);
        const score = o.score + 0;
        const write =
          old === undefined
            ? o.mode !== 'xx'
            : o.mode !== 'nx' &&
              score !== old &&
              (o.mode !== 'gt' || score > old) &&
              (o.mode !== 'lt' || score < old);
        if (write) model.set(o.member, score);
        return write;
      }
      case 'remove':
        return model.delete(o.member);
      case 'trimTo': {
        const dropped = names(ranked(model).slice(o.max).reverse());
        for (const m of dropped) model.delete(m);
        return dropped;
      }
    }
  }

  function applyToBoard(lb: Leaderboard, o: Op): unknown {
    switch (o.kind) {
      case 'incr':
        return lb.incr(o.member, o.by);
      case 'set':
        return lb.set(o.member, o.score, o.mode);
      case 'remove':
        return lb.remove(o.member);
      case 'trimTo':
        return lb.trimTo(o.max);
    }
  }

  it('agrees on results, order, ranks, scores, size and neighbourhoods', () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(op, { maxLength: 60 }), (seed, ops) => {
        const lb = new Leaderboard();
        const model = new Map<string, number>();
        for (const o of ops) {
          expect(applyToBoard(lb, o)).toEqual(applyToModel(model, o));
        }
        const expected = ranked(model);
        expect(lb.size).toBe(model.size);
        expect(lb.top(members.length)).toEqual(expected);
        expect(lb.top(3, 2)).toEqual(expected.slice(2, 5));
        for (const m of members) {
          const i = expected.findIndex((e) => e.member === m);
          expect(lb.score(m)).toBe(model.get(m));
          expect(lb.rank(m)).toBe(i === -1 ? undefined : i);
          expect(lb.around(m, 1)).toEqual(i === -1 ? [] : expected.slice(Math.max(0, i - 1), i + 2));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('Leaderboards', () => {
  it('reports a score set to -0 as 0, the score the board holds', () => {
    const updates: LeaderboardUpdate[] = [];
    const boards = new Leaderboards((_board, update) => updates.push(update));
    expect(boards.set('b', 'a', -0, 'always', undefined)).toBe(true);
    expect(Object.is(boards.get('b')?.score('a'), 0)).toBe(true);
    expect(updates).toHaveLength(1);
    expect(Object.is(updates[0]?.score, 0)).toBe(true);
  });
});

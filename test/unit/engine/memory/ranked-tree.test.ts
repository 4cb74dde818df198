import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Leaderboard } from '../../../../src/engine/memory/leaderboard.js';
import { compareMembers } from '../../../../src/engine/memory/member-order.js';
import { type Entry, RankedTree } from '../../../../src/engine/memory/ranked-tree.js';

/** The trivially correct model: a map, sorted on every read, highest score first, Redis ties. */
class Model {
  readonly scores = new Map<string, number>();
  sorted(): { member: string; score: number; rank: number }[] {
    return [...this.scores]
      .sort(([ma, sa], [mb, sb]) => sb - sa || compareMembers(mb, ma))
      .map(([member, score], rank) => ({ member, score, rank }));
  }
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    // mulberry32: 32-bit state kept exact with Math.imul, unlike a float LCG.
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function expectSame(board: Leaderboard, model: Model): void {
  board.checkInvariants();
  const sorted = model.sorted();
  expect(board.size).toBe(sorted.length);
  expect(board.top(sorted.length + 5)).toEqual(sorted);
  for (const e of sorted) {
    expect(board.rank(e.member)).toBe(e.rank);
    expect(board.score(e.member)).toBe(e.score);
  }
}

describe('Leaderboard over the counted B+ tree', () => {
  it('matches the model through growth past many leaf and branch splits and back to empty', () => {
    const rnd = seeded(42);
    const board = new Leaderboard();
    const model = new Model();
    const members = Array.from({ length: 6000 }, (_, i) => `m${i}`);
    for (let step = 0; step < 40_000; step++) {
      const member = members[Math.floor(rnd() * members.length)] as string;
      const op = rnd();
      const score = Math.floor(rnd() * 50); // few distinct scores: ties everywhere
      if (op < 0.55) {
        board.set(member, score);
        model.scores.set(member, score);
      } else if (op < 0.85) {
        const by = Math.floor(rnd() * 7) - 3;
        expect(board.incr(member, by)).toBe((model.scores.get(member) ?? 0) + by);
        model.scores.set(member, (model.scores.get(member) ?? 0) + by);
      } else {
        expect(board.remove(member)).toBe(model.scores.delete(member));
      }
      if (step % 5000 === 4999) expectSame(board, model);
    }
    expectSame(board, model);
    for (const m of members) {
      board.remove(m);
      model.scores.delete(m);
    }
    expectSame(board, model);
    board.set('again', 1);
    expect(board.top(5)).toEqual([{ member: 'again', score: 1, rank: 0 }]);
  });

  it('keeps the best members when trimmed, from a multi-level tree', () => {
    const board = new Leaderboard();
    for (let i = 0; i < 10_000; i++) board.set(`p${i}`, i % 997);
    const removed = board.trimTo(100);
    expect(removed).toHaveLength(9900);
    expect(board.size).toBe(100);
    const top = board.top(100);
    expect(top.every((e) => e.score >= 987)).toBe(true);
    expect(board.around(top[50]?.member as string, 2).map((e) => e.rank)).toEqual([48, 49, 50, 51, 52]);
  });

  it('agrees with the model on random small operation sequences (property)', () => {
    const member = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', '\u{1F600}', '\uE000');
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), member, score: fc.integer({ min: -3, max: 3 }) }),
      fc.record({ kind: fc.constant('incr' as const), member, score: fc.integer({ min: -3, max: 3 }) }),
      fc.record({ kind: fc.constant('remove' as const), member, score: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const board = new Leaderboard();
        const model = new Model();
        for (const o of ops) {
          if (o.kind === 'set') {
            board.set(o.member, o.score);
            model.scores.set(o.member, o.score);
          } else if (o.kind === 'incr') {
            board.incr(o.member, o.score);
            model.scores.set(o.member, (model.scores.get(o.member) ?? 0) + o.score);
          } else {
            board.remove(o.member);
            model.scores.delete(o.member);
          }
        }
        expectSame(board, model);
        const sorted = model.sorted();
        for (const e of sorted) {
          const expected = sorted.slice(Math.max(0, e.rank - 2), e.rank + 3);
          expect(board.around(e.member, 2)).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('Leaderboard edge cases', () => {
  it('orders tied members by code point, as Redis orders their UTF-8 bytes', () => {
    const board = new Leaderboard();
    // U+1F600 is a surrogate pair in UTF-16 (0xD83D...), which JS `<` puts below U+E000;
    // in UTF-8 (F0 9F ...) it sorts above EE 80 80, so Redis ranks it first among equals.
    for (const m of ['\uE000', '\u{1F600}', 'z', 'a']) board.set(m, 5);
    expect(board.top(4).map((e) => e.member)).toEqual(['\u{1F600}', '\uE000', 'z', 'a']);
    expect(compareMembers('\u{1F600}', '\uE000')).toBeGreaterThan(0);
    expect(compareMembers('\uE000', '\uFFFF')).toBeLessThan(0);
    expect(compareMembers('ab', 'abc')).toBeLessThan(0);
  });

  it('rejects an increment that would overflow to Infinity and keeps the old score', () => {
    const board = new Leaderboard();
    board.set('big', 1.7e308);
    expect(() => board.incr('big', 1.7e308)).toThrow(expect.objectContaining({ code: 'invalid_score' }));
    expect(board.score('big')).toBe(1.7e308);
  });

  it('treats -0 as 0 and does not report an unchanged score as a change', () => {
    const board = new Leaderboard();
    expect(board.set('a', -0)).toBe(true);
    expect(Object.is(board.score('a'), 0)).toBe(true);
    expect(board.set('a', 0)).toBe(false);
    expect(board.incr('b', -0)).toBe(0);
  });

  it('answers ranges past the end, and rejects negative or fractional counts', () => {
    const board = new Leaderboard();
    board.set('a', 1);
    board.set('b', 2);
    expect(board.top(10, 1)).toEqual([{ member: 'a', score: 1, rank: 1 }]);
    expect(board.top(10, 2)).toEqual([]);
    expect(board.top(0)).toEqual([]);
    expect(board.around('b', 5).map((e) => e.member)).toEqual(['b', 'a']);
    expect(board.around('nobody', 1)).toEqual([]);
    for (const bad of [
      () => board.top(-1),
      () => board.top(1, 0.5),
      () => board.around('a', -1),
      () => board.trimTo(-2),
    ]) {
      expect(bad).toThrow(expect.objectContaining({ code: 'bad_request' }));
    }
    expect(() => board.set('a', 1, 'sometimes' as 'gt')).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
  });
});

describe('RankedTree structure', () => {
  it('rejects node capacities too small to split and merge, with a TypeError', () => {
    const index = new Map<string, Entry>();
    expect(() => new RankedTree(index, { leafMax: 1 })).toThrow(
      new TypeError('leafMax must be a whole number >= 2, got 1'),
    );
    expect(() => new RankedTree(index, { branchMax: 2.5 })).toThrow(
      new TypeError('branchMax must be a whole number >= 3, got 2.5'),
    );
  });

  it('shrinks level by level, borrowing and merging, while members leave from both ends', () => {
    const board = new Leaderboard({ leafMax: 4, branchMax: 4 });
    const model = new Model();
    for (let i = 0; i < 500; i++) {
      board.set(`m${i}`, i);
      model.scores.set(`m${i}`, i);
    }
    board.checkInvariants();
    for (let lo = 0, hi = 499; lo < hi; lo += 2, hi -= 3) {
      for (const m of [`m${hi}`, `m${hi - 1}`, `m${hi - 2}`, `m${lo}`, `m${lo + 1}`]) {
        board.remove(m);
        model.scores.delete(m);
        board.checkInvariants();
      }
    }
    expectSame(board, model);
  });

  it('finds a broken tree with checkInvariants instead of answering from it', () => {
    const index = new Map<string, Entry>();
    const tree = new RankedTree(index);
    tree.insert('a', 1);
    tree.insert('b', 2);
    tree.checkInvariants();
    (index.get('a') as Entry).score = 5; // an index out of step with the leaves
    expect(() => tree.checkInvariants()).toThrow(/index entry of a/);
  });
});

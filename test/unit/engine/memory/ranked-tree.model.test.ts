// Model-based tests of the counted B+ tree, the Leaderboard on it and the Leaderboards that cap
// and report them: random command sequences run against a plain sorted array, and after every
// command the tree's structural invariants are checked too. Small node capacities and bulk
// commands (monotonic fills, removal from either end) push the tree through splits, borrows,
// merges and root collapses; shrinking hands back the shortest failing sequence.

import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Leaderboard } from '../../../../src/engine/memory/leaderboard.js';
import { Leaderboards } from '../../../../src/engine/memory/leaderboards.js';
import { type Entry, RankedTree, type RankedTreeOptions } from '../../../../src/engine/memory/ranked-tree.js';
import type { LeaderboardEntry, LeaderboardUpdate, ScoreMode } from '../../../../src/engine/types.js';
import { isHubError } from '../../../../src/protocol/errors.js';

interface Item {
  member: string;
  score: number;
}

const utf8 = new Map<string, Buffer>();
const bytesOf = (s: string): Buffer => {
  let bytes = utf8.get(s);
  if (bytes === undefined) utf8.set(s, (bytes = Buffer.from(s, 'utf8')));
  return bytes;
};

/** Redis's tie order, computed the obvious way: UTF-8 bytes. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(bytesOf(a), bytesOf(b));
}

function byKey(a: Item, b: Item): number {
  return a.score < b.score ? -1 : a.score > b.score ? 1 : byUtf8(a.member, b.member);
}

/** The model: members in one array, ascending by (score, member), kept sorted on every write. */
class SortedArray {
  readonly items: Item[] = [];
  private readonly scores = new Map<string, number>();

  get size(): number {
    return this.items.length;
  }

  /** First position whose key is >= the item's. */
  private position(item: Item): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (byKey(this.items[mid] as Item, item) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Ascending rank (the tree's), or -1. */
  indexOf(member: string): number {
    const score = this.scores.get(member);
    return score === undefined ? -1 : this.position({ member, score });
  }

  score(member: string): number | undefined {
    return this.scores.get(member);
  }

  put(member: string, score: number): void {
    this.delete(member);
    const item = { member, score };
    this.items.splice(this.position(item), 0, item);
    this.scores.set(member, score);
  }

  delete(member: string): boolean {
    const i = this.indexOf(member);
    if (i === -1) return false;
    this.items.splice(i, 1);
    this.scores.delete(member);
    return true;
  }

  /** Highest first, ties by member greatest first: ZREVRANGE order. */
  ranked(): LeaderboardEntry[] {
    return this.items
      .slice()
      .reverse()
      .map(({ member, score }, rank) => ({ member, score, rank }));
  }

  /** ZADD semantics with the Leaderboard's flags: whether the write happens. */
  wouldSet(member: string, score: number, mode: ScoreMode): boolean {
    const old = this.score(member);
    if (old === undefined) return mode !== 'xx';
    return mode !== 'nx' && score !== old && (mode !== 'gt' || score > old) && (mode !== 'lt' || score < old);
  }

  /** Drops the lowest until size <= max; returns them lowest first. */
  trimTo(max: number): string[] {
    const dropped = this.items.splice(0, Math.max(0, this.items.length - max)).map((item) => item.member);
    for (const member of dropped) this.scores.delete(member);
    return dropped;
  }
}

/**
 * expect() costs more than the tree operations it checks (most of the run time went there), so
 * it is called only to report a mismatch. isDeepStrictEqual tells -0 from 0, as toEqual does.
 */
function same(actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual).toEqual(expected);
}

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isHubError(err)) return err.code;
    throw err;
  }
  return 'no error';
}

// Pools small enough that commands keep hitting the same members; tricky code points for ties.
const named = ['a', 'b', 'c', 'ab', '', 'Z', 'é', '\uE000', '\uFFFF', '\u{10000}', '\u{1F600}'];
const FILLED = 120;
const memberArb = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...named) },
  { weight: 3, arbitrary: fc.nat(FILLED - 1).map((i) => `f${i}`) },
);
const scoreArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -5, max: 5 }) },
  { weight: 1, arbitrary: fc.constantFrom(0.5, -0.5, 0.1, 1e9, -0, 1.7e308, -1.7e308) },
);
const modeArb = fc.constantFrom<ScoreMode>('always', 'gt', 'lt', 'nx', 'xx');

/** Bulk writes with monotonic scores: what fills leaves one after another and splits branches. */
const fillArb = fc.record({
  prefix: fc.constantFrom('f', 'g'),
  count: fc.integer({ min: 1, max: FILLED }),
  start: fc.integer({ min: -50, max: 50 }),
  step: fc.constantFrom(1, 1, -1, 0, 0.5, 3),
  backwards: fc.boolean(),
});
interface Fill {
  prefix: string;
  count: number;
  start: number;
  step: number;
  backwards: boolean;
}

function fillItems(f: Fill): Item[] {
  const items = Array.from({ length: f.count }, (_, i) => ({
    member: `${f.prefix}${i}`,
    score: f.start + i * f.step,
  }));
  return f.backwards ? items.reverse() : items;
}

/** Which members a bulk removal takes, in order: from the top, the bottom, or both ends in turn. */
type End = 'top' | 'bottom' | 'both';
function endMembers(model: SortedArray, k: number, end: End): string[] {
  const items = model.items.map((item) => item.member);
  const out: string[] = [];
  let lo = 0;
  let hi = items.length - 1;
  while (out.length < k && lo <= hi) {
    const fromTop = end === 'top' || (end === 'both' && out.length % 2 === 0);
    out.push((fromTop ? items[hi--] : items[lo++]) as string);
  }
  return out;
}
const endOf = fc.constantFrom<End>('top', 'bottom', 'both');
const endArb = fc.record({ k: fc.integer({ min: 1, max: 200 }), end: endOf });
/** Per run: node capacities small enough that a few dozen members make a tree three levels deep. */
const smallNodes: fc.Arbitrary<RankedTreeOptions> = fc.record({
  leafMax: fc.integer({ min: 2, max: 8 }),
  branchMax: fc.integer({ min: 3, max: 6 }),
});

/** A command whose checks live in `run`; every command may run in any state. */
function command<M extends object, R>(label: string, run: (m: M, r: R) => void, after: (m: M, r: R) => void) {
  const cmd: fc.Command<M, R> = {
    check: () => true,
    run: (m, r) => {
      run(m, r);
      after(m, r);
    },
    toString: () => label,
  };
  return cmd;
}

const show = (v: unknown): string => (Object.is(v, -0) ? '-0' : JSON.stringify(v));

describe('RankedTree against a sorted array', () => {
  interface Real {
    tree: RankedTree;
    index: Map<string, Entry>;
  }
  type Cmd = fc.Command<SortedArray, Real>;
  const after = (m: SortedArray, r: Real): void => {
    r.tree.checkInvariants();
    same(r.tree.size, m.size);
    const lowest = m.items[0];
    same(r.tree.lowest(), lowest === undefined ? undefined : [lowest.score, lowest.member]);
  };
  const cmd = (label: string, run: (m: SortedArray, r: Real) => void): Cmd => command(label, run, after);

  // The tree's own contract: insert only absent members, move and remove only present ones.
  const write = (m: SortedArray, r: Real, member: string, score: number): void => {
    const entry = r.index.get(member);
    if (entry === undefined) r.tree.insert(member, score);
    else r.tree.move(member, entry, score);
    m.put(member, score);
  };
  const commands: fc.Arbitrary<Cmd>[] = [
    fc
      .record({ member: memberArb, score: fc.integer({ min: -5, max: 5 }) })
      .map(({ member, score }) =>
        cmd(`write(${show(member)}, ${score})`, (m, r) => write(m, r, member, score)),
      ),
    fillArb.map((f) =>
      cmd(`fill(${JSON.stringify(f)})`, (m, r) => {
        for (const { member, score } of fillItems(f)) write(m, r, member, score);
      }),
    ),
    memberArb.map((member) =>
      cmd(`remove(${show(member)})`, (m, r) => {
        const entry = r.index.get(member);
        same(entry !== undefined, m.delete(member));
        if (entry !== undefined) r.tree.remove(member, entry);
      }),
    ),
    endArb.map(({ k, end }) =>
      cmd(`removeFrom(${end}, ${k})`, (m, r) => {
        for (const member of endMembers(m, k, end)) {
          r.tree.remove(member, r.index.get(member) as Entry);
          m.delete(member);
        }
      }),
    ),
    memberArb.map((member) =>
      cmd(`rankOf(${show(member)})`, (m, r) => {
        const entry = r.index.get(member);
        if (entry !== undefined) same(r.tree.rankOf(member, entry), m.indexOf(member));
      }),
    ),
    fc.record({ start: fc.integer({ min: -1, max: 300 }), limit: fc.nat(12) }).map(({ start, limit }) =>
      cmd(`walkDown(${start}, ${limit})`, (m, r) => {
        const seen: Item[] = [];
        r.tree.walkDown(start, limit, (score, member) => seen.push({ member, score }));
        const want = start < 0 ? [] : m.items.slice(Math.max(0, start - limit + 1), start + 1).reverse();
        same(seen, start >= m.size ? [] : want);
      }),
    ),
  ];

  it('agrees on every answer and keeps every invariant, with small nodes', () => {
    fc.assert(
      fc.property(smallNodes, fc.commands(commands, { maxCommands: 30, size: 'max' }), (options, cmds) => {
        fc.modelRun(() => {
          const index = new Map<string, Entry>();
          return { model: new SortedArray(), real: { tree: new RankedTree(index, options), index } };
        }, cmds);
      }),
      { numRuns: 800 },
    );
  });
});

describe('Leaderboard against a sorted array', () => {
  type Cmd = fc.Command<SortedArray, Leaderboard>;
  const after = (m: SortedArray, lb: Leaderboard): void => {
    lb.checkInvariants();
    same(lb.size, m.size);
    same(lb.top(m.size + 1), m.ranked());
  };
  const cmd = (label: string, run: (m: SortedArray, lb: Leaderboard) => void): Cmd =>
    command(label, run, after);

  const commands: fc.Arbitrary<Cmd>[] = [
    fc.record({ member: memberArb, score: scoreArb, mode: modeArb }).map(({ member, score, mode }) =>
      cmd(`set(${show(member)}, ${show(score)}, ${mode})`, (m, lb) => {
        const write = m.wouldSet(member, score + 0, mode);
        same(lb.set(member, score, mode), write);
        if (write) m.put(member, score + 0);
      }),
    ),
    fc.record({ member: memberArb, by: scoreArb }).map(({ member, by }) =>
      cmd(`incr(${show(member)}, ${show(by)})`, (m, lb) => {
        const score = (m.score(member) ?? 0) + by + 0;
        if (!Number.isFinite(score)) {
          same(errorCode(() => lb.incr(member, by)), 'invalid_score');
          return;
        }
        same(lb.incr(member, by), score);
        m.put(member, score);
      }),
    ),
    fillArb.map((f) =>
      cmd(`fill(${JSON.stringify(f)})`, (m, lb) => {
        for (const { member, score } of fillItems(f)) {
          lb.set(member, score);
          m.put(member, score);
        }
      }),
    ),
    memberArb.map((member) =>
      cmd(`remove(${show(member)})`, (m, lb) => same(lb.remove(member), m.delete(member))),
    ),
    endArb.map(({ k, end }) =>
      cmd(`removeFrom(${end}, ${k})`, (m, lb) => {
        for (const member of endMembers(m, k, end)) {
          same(lb.remove(member), true);
          m.delete(member);
        }
      }),
    ),
    memberArb.map((member) =>
      cmd(`rank(${show(member)})`, (m, lb) => {
        const i = m.indexOf(member);
        same(lb.rank(member), i === -1 ? undefined : m.size - 1 - i);
        same(lb.score(member), m.score(member));
      }),
    ),
    fc.record({ limit: fc.nat(10), offset: fc.nat(130) }).map(({ limit, offset }) =>
      cmd(`top(${limit}, ${offset})`, (m, lb) =>
        same(lb.top(limit, offset), m.ranked().slice(offset, offset + limit)),
      ),
    ),
    fc.record({ member: memberArb, n: fc.nat(4) }).map(({ member, n }) =>
      cmd(`around(${show(member)}, ${n})`, (m, lb) => {
        const i = m.indexOf(member);
        const rank = m.size - 1 - i;
        const want = i === -1 ? [] : m.ranked().slice(Math.max(0, rank - n), rank + n + 1);
        same(lb.around(member, n), want);
      }),
    ),
    fc
      .integer({ min: 0, max: 130 })
      .map((max) => cmd(`trimTo(${max})`, (m, lb) => same(lb.trimTo(max), m.trimTo(max)))),
  ];

  const finalCheck = (m: SortedArray, lb: Leaderboard): void => {
    for (const { member } of m.items) {
      same(lb.rank(member), m.size - 1 - m.indexOf(member));
      same(lb.score(member), m.score(member));
    }
  };

  it('agrees on every answer and keeps every invariant, with small nodes', () => {
    fc.assert(
      fc.property(smallNodes, fc.commands(commands, { maxCommands: 30, size: 'max' }), (options, cmds) => {
        const setup = { model: new SortedArray(), real: new Leaderboard(options) };
        fc.modelRun(() => setup, cmds);
        finalCheck(setup.model, setup.real);
      }),
      { numRuns: 1200 },
    );
  });

  it('agrees on every answer and keeps every invariant, with production nodes and big boards', () => {
    // Default capacities need thousands of members for a second branch level: fills of up to
    // 5,000 monotonic scores, then removal from either end, reach it and collapse it again.
    const bigFill = fc.record({
      count: fc.integer({ min: 1000, max: 5000 }),
      step: fc.constantFrom(1, -1, 0, 0.25),
      backwards: fc.boolean(),
    });
    const bigCommands: fc.Arbitrary<Cmd>[] = [
      ...commands,
      bigFill.map(({ count, step, backwards }) =>
        cmd(`bigFill(${count}, ${step}, ${backwards})`, (m, lb) => {
          for (const { member, score } of fillItems({ prefix: 'h', count, start: 0, step, backwards })) {
            lb.set(member, score);
            m.put(member, score);
          }
        }),
      ),
      fc.record({ k: fc.integer({ min: 200, max: 5000 }), end: endOf }).map(({ k, end }) =>
        cmd(`bigRemoveFrom(${end}, ${k})`, (m, lb) => {
          for (const member of endMembers(m, k, end)) {
            lb.remove(member);
            m.delete(member);
          }
        }),
      ),
    ];
    fc.assert(
      fc.property(fc.commands(bigCommands, { maxCommands: 12, size: 'max' }), (cmds) => {
        const setup = { model: new SortedArray(), real: new Leaderboard() };
        fc.modelRun(() => setup, cmds);
        finalCheck(setup.model, setup.real);
      }),
      { numRuns: 60 },
    );
  });
});

describe('Leaderboards against sorted arrays', () => {
  interface Model {
    boards: Map<string, SortedArray>;
  }
  interface Real {
    boards: Leaderboards;
    updates: [string, LeaderboardUpdate][];
  }
  type Cmd = fc.Command<Model, Real>;

  const boardOf = (m: Model, board: string): SortedArray => {
    let model = m.boards.get(board);
    if (model === undefined) {
      model = new SortedArray();
      m.boards.set(board, model);
    }
    return model;
  };
  /** What a change reports: the member (unless the cap dropped it), then each other dropped one. */
  const changed = (
    model: SortedArray,
    board: string,
    member: string,
    score: number,
    max: number | undefined,
  ): [string, LeaderboardUpdate][] => {
    const dropped = max === undefined ? [] : model.trimTo(max);
    const updates: [string, LeaderboardUpdate][] = [];
    if (!dropped.includes(member)) updates.push([board, { member, score }]);
    for (const gone of dropped) if (gone !== member) updates.push([board, { member: gone, score: null }]);
    return updates;
  };
  const after = (m: Model, r: Real): void => {
    for (const [name, model] of m.boards) if (model.size === 0) m.boards.delete(name);
    // An empty board is deleted, as Redis deletes an empty sorted set.
    same(r.boards.count, m.boards.size);
    for (const [name, model] of m.boards) {
      const lb = r.boards.get(name) as Leaderboard;
      lb.checkInvariants();
      same(r.boards.top(name, model.size + 1, 0), model.ranked());
    }
  };
  const cmd = (label: string, run: (m: Model, r: Real) => void): Cmd => command(label, run, after);
  const boardArb = fc.constantFrom('x', 'y');
  const maxArb = fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined });
  const expectUpdates = (r: Real, want: [string, LeaderboardUpdate][]): void => {
    same(r.updates.splice(0), want);
  };

  const commands: fc.Arbitrary<Cmd>[] = [
    fc.record({ board: boardArb, member: memberArb, score: scoreArb, mode: modeArb, max: maxArb }).map((c) =>
      cmd(`set(${c.board}, ${show(c.member)}, ${show(c.score)}, ${c.mode}, ${c.max})`, (m, r) => {
        const model = boardOf(m, c.board);
        const write = model.wouldSet(c.member, c.score + 0, c.mode);
        same(r.boards.set(c.board, c.member, c.score, c.mode, c.max), write);
        if (!write) return expectUpdates(r, []);
        model.put(c.member, c.score + 0);
        expectUpdates(r, changed(model, c.board, c.member, c.score + 0, c.max));
      }),
    ),
    fc.record({ board: boardArb, member: memberArb, by: scoreArb, max: maxArb }).map((c) =>
      cmd(`incr(${c.board}, ${show(c.member)}, ${show(c.by)}, ${c.max})`, (m, r) => {
        const model = boardOf(m, c.board);
        const score = (model.score(c.member) ?? 0) + c.by + 0;
        if (!Number.isFinite(score)) {
          same(errorCode(() => r.boards.incr(c.board, c.member, c.by, c.max)), 'invalid_score');
          return expectUpdates(r, []);
        }
        same(r.boards.incr(c.board, c.member, c.by, c.max), score);
        model.put(c.member, score);
        expectUpdates(r, changed(model, c.board, c.member, score, c.max));
      }),
    ),
    fc.record({ board: boardArb, member: memberArb }).map(({ board, member }) =>
      cmd(`remove(${board}, ${show(member)})`, (m, r) => {
        const removed = boardOf(m, board).delete(member);
        same(r.boards.remove(board, member), removed);
        expectUpdates(r, removed ? [[board, { member, score: null }]] : []);
      }),
    ),
    fc.record({ board: boardArb, member: memberArb, n: fc.nat(3) }).map(({ board, member, n }) =>
      cmd(`around(${board}, ${show(member)}, ${n})`, (m, r) => {
        const model = boardOf(m, board);
        const i = model.indexOf(member);
        const rank = model.size - 1 - i;
        const want = i === -1 ? [] : model.ranked().slice(Math.max(0, rank - n), rank + n + 1);
        same(r.boards.around(board, member, n), want);
      }),
    ),
  ];

  it('agrees on results, reported updates, caps and board deletion', () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 30, size: 'max' }), (cmds) => {
        fc.modelRun(() => {
          const updates: [string, LeaderboardUpdate][] = [];
          const boards = new Leaderboards((board, update) => updates.push([board, update]));
          return { model: { boards: new Map() }, real: { boards, updates } };
        }, cmds);
      }),
      { numRuns: 800 },
    );
  });
});

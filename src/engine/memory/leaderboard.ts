// One in-memory leaderboard, a sorted set with Redis's semantics (ZADD flags, ZINCRBY, ZREVRANK,
// ZREVRANGE tie order). Members index into a counted B+ tree, so every operation is O(log n) with
// few cache misses, and a small increment usually just shifts a member within its leaf.

import { HubError } from '../../protocol/errors.js';
import type { LeaderboardEntry, ScoreMode } from '../types.js';
import { type Entry, RankedTree, type RankedTreeOptions } from './ranked-tree.js';

function invalidScore(message: string): HubError {
  return new HubError('invalid_score', message);
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new HubError('bad_request', `${name} must be a whole number >= 0, got ${value}`);
  }
}

export class Leaderboard {
  private readonly index = new Map<string, Entry>();
  private readonly tree: RankedTree;

  /** `tree` sets node capacities; the defaults suit production, small ones exercise splits in tests. */
  constructor(tree: RankedTreeOptions = {}) {
    this.tree = new RankedTree(this.index, tree);
  }

  get size(): number {
    return this.index.size;
  }

  /** ZINCRBY. Returns the new score. Adds the member at `by` if absent. */
  incr(member: string, by: number): number {
    if (!Number.isFinite(by))
      throw invalidScore(`increment ${by} is not a finite number; pass a finite increment`);
    const entry = this.index.get(member);
    if (entry === undefined) {
      const score = by + 0; // folds -0 into 0
      this.tree.insert(member, score);
      return score;
    }
    const score = entry.score + by;
    if (!Number.isFinite(score)) {
      throw invalidScore(`incrementing ${member}'s score ${entry.score} by ${by} leaves the finite range`);
    }
    if (score !== entry.score) this.tree.move(member, entry, score);
    return score;
  }

  /** ZADD with flags (gt/lt still add new members, as ZADD GT/LT do). True when added or changed. */
  set(member: string, score: number, mode: ScoreMode = 'always'): boolean {
    if (!Number.isFinite(score))
      throw invalidScore(`score ${score} is not a finite number; pass a finite score`);
    if (mode !== 'always' && mode !== 'gt' && mode !== 'lt' && mode !== 'nx' && mode !== 'xx') {
      throw new HubError('bad_request', `unknown score mode ${String(mode)}; use always, gt, lt, nx or xx`);
    }
    const value = score + 0;
    const entry = this.index.get(member);
    if (entry === undefined) {
      if (mode === 'xx') return false;
      this.tree.insert(member, value);
      return true;
    }
    if (
      mode === 'nx' ||
      value === entry.score ||
      (mode === 'gt' && value < entry.score) ||
      (mode === 'lt' && value > entry.score)
    ) {
      return false;
    }
    this.tree.move(member, entry, value);
    return true;
  }

  remove(member: string): boolean {
    const entry = this.index.get(member);
    if (entry === undefined) return false;
    this.tree.remove(member, entry);
    return true;
  }

  score(member: string): number | undefined {
    return this.index.get(member)?.score;
  }

  /** 0-based rank, highest score first; undefined if absent. */
  rank(member: string): number | undefined {
    const entry = this.index.get(member);
    if (entry === undefined) return undefined;
    return this.index.size - 1 - this.tree.rankOf(member, entry);
  }

  /** Entries by rank, highest first, starting at rank `offset`, at most `limit`. */
  top(limit: number, offset = 0): LeaderboardEntry[] {
    checkCount('limit', limit);
    checkCount('offset', offset);
    return this.range(offset, limit);
  }

  /** The member's entry with up to n entries ranked above it and n below; [] if absent. */
  around(member: string, n: number): LeaderboardEntry[] {
    checkCount('n', n);
    const rank = this.rank(member);
    if (rank === undefined) return [];
    const from = Math.max(0, rank - n);
    return this.range(from, rank + n + 1 - from);
  }

  /** Removes the lowest-ranked members until size <= max; returns them, lowest first. */
  trimTo(max: number): string[] {
    checkCount('max', max);
    const removed: string[] = [];
    while (this.index.size > max) {
      const lowest = this.tree.lowest();
      if (lowest === undefined) break;
      this.remove(lowest[1]);
      removed.push(lowest[1]);
    }
    return removed;
  }

  /** Throws unless the tree under the board is structurally sound. O(n); for tests. */
  checkInvariants(): void {
    this.tree.checkInvariants();
  }

  private range(offset: number, limit: number): LeaderboardEntry[] {
    const out: LeaderboardEntry[] = [];
    if (limit === 0) return out;
    let rank = offset;
    this.tree.walkDown(this.index.size - 1 - offset, limit, (score, member) => {
      out.push({ member, score, rank: rank++ });
    });
    return out;
  }
}

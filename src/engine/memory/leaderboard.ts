// One in-memory leaderboard: a sorted set built like Redis's zset (t_zset.c), a skip list whose
// links carry spans so ranks cost O(log n), plus a map from member to node. Ranks are exposed
// highest first, numbered exactly as ZREVRANK / ZREVRANGE number them.

import { HubError } from '../../protocol/errors.js';
import type { LeaderboardEntry, ScoreMode } from '../types.js';

const MAX_LEVEL = 32;
const P = 0.25;

/**
 * Orders members by Unicode code point, which is the byte order of their UTF-8 (what Redis uses).
 * JS `<` compares UTF-16 code units, which agrees except when a surrogate meets U+E000..U+FFFF.
 */
export function compareMembers(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // Below U+D800 one side decides the order the same way in UTF-16 and in code points.
      if (x < 0xd800 || y < 0xd800) return x - y;
      // A surrogate stands for a code point >= U+10000, so it must sort above U+E000..U+FFFF:
      // lift surrogates to 0xF800.. and lower E000..FFFF to 0xD800.. keeping each group's order.
      return (x < 0xe000 ? x + 0x2000 : x - 0x800) - (y < 0xe000 ? y + 0x2000 : y - 0x800);
    }
  }
  return a.length - b.length;
}

class Node {
  member: string;
  score: number;
  backward: Node | null = null;
  /** One link per level; its length is the node's level and never changes. */
  readonly forward: (Node | null)[];
  /** How many nodes forward[i] skips, the target included; for a null link, the nodes left after this one. */
  readonly span: number[];

  constructor(member: string, score: number, level: number) {
    this.member = member;
    this.score = score;
    const forward: (Node | null)[] = [];
    const span: number[] = [];
    for (let i = 0; i < level; i++) {
      forward.push(null);
      span.push(0);
    }
    this.forward = forward;
    this.span = span;
  }
}

/** True when `node` sorts strictly before (score, member) in the ascending internal order. */
function before(node: Node, score: number, member: string): boolean {
  return node.score < score || (node.score === score && compareMembers(node.member, member) < 0);
}

function invalidScore(message: string): HubError {
  return new HubError('invalid_score', message);
}

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new HubError('bad_request', `${name} must be a non-negative integer, got ${value}`);
  }
}

export class Leaderboard {
  private readonly random: () => number;
  private readonly header = new Node('', 0, MAX_LEVEL);
  private readonly nodes = new Map<string, Node>();
  private tail: Node | null = null;
  private level = 1;
  private length = 0;
  // Scratch buffers reused by every insert and delete so hot paths allocate nothing.
  private readonly update: Node[] = new Array<Node>(MAX_LEVEL).fill(this.header);
  private readonly rankAt: number[] = new Array<number>(MAX_LEVEL).fill(0);

  constructor(options?: { random?: () => number }) {
    this.random = options?.random ?? Math.random;
  }

  get size(): number {
    return this.length;
  }

  /** ZINCRBY. Returns the new score. Adds the member at `by` if absent. */
  incr(member: string, by: number): number {
    if (!Number.isFinite(by)) {
      throw invalidScore(`increment ${by} is not a finite number; pass a finite increment`);
    }
    const node = this.nodes.get(member);
    if (node === undefined) {
      const score = by + 0; // folds -0 into 0
      this.insert(member, score);
      return score;
    }
    const score = node.score + by;
    if (!Number.isFinite(score)) {
      throw invalidScore(
        `incrementing ${member}'s score ${node.score} by ${by} leaves the finite range; use a smaller increment`,
      );
    }
    if (score !== node.score) this.move(node, score);
    return score;
  }

  /** ZADD with flags (gt/lt still add new members, as ZADD GT/LT do). True when added or changed. */
  set(member: string, score: number, mode: ScoreMode = 'always'): boolean {
    if (!Number.isFinite(score)) {
      throw invalidScore(`score ${score} is not a finite number; pass a finite score`);
    }
    if (mode !== 'always' && mode !== 'gt' && mode !== 'lt' && mode !== 'nx' && mode !== 'xx') {
      throw new HubError('bad_request', `unknown score mode ${String(mode)}; use always, gt, lt, nx or xx`);
    }
    const value = score + 0;
    const node = this.nodes.get(member);
    if (node === undefined) {
      if (mode === 'xx') return false;
      this.insert(member, value);
      return true;
    }
    if (
      mode === 'nx' ||
      value === node.score ||
      (mode === 'gt' && value < node.score) ||
      (mode === 'lt' && value > node.score)
    ) {
      return false;
    }
    this.move(node, value);
    return true;
  }

  remove(member: string): boolean {
    const node = this.nodes.get(member);
    if (node === undefined) return false;
    this.findPredecessors(node.score, member);
    this.unlink(node);
    this.nodes.delete(member);
    return true;
  }

  score(member: string): number | undefined {
    return this.nodes.get(member)?.score;
  }

  /** 0-based descending rank, undefined if absent. */
  rank(member: string): number | undefined {
    const node = this.nodes.get(member);
    return node === undefined ? undefined : this.revRank(node);
  }

  /** Entries by descending rank, starting at rank `offset`, at most `limit`. */
  top(limit: number, offset = 0): LeaderboardEntry[] {
    checkCount('limit', limit);
    checkCount('offset', offset);
    const out: LeaderboardEntry[] = [];
    if (offset >= this.length || limit === 0) return out;
    let node = offset === 0 ? this.tail : this.nodeAt(this.length - offset);
    const end = offset + Math.min(limit, this.length - offset);
    for (let rank = offset; rank < end && node !== null; rank++) {
      out.push({ member: node.member, score: node.score, rank });
      node = node.backward;
    }
    return out;
  }

  /** The member's entry with up to n entries ranked above it and n below; [] if absent. */
  around(member: string, n: number): LeaderboardEntry[] {
    checkCount('n', n);
    const out: LeaderboardEntry[] = [];
    const node = this.nodes.get(member);
    if (node === undefined) return out;
    const rank = this.revRank(node);
    // Walk up to the first entry along the bottom level: n steps beat a second O(log n) search
    // for the small windows this is meant for.
    let first = rank > n ? rank - n : 0;
    let cur: Node = node;
    for (let r = rank; r > first; r--) {
      const next = cur.forward[0];
      if (!next) {
        first = r;
        break;
      }
      cur = next;
    }
    const last = Math.min(this.length - 1, rank + n);
    let at: Node | null = cur;
    for (let r = first; r <= last && at !== null; r++) {
      out.push({ member: at.member, score: at.score, rank: r });
      at = at.backward;
    }
    return out;
  }

  /** Removes lowest-ranked members until size <= max; returns them, lowest first. */
  trimTo(max: number): string[] {
    checkCount('max', max);
    const removed: string[] = [];
    // The lowest members sit first, right after the header, so the header precedes them on every level.
    this.update.fill(this.header, 0, this.level);
    while (this.length > max) {
      const node = this.header.forward[0];
      if (!node) break;
      this.unlink(node);
      this.nodes.delete(node.member);
      removed.push(node.member);
    }
    return removed;
  }

  private randomLevel(): number {
    let level = 1;
    while (level < MAX_LEVEL && this.random() < P) level++;
    return level;
  }

  private insert(member: string, score: number): void {
    const node = new Node(member, score, this.randomLevel());
    this.link(node);
    this.nodes.set(member, node);
  }

  /** Gives an existing node a new score, moving it only when a neighbour would be out of order. */
  private move(node: Node, score: number): void {
    const prev = node.backward;
    const next = node.forward[0];
    if ((prev === null || before(prev, score, node.member)) && (!next || !before(next, score, node.member))) {
      node.score = score;
      return;
    }
    this.findPredecessors(node.score, node.member);
    this.unlink(node);
    node.score = score;
    this.link(node); // reuses the node and its level, so nothing is allocated
  }

  /** Fills `update` with the last node before (score, member) on each level. */
  private findPredecessors(score: number, member: string): void {
    const update = this.update;
    let cur = this.header;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let next = cur.forward[i]; next && before(next, score, member); next = cur.forward[i]) {
        cur = next;
      }
      update[i] = cur;
    }
  }

  /** zslInsert, for a node that is not linked yet. */
  private link(node: Node): void {
    const { header, update, rankAt } = this;
    const { score, member } = node;
    let cur = header;
    let rank = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let next = cur.forward[i]; next && before(next, score, member); next = cur.forward[i]) {
        rank += cur.span[i]!;
        cur = next;
      }
      rankAt[i] = rank;
      update[i] = cur;
    }
    const level = node.forward.length;
    if (level > this.level) {
      for (let i = this.level; i < level; i++) {
        rankAt[i] = 0;
        update[i] = header;
        header.span[i] = this.length;
      }
      this.level = level;
    }
    // rank is now rankAt[0]: how many nodes precede the new one.
    for (let i = 0; i < level; i++) {
      const prev = update[i]!;
      const skipped = rank - rankAt[i]!;
      node.forward[i] = prev.forward[i] ?? null;
      prev.forward[i] = node;
      node.span[i] = prev.span[i]! - skipped;
      prev.span[i] = skipped + 1;
    }
    for (let i = level; i < this.level; i++) update[i]!.span[i]!++;
    node.backward = cur === header ? null : cur;
    const next = node.forward[0];
    if (next) next.backward = node;
    else this.tail = node;
    this.length++;
  }

  /** zslDeleteNode, with `update` filled by findPredecessors (or all header for the first node). */
  private unlink(node: Node): void {
    const { header, update } = this;
    for (let i = 0; i < this.level; i++) {
      const prev = update[i]!;
      if (prev.forward[i] === node) {
        prev.span[i]! += node.span[i]! - 1;
        prev.forward[i] = node.forward[i] ?? null;
      } else {
        prev.span[i]!--;
      }
    }
    const next = node.forward[0];
    if (next) next.backward = node.backward;
    else this.tail = node.backward;
    while (this.level > 1 && !header.forward[this.level - 1]) this.level--;
    this.length--;
  }

  /**
   * Descending rank from the node itself: following each node's top link to the end sums the
   * spans of every node after it. Expected O(log n), and no score or member comparisons.
   */
  private revRank(node: Node): number {
    let rank = 0;
    let cur: Node | null | undefined = node;
    while (cur) {
      const top: number = cur.forward.length - 1;
      rank += cur.span[top]!;
      cur = cur.forward[top];
    }
    return rank;
  }

  /** zslGetElementByRank: the node at 1-based ascending rank, or null. */
  private nodeAt(ascRank: number): Node | null {
    let cur = this.header;
    let traversed = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let next = cur.forward[i]; next && traversed + cur.span[i]! <= ascRank; next = cur.forward[i]) {
        traversed += cur.span[i]!;
        cur = next;
      }
      if (traversed === ascRank) return cur === this.header ? null : cur;
    }
    return null;
  }
}

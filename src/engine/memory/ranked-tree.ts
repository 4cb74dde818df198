// A counted B+ tree ordered by (score, member): the storage behind Leaderboard. Leaves keep scores
// and members in contiguous arrays and every branch keeps its children's sizes, so a rank is a
// few array scans on a tree of height ~4 at a million members: far fewer cache misses than the
// pointer chasing of a skip list, which is what bounds sorted-set speed at that size.

import { compareMembers } from './member-order.js';

const LEAF_MAX = 64;
const BRANCH_MAX = 64;

export class Leaf {
  scores: number[] = [];
  members: string[] = [];
  parent: Branch | null = null;
  prev: Leaf | null = null;
  next: Leaf | null = null;
}

class Branch {
  children: (Leaf | Branch)[] = [];
  /** Size of each child's subtree. */
  counts: number[] = [];
  /** Lower bound of child i's keys (index 0 unused): routes inserts; stays valid after deletes. */
  sepScores: number[] = [];
  sepMembers: string[] = [];
  parent: Branch | null = null;
}

function cmp(s1: number, m1: string, s2: number, m2: string): number {
  return s1 < s2 ? -1 : s1 > s2 ? 1 : compareMembers(m1, m2);
}

function insertAt<T>(arr: T[], i: number, value: T): void {
  arr.push(value);
  for (let j = arr.length - 1; j > i; j--) arr[j] = arr[j - 1] as T;
  arr[i] = value;
}

function removeAt<T>(arr: T[], i: number): void {
  for (let j = i; j < arr.length - 1; j++) arr[j] = arr[j + 1] as T;
  arr.pop();
}

/** First index in the leaf whose key is >= (score, member). */
function lowerBound(leaf: Leaf, score: number, member: string): number {
  const { scores, members } = leaf;
  let lo = 0;
  let hi = scores.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(scores[mid] as number, members[mid] as string, score, member) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where a member is: its score and the leaf holding it. The tree writes the index; owners only read it. */
export interface Entry {
  score: number;
  leaf: Leaf;
}

export class RankedTree {
  private root: Leaf | Branch = new Leaf();
  private first: Leaf = this.root as Leaf;
  private count = 0;

  constructor(private readonly index: Map<string, Entry>) {}

  get size(): number {
    return this.count;
  }

  /** Adds a member that is not in the tree. */
  insert(member: string, score: number): void {
    const entry = { score, leaf: this.first };
    this.index.set(member, entry);
    this.link(member, entry);
  }

  /** Gives a member a new score, in place when it stays inside its leaf. */
  move(member: string, entry: Entry, newScore: number): void {
    if (this.moveWithinLeaf(member, entry, newScore)) return;
    this.unlink(member, entry);
    entry.score = newScore;
    this.link(member, entry);
  }

  /** Puts `entry`'s member into the leaf its score routes to, pointing `entry.leaf` at it. */
  private link(member: string, entry: Entry): void {
    const score = entry.score;
    let node = this.root;
    while (node instanceof Branch) {
      const { sepScores, sepMembers } = node;
      // The last child whose lower bound is <= the key.
      let lo = 1;
      let hi = node.children.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cmp(sepScores[mid] as number, sepMembers[mid] as string, score, member) <= 0) lo = mid + 1;
        else hi = mid;
      }
      const child = lo - 1;
      (node.counts[child] as number)++;
      node = node.children[child] as Leaf | Branch;
    }
    const i = lowerBound(node, score, member);
    insertAt(node.scores, i, score);
    insertAt(node.members, i, member);
    this.count++;
    entry.leaf = node;
    if (node.scores.length > LEAF_MAX) this.splitLeaf(node);
  }

  /** Removes a member that is in the tree. */
  remove(member: string, entry: Entry): void {
    this.index.delete(member);
    this.unlink(member, entry);
  }

  private unlink(member: string, entry: Entry): void {
    const { leaf, score } = entry;
    const i = lowerBound(leaf, score, member);
    removeAt(leaf.scores, i);
    removeAt(leaf.members, i);
    this.count--;
    let child: Leaf | Branch = leaf;
    for (let parent = leaf.parent; parent !== null; child = parent, parent = parent.parent) {
      (parent.counts[parent.children.indexOf(child)] as number)--;
    }
    if (leaf.scores.length === 0 && leaf.parent !== null) this.dropEmpty(leaf);
  }

  /**
   * Moves a member to a new score inside its leaf when the new key still falls strictly between
   * two other keys of that leaf (so no size anywhere changes): one search, then a shift by as many
   * places as it moves. False when it must go through unlink + link.
   */
  private moveWithinLeaf(member: string, entry: Entry, newScore: number): boolean {
    const { leaf, score } = entry;
    const { scores, members } = leaf;
    const i = lowerBound(leaf, score, member);
    let j = i;
    if (newScore > score) {
      while (
        j + 1 < scores.length &&
        cmp(scores[j + 1] as number, members[j + 1] as string, newScore, member) < 0
      ) {
        j++;
      }
      if (j + 1 === scores.length) return false;
      for (let k = i; k < j; k++) {
        scores[k] = scores[k + 1] as number;
        members[k] = members[k + 1] as string;
      }
    } else {
      while (j > 0 && cmp(scores[j - 1] as number, members[j - 1] as string, newScore, member) > 0) j--;
      if (j === 0) return false;
      for (let k = i; k > j; k--) {
        scores[k] = scores[k - 1] as number;
        members[k] = members[k - 1] as string;
      }
    }
    scores[j] = newScore;
    members[j] = member;
    entry.score = newScore;
    return true;
  }

  /** 0-based ascending rank of a member that is in the tree. */
  rankOf(member: string, entry: Entry): number {
    const { leaf, score } = entry;
    let rank = lowerBound(leaf, score, member);
    let child: Leaf | Branch = leaf;
    for (let parent = leaf.parent; parent !== null; child = parent, parent = parent.parent) {
      const { children, counts } = parent;
      for (let k = 0; children[k] !== child; k++) rank += counts[k] as number;
    }
    return rank;
  }

  /** Calls `visit` for keys from ascending rank `start` downwards (towards rank 0), at most `limit`. */
  walkDown(start: number, limit: number, visit: (score: number, member: string) => void): void {
    if (start < 0 || start >= this.count) return;
    let node = this.root;
    let index = start;
    while (node instanceof Branch) {
      let k = 0;
      while (index >= (node.counts[k] as number)) index -= node.counts[k++] as number;
      node = node.children[k] as Leaf | Branch;
    }
    let leaf: Leaf | null = node;
    for (let n = 0; n < limit && leaf !== null; ) {
      visit(leaf.scores[index] as number, leaf.members[index] as string);
      n++;
      if (--index < 0) {
        leaf = leaf.prev;
        index = leaf === null ? -1 : leaf.scores.length - 1;
      }
    }
  }

  /** The lowest key, or undefined when empty. */
  lowest(): [number, string] | undefined {
    const leaf = this.first;
    return leaf.scores.length === 0 ? undefined : [leaf.scores[0] as number, leaf.members[0] as string];
  }

  /** Splits an overfull leaf, re-pointing the members that move to the new right half. */
  private splitLeaf(leaf: Leaf): void {
    const right = new Leaf();
    const half = leaf.scores.length >>> 1;
    right.scores = leaf.scores.splice(half);
    right.members = leaf.members.splice(half);
    right.prev = leaf;
    right.next = leaf.next;
    if (leaf.next !== null) leaf.next.prev = right;
    leaf.next = right;
    for (const m of right.members) (this.index.get(m) as Entry).leaf = right;
    this.attach(leaf, right, right.scores[0] as number, right.members[0] as string, right.scores.length);
  }

  /** Inserts `right` after `left` in left's parent (creating a root), splitting upwards as needed. */
  private attach(
    left: Leaf | Branch,
    right: Leaf | Branch,
    sepScore: number,
    sepMember: string,
    rightCount: number,
  ) {
    let parent = left.parent;
    if (parent === null) {
      parent = new Branch();
      parent.children = [left];
      parent.counts = [this.count]; // the whole tree hangs below; right's share moves out below
      parent.sepScores = [0];
      parent.sepMembers = [''];
      left.parent = parent;
      this.root = parent;
    }
    const k = parent.children.indexOf(left);
    insertAt(parent.children, k + 1, right);
    insertAt(parent.counts, k + 1, rightCount);
    (parent.counts[k] as number) -= rightCount;
    insertAt(parent.sepScores, k + 1, sepScore);
    insertAt(parent.sepMembers, k + 1, sepMember);
    right.parent = parent;
    if (parent.children.length > BRANCH_MAX) this.splitBranch(parent);
  }

  private splitBranch(branch: Branch): void {
    const right = new Branch();
    const half = branch.children.length >>> 1;
    right.children = branch.children.splice(half);
    right.counts = branch.counts.splice(half);
    right.sepScores = branch.sepScores.splice(half);
    right.sepMembers = branch.sepMembers.splice(half);
    let rightCount = 0;
    for (const c of right.counts) rightCount += c;
    for (const c of right.children) c.parent = right;
    const sepScore = right.sepScores[0] as number;
    const sepMember = right.sepMembers[0] as string;
    this.attach(branch, right, sepScore, sepMember, rightCount);
  }

  /** Unlinks an empty leaf or branch from its parent, cascading while parents empty out. */
  private dropEmpty(node: Leaf | Branch): void {
    if (node instanceof Leaf) {
      if (node.prev !== null) node.prev.next = node.next;
      else if (node.next !== null) this.first = node.next;
      if (node.next !== null) node.next.prev = node.prev;
    }
    const parent = node.parent;
    if (parent === null) return;
    const k = parent.children.indexOf(node);
    removeAt(parent.children, k);
    removeAt(parent.counts, k);
    removeAt(parent.sepScores, k);
    removeAt(parent.sepMembers, k);
    if (parent.children.length === 0) {
      this.dropEmpty(parent);
      return;
    }
    // A lone child becomes the root, so the tree shrinks as it empties.
    if (parent === this.root && parent.children.length === 1) {
      const only = parent.children[0] as Leaf | Branch;
      only.parent = null;
      this.root = only;
    }
  }
}

// A counted B+ tree ordered by (score, member): the storage behind Leaderboard. Leaves keep scores
// and members in contiguous arrays and every branch keeps its children's sizes, so a rank is a
// few array scans on a tree of height ~4 at a million members: far fewer cache misses than the
// pointer chasing of a skip list, which is what bounds sorted-set speed at that size.

import { compareMembers } from './member-order.js';

/** Node capacities: a leaf's keys, a branch's children. */
export interface RankedTreeOptions {
  leafMax?: number;
  branchMax?: number;
}

const defaults = { leafMax: 64, branchMax: 64 };

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
  /**
   * Lower bound of child i's keys and above child i - 1's (index 0 unused): routes inserts. Deletes
   * keep it valid; a borrow that moves a child's first or last key or child rewrites it.
   */
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
  /**
   * The leftmost leaf, for the lowest key. It is never unlinked: splits add leaves to the right of
   * it and a merge always folds the right node of a pair into the left one.
   */
  private readonly first: Leaf = this.root as Leaf;
  private count = 0;
  private readonly leafMax: number;
  private readonly branchMax: number;
  // Below these a non-root node borrows from or merges with a sibling. A quarter rather than the
  // textbook half leaves room between the split and the merge sizes, so a member moving back and
  // forth across a boundary does not split and merge the same nodes over and over.
  private readonly leafMin: number;
  private readonly branchMin: number;

  constructor(
    private readonly index: Map<string, Entry>,
    options: RankedTreeOptions = {},
  ) {
    const { leafMax, branchMax } = { ...defaults, ...options };
    if (!Number.isSafeInteger(leafMax) || leafMax < 2) {
      throw new TypeError(`leafMax must be a whole number >= 2, got ${leafMax}`);
    }
    if (!Number.isSafeInteger(branchMax) || branchMax < 3) {
      throw new TypeError(`branchMax must be a whole number >= 3, got ${branchMax}`);
    }
    this.leafMax = leafMax;
    this.branchMax = branchMax;
    // A merge joins a node one under the minimum with a sibling at the minimum: 2 * min - 1 must
    // fit in max, and a split's halves must not start out under the minimum.
    this.leafMin = Math.max(1, Math.floor(leafMax / 4));
    this.branchMin = Math.max(2, Math.floor(branchMax / 4));
  }

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
    if (node.scores.length > this.leafMax) this.splitLeaf(node);
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
    if (leaf.parent !== null && leaf.scores.length < this.leafMin) this.rebalanceLeaf(leaf, leaf.parent);
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
      for (let k = 0; children[k] !== child; k++) {
        // A corrupt tree must fail the call, not spin the event loop forever.
        if (k >= children.length) throw new Error('RankedTree: a node is missing from its parent');
        rank += counts[k] as number;
      }
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

  /**
   * Throws unless every structural invariant holds: per-node sizes and capacities, parent links,
   * equal leaf depth, key order across leaves and against separators, the leaf chain and `first`,
   * and the index. O(n); for tests.
   */
  checkInvariants(): void {
    const fail = (what: string): never => {
      throw new Error(`RankedTree invariant broken: ${what}`);
    };
    type Key = [number, string];
    const keyAt = (leaf: Leaf, i: number): Key => [leaf.scores[i] as number, leaf.members[i] as string];
    const below = (a: Key, b: Key): boolean => cmp(a[0], a[1], b[0], b[1]) < 0;
    const leaves: Leaf[] = [];
    let leafDepth = -1;
    // Returns the subtree's size and its lowest and highest keys (a subtree is never empty).
    const visit = (node: Leaf | Branch, depth: number): [number, Key, Key] => {
      if (node instanceof Leaf) {
        const n = node.scores.length;
        if (node.members.length !== n) fail('a leaf has as many members as scores');
        if (n > this.leafMax) fail(`a leaf holds ${n} keys, over ${this.leafMax}`);
        if (node !== this.root && n < this.leafMin) fail(`a leaf holds ${n} keys, under ${this.leafMin}`);
        if (leafDepth === -1) leafDepth = depth;
        else if (depth !== leafDepth) fail('all leaves are at one depth');
        leaves.push(node);
        for (let i = 0; i < n; i++) {
          const [score, member] = keyAt(node, i);
          if (i > 0 && !below(keyAt(node, i - 1), [score, member])) fail('keys ascend strictly in a leaf');
          const entry = this.index.get(member);
          if (entry?.leaf !== node || entry.score !== score) fail(`the index entry of ${member} is right`);
        }
        return [n, keyAt(node, 0), keyAt(node, n - 1)];
      }
      const { children, counts, sepScores, sepMembers } = node;
      const n = children.length;
      if (counts.length !== n || sepScores.length !== n || sepMembers.length !== n) {
        fail('a branch has one count and one separator per child');
      }
      if (n > this.branchMax) fail(`a branch has ${n} children, over ${this.branchMax}`);
      if (n < (node === this.root ? 2 : this.branchMin)) fail(`a branch has ${n} children, too few`);
      let size = 0;
      let low: Key | undefined;
      let high: Key | undefined;
      for (let i = 0; i < n; i++) {
        const child = children[i] as Leaf | Branch;
        if (child.parent !== node) fail('every child points at its parent');
        const [childSize, childLow, childHigh] = visit(child, depth + 1);
        if (childSize !== counts[i]) fail(`a branch counts ${counts[i]} keys in a child of ${childSize}`);
        if (high !== undefined) {
          const sep: Key = [sepScores[i] as number, sepMembers[i] as string];
          if (!below(high, sep) || below(childLow, sep)) fail('separators split the keys of their children');
        }
        low ??= childLow;
        high = childHigh;
        size += childSize;
      }
      return [size, low as Key, high as Key];
    };
    if (this.root.parent !== null) fail('the root has no parent');
    let size = 0;
    if (this.root instanceof Branch || this.root.scores.length > 0) [size] = visit(this.root, 0);
    else leaves.push(this.root);
    if (size !== this.count) fail(`the nodes hold ${size} keys, the tree counts ${this.count}`);
    if (this.index.size !== this.count) fail(`the index holds ${this.index.size} members, not ${this.count}`);
    if (leaves[0] !== this.first) fail('first is the leftmost leaf');
    for (let i = 0; i < leaves.length; i++) {
      const leaf = leaves[i] as Leaf;
      if (leaf.prev !== (leaves[i - 1] ?? null) || leaf.next !== (leaves[i + 1] ?? null)) {
        fail('the leaf chain links the leaves in key order');
      }
    }
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
    if (parent.children.length > this.branchMax) this.splitBranch(parent);
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

  /**
   * Restores a non-root leaf that fell under the minimum: takes one key from a sibling that can
   * spare it, else merges with a sibling. Only siblings under the same parent are considered, so
   * every count to fix is in that parent.
   */
  private rebalanceLeaf(leaf: Leaf, parent: Branch): void {
    const k = parent.children.indexOf(leaf);
    const left = parent.children[k - 1] as Leaf | undefined;
    const right = parent.children[k + 1] as Leaf | undefined;
    if (left !== undefined && left.scores.length > this.leafMin) {
      const score = left.scores.pop() as number;
      const member = left.members.pop() as string;
      insertAt(leaf.scores, 0, score);
      insertAt(leaf.members, 0, member);
      (this.index.get(member) as Entry).leaf = leaf;
      (parent.counts[k - 1] as number)--;
      (parent.counts[k] as number)++;
      parent.sepScores[k] = score;
      parent.sepMembers[k] = member;
    } else if (right !== undefined && right.scores.length > this.leafMin) {
      const score = right.scores.shift() as number;
      const member = right.members.shift() as string;
      leaf.scores.push(score);
      leaf.members.push(member);
      (this.index.get(member) as Entry).leaf = leaf;
      (parent.counts[k + 1] as number)--;
      (parent.counts[k] as number)++;
      parent.sepScores[k + 1] = right.scores[0] as number;
      parent.sepMembers[k + 1] = right.members[0] as string;
    } else if (left !== undefined) {
      this.mergeLeaves(left, leaf, parent, k);
    } else if (right !== undefined) {
      this.mergeLeaves(leaf, right, parent, k + 1);
    }
    // With neither sibling the leaf is a lone child, which only the root may have for a moment
    // (collapse removes it); it keeps its few keys.
  }

  /** Folds `right` (child k of `parent`) into its left neighbour `left`. */
  private mergeLeaves(left: Leaf, right: Leaf, parent: Branch, k: number): void {
    for (const m of right.members) (this.index.get(m) as Entry).leaf = left;
    left.scores.push(...right.scores);
    left.members.push(...right.members);
    left.next = right.next;
    if (right.next !== null) right.next.prev = left;
    right.prev = null;
    right.next = null;
    this.removeChild(parent, k);
  }

  /** Restores a non-root branch that fell under the minimum, as rebalanceLeaf does for leaves. */
  private rebalanceBranch(branch: Branch, parent: Branch): void {
    const k = parent.children.indexOf(branch);
    const left = parent.children[k - 1] as Branch | undefined;
    const right = parent.children[k + 1] as Branch | undefined;
    // A branch's separator 0 is unused; the real lower bound of its first child is the
    // separator the parent keeps for the branch, so that is the one a moved child carries.
    if (left !== undefined && left.children.length > this.branchMin) {
      const child = left.children.pop() as Leaf | Branch;
      const size = left.counts.pop() as number;
      const sepScore = left.sepScores.pop() as number;
      const sepMember = left.sepMembers.pop() as string;
      branch.sepScores[0] = parent.sepScores[k] as number;
      branch.sepMembers[0] = parent.sepMembers[k] as string;
      insertAt(branch.children, 0, child);
      insertAt(branch.counts, 0, size);
      insertAt(branch.sepScores, 0, sepScore);
      insertAt(branch.sepMembers, 0, sepMember);
      child.parent = branch;
      parent.sepScores[k] = sepScore;
      parent.sepMembers[k] = sepMember;
      (parent.counts[k - 1] as number) -= size;
      (parent.counts[k] as number) += size;
    } else if (right !== undefined && right.children.length > this.branchMin) {
      const child = right.children.shift() as Leaf | Branch;
      const size = right.counts.shift() as number;
      right.sepScores.shift();
      right.sepMembers.shift();
      branch.children.push(child);
      branch.counts.push(size);
      branch.sepScores.push(parent.sepScores[k + 1] as number);
      branch.sepMembers.push(parent.sepMembers[k + 1] as string);
      child.parent = branch;
      parent.sepScores[k + 1] = right.sepScores[0] as number;
      parent.sepMembers[k + 1] = right.sepMembers[0] as string;
      (parent.counts[k + 1] as number) -= size;
      (parent.counts[k] as number) += size;
    } else if (left !== undefined) {
      this.mergeBranches(left, branch, parent, k);
    } else if (right !== undefined) {
      this.mergeBranches(branch, right, parent, k + 1);
    }
  }

  /** Folds branch `right` (child k of `parent`) into its left neighbour `left`. */
  private mergeBranches(left: Branch, right: Branch, parent: Branch, k: number): void {
    right.sepScores[0] = parent.sepScores[k] as number;
    right.sepMembers[0] = parent.sepMembers[k] as string;
    for (const c of right.children) c.parent = left;
    left.children.push(...right.children);
    left.counts.push(...right.counts);
    left.sepScores.push(...right.sepScores);
    left.sepMembers.push(...right.sepMembers);
    this.removeChild(parent, k);
  }

  /** Unlinks child k (already emptied into its left sibling) and rebalances upwards. */
  private removeChild(parent: Branch, k: number): void {
    const child = parent.children[k] as Leaf | Branch;
    // Detached: a walk up from it stops here instead of scanning a parent that no longer has it.
    child.parent = null;
    (parent.counts[k - 1] as number) += parent.counts[k] as number;
    removeAt(parent.children, k);
    removeAt(parent.counts, k);
    removeAt(parent.sepScores, k);
    removeAt(parent.sepMembers, k);
    if (parent.parent !== null) {
      if (parent.children.length < this.branchMin) this.rebalanceBranch(parent, parent.parent);
      return;
    }
    // The root alone may go under the minimum, down to one child: that child becomes the root,
    // so the tree loses a level. Every other branch keeps >= 2 children, so once is enough.
    if (parent.children.length === 1) {
      const only = parent.children[0] as Leaf | Branch;
      only.parent = null;
      parent.children = [];
      parent.counts = [];
      this.root = only;
    }
  }
}

// All leaderboards of the memory engine: creates a board on first write, deletes it when empty
// (as Redis deletes an empty sorted set), applies the member cap, and reports every change.

import { HubError } from '../../protocol/errors.js';
import type { LeaderboardEntry, LeaderboardUpdate, ScoreMode } from '../types.js';
import { Leaderboard } from './leaderboard.js';

function checkCount(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new HubError('bad_request', `${name} must be a whole number >= 0, got ${n}`);
  }
}

function checkMaxMembers(max: number | undefined): void {
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) {
    throw new HubError('bad_request', `maxMembers must be a whole number >= 1, got ${max}`);
  }
}

export class Leaderboards {
  private readonly boards = new Map<string, Leaderboard>();

  /**
   * `onUpdate` hears what subscribers see; `onChange` (the append-only file) hears every change
   * of stored state, including a member that changed and was then trimmed away by the cap.
   */
  constructor(
    private readonly onUpdate: (board: string, update: LeaderboardUpdate) => void,
    private readonly onChange?: (board: string, member: string, score: number | null) => void,
  ) {}

  /** Every board, for a snapshot. */
  entries(): IterableIterator<[string, Leaderboard]> {
    return this.boards.entries();
  }

  get count(): number {
    return this.boards.size;
  }

  get(board: string): Leaderboard | undefined {
    return this.boards.get(board);
  }

  incr(board: string, member: string, by: number, maxMembers: number | undefined): number {
    checkMaxMembers(maxMembers);
    const lb = this.getOrCreate(board);
    let score: number;
    try {
      score = lb.incr(member, by);
    } finally {
      if (lb.size === 0) this.boards.delete(board);
    }
    this.changed(board, lb, member, score, maxMembers);
    return score;
  }

  set(
    board: string,
    member: string,
    score: number,
    mode: ScoreMode,
    maxMembers: number | undefined,
  ): boolean {
    checkMaxMembers(maxMembers);
    const lb = this.getOrCreate(board);
    let changed: boolean;
    try {
      changed = lb.set(member, score, mode);
    } finally {
      if (lb.size === 0) this.boards.delete(board);
    }
    // Reported as stored: the board folds -0 into 0, and Redis announces the same.
    if (changed) this.changed(board, lb, member, score + 0, maxMembers);
    return changed;
  }

  remove(board: string, member: string): boolean {
    const lb = this.boards.get(board);
    if (lb === undefined || !lb.remove(member)) return false;
    if (lb.size === 0) this.boards.delete(board);
    this.onChange?.(board, member, null);
    this.onUpdate(board, { member, score: null });
    return true;
  }

  top(board: string, limit: number, offset: number): LeaderboardEntry[] {
    const lb = this.boards.get(board);
    if (lb !== undefined) return lb.top(limit, offset);
    checkCount('limit', limit);
    checkCount('offset', offset);
    return [];
  }

  around(board: string, member: string, n: number): LeaderboardEntry[] {
    const lb = this.boards.get(board);
    if (lb !== undefined) return lb.around(member, n);
    checkCount('n', n);
    return [];
  }

  private getOrCreate(board: string): Leaderboard {
    let lb = this.boards.get(board);
    if (lb === undefined) {
      lb = new Leaderboard();
      this.boards.set(board, lb);
    }
    return lb;
  }

  private changed(
    board: string,
    lb: Leaderboard,
    member: string,
    score: number,
    max: number | undefined,
  ): void {
    const dropped = max !== undefined && lb.size > max ? lb.trimTo(max) : [];
    if (this.onChange !== undefined) {
      this.onChange(board, member, dropped.includes(member) ? null : score);
      for (const gone of dropped) if (gone !== member) this.onChange(board, gone, null);
    }
    // A member that did not make the cut never appears, so only its absence is reported.
    if (!dropped.includes(member)) this.onUpdate(board, { member, score });
    for (const gone of dropped) if (gone !== member) this.onUpdate(board, { member: gone, score: null });
  }
}

// Narrowing what Redis answered into typed values. Replies come from our own scripts, so a shape
// mismatch is a bug or a foreign writer on our prefix, reported as an error rather than guessed at.

import type { LeaderboardEntry, PublishResult } from '../types.js';
import { decodeEntries, parseScore, WireError } from './wire.js';

export function asArray(reply: unknown, what: string): unknown[] {
  if (!Array.isArray(reply)) throw new WireError(`unexpected ${what} reply from Redis`);
  return reply as unknown[];
}

export function asNumber(reply: unknown, what: string): number {
  const n = typeof reply === 'number' ? reply : typeof reply === 'string' ? Number(reply) : Number.NaN;
  if (Number.isNaN(n)) throw new WireError(`unexpected ${what} reply from Redis`);
  return n;
}

export function asString(reply: unknown, what: string): string {
  if (typeof reply !== 'string') throw new WireError(`unexpected ${what} reply from Redis`);
  return reply;
}

export function publishResult(reply: unknown): PublishResult {
  const [offset, epoch, duplicate] = asArray(reply, 'publish');
  return {
    offset: asNumber(offset, 'publish'),
    epoch: asString(epoch, 'publish'),
    duplicate: asNumber(duplicate, 'publish') === 1,
  };
}

export interface ReadReply {
  top: number;
  /** '' when the channel has no stream (only when the read was told not to create one). */
  epoch: string;
  lost: boolean;
  first: number;
  entries: unknown;
}

export function readReply(reply: unknown): ReadReply {
  const [top, epoch, lost, first, entries] = asArray(reply, 'history');
  return {
    top: asNumber(top, 'history'),
    epoch: asString(epoch, 'history'),
    lost: asNumber(lost, 'history') === 1,
    first: asNumber(first, 'history'),
    entries,
  };
}

export { decodeEntries };

/** A flat `[member, score, member, score, ...]` list (as Lua returns WITHSCORES) into ranked entries. */
export function boardEntries(reply: unknown, firstRank: number): LeaderboardEntry[] {
  const flat = asArray(reply, 'leaderboard');
  const out: LeaderboardEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    out.push({
      member: asString(flat[i], 'leaderboard'),
      score: parseScore(asString(flat[i + 1], 'leaderboard')),
      rank: firstRank + i / 2,
    });
  }
  return out;
}

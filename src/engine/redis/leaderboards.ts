// Leaderboards on Redis sorted sets, with the memory engine's semantics: ZADD flags for the score
// modes, ZREVRANGE's tie order, the member cap applied in the same script as the change, and every
// change published on the board's topic for the nodes watching it.

import type { LeaderboardEntry, LeaderboardOptions, LeaderboardSetOptions } from '../types.js';
import { asArray, asNumber, boardEntries } from './replies.js';
import type { RedisContext } from './shared-state.js';
import { checkCount, checkMaxMembers, checkMode, checkScore } from './validate.js';
import { parseScore } from './wire.js';

export class RedisLeaderboards {
  constructor(private readonly ctx: RedisContext) {}

  private key(board: string): string {
    return this.ctx.keys.channel(board).board;
  }

  async incr(board: string, member: string, by: number, options: LeaderboardOptions = {}): Promise<number> {
    checkScore(by, 'increment');
    checkMaxMembers(options.maxMembers);
    const keys = this.ctx.keys.channel(board);
    const score = await this.ctx.redis.hubbubBoardIncr(
      keys.board,
      member,
      String(by),
      options.maxMembers ?? 0,
      keys.topic,
      this.ctx.publishCommand(),
    );
    return parseScore(String(score));
  }

  async set(board: string, member: string, score: number, options: LeaderboardSetOptions = {}): Promise<boolean> {
    checkScore(score, 'score');
    const mode = options.mode ?? 'always';
    checkMode(mode);
    checkMaxMembers(options.maxMembers);
    const keys = this.ctx.keys.channel(board);
    const changed = await this.ctx.redis.hubbubBoardSet(
      keys.board,
      member,
      String(score + 0),
      mode,
      options.maxMembers ?? 0,
      keys.topic,
      this.ctx.publishCommand(),
    );
    return changed === 1;
  }

  async remove(board: string, member: string): Promise<boolean> {
    const keys = this.ctx.keys.channel(board);
    return (await this.ctx.redis.hubbubBoardRemove(keys.board, member, keys.topic, this.ctx.publishCommand())) === 1;
  }

  async top(board: string, limit: number, offset: number): Promise<LeaderboardEntry[]> {
    checkCount('limit', limit);
    checkCount('offset', offset);
    if (limit === 0) return [];
    return boardEntries(await this.ctx.redis.hubbubBoardTop(this.key(board), offset, limit), offset);
  }

  rank(board: string, member: string): Promise<number | null> {
    return this.ctx.redis.zrevrank(this.key(board), member);
  }

  async around(board: string, member: string, n: number): Promise<LeaderboardEntry[]> {
    checkCount('n', n);
    const reply = asArray(await this.ctx.redis.hubbubBoardAround(this.key(board), member, n), 'around');
    return reply.length === 0 ? [] : boardEntries(reply[1], asNumber(reply[0], 'around'));
  }

  async score(board: string, member: string): Promise<number | null> {
    const score = await this.ctx.redis.zscore(this.key(board), member);
    return score === null ? null : parseScore(score);
  }

  count(board: string): Promise<number> {
    return this.ctx.redis.zcard(this.key(board));
  }
}

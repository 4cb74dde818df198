// Presence on Redis: per channel a hash of members, a sorted set of their expiry times and a
// hash of clients per user (distinct users in O(1)). Every change is one script, which announces
// joins and leaves on the channel's topic so every node with interest hears them.

import type { ClientInfo, PresenceOptions, PresenceStats } from '../types.js';
import { asArray, asNumber, asString } from './replies.js';
import type { RedisContext } from './shared-state.js';
import { checkPresenceTtl } from './validate.js';
import { decodeClientInfo, encodeClientInfo } from './wire.js';

/** Presence keys outlive their last member by this, so that a sweep can still announce its leave. */
const GRACE_MS = 60_000;

export class RedisPresence {
  constructor(private readonly ctx: RedisContext) {}

  async add(channel: string, member: ClientInfo, options: PresenceOptions): Promise<void> {
    checkPresenceTtl(options.ttlMs);
    const keys = this.ctx.keys.channel(channel);
    await this.ctx.redis.hubbubPresenceAdd(
      keys.presence,
      keys.presenceExpiry,
      keys.presenceUsers,
      member.client,
      member.user,
      `${options.joinLeave === true ? 1 : 0}${encodeClientInfo(member)}`,
      Math.ceil(options.ttlMs),
      keys.topic,
      this.ctx.publishCommand(),
      GRACE_MS,
    );
  }

  /** `joinLeave` undefined: announce the leave if the member was added with join/leave. */
  async remove(channel: string, client: string, joinLeave: boolean | undefined): Promise<void> {
    const keys = this.ctx.keys.channel(channel);
    await this.ctx.redis.hubbubPresenceRemove(
      keys.presence,
      keys.presenceExpiry,
      keys.presenceUsers,
      client,
      joinLeave === undefined ? '' : joinLeave ? '1' : '0',
      keys.topic,
      this.ctx.publishCommand(),
    );
  }

  async list(channel: string): Promise<ClientInfo[]> {
    const values = asArray(await this.expire(channel, -1, 'list'), 'presence');
    return values.map((v) => decodeClientInfo(asString(v, 'presence').slice(1)));
  }

  async stats(channel: string): Promise<PresenceStats> {
    const [clients, users] = asArray(await this.expire(channel, -1, 'stats'), 'presence stats');
    return { clients: asNumber(clients, 'presence stats'), users: asNumber(users, 'presence stats') };
  }

  /** Expires at most `budget` members whose time passed, announcing their leaves; how many went. */
  async sweep(channel: string, budget: number): Promise<number> {
    return asNumber(await this.expire(channel, budget, 'count'), 'presence sweep');
  }

  /** Reads expire first, so nobody is listed after their TTL whether or not a sweep ran. */
  private expire(channel: string, budget: number, answer: 'count' | 'list' | 'stats'): Promise<unknown> {
    const keys = this.ctx.keys.channel(channel);
    return this.ctx.redis.hubbubPresenceExpire(
      keys.presence,
      keys.presenceExpiry,
      keys.presenceUsers,
      keys.topic,
      this.ctx.publishCommand(),
      budget,
      answer,
    );
  }
}

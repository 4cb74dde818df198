// Pusher presence is by user, the hub's by connection: a user with two tabs is one member. This
// node keeps, per presence channel its Pusher clients are in, which connections each user has,
// from the member list at subscribe and the hub's join/leave events, and turns a user's first
// join into `member_added` and last leave into `member_removed`.

import { pusherChannel } from './names.js';

interface Member {
  clients: Set<string>;
  info: unknown;
}

export interface MemberInfo {
  client?: string;
  user?: string;
  info?: unknown;
}

export class PresenceMembers {
  /** Members by user, per hub channel, while a Pusher client of this node is subscribed to it. */
  private readonly channels = new Map<string, { users: Map<string, Member>; watchers: number }>();

  watch(channel: string): void {
    const entry = this.channels.get(channel);
    if (entry === undefined) this.channels.set(channel, { users: new Map(), watchers: 1 });
    else entry.watchers++;
  }

  tracks(channel: string): boolean {
    return this.channels.has(channel);
  }

  unwatch(channel: string): void {
    const entry = this.channels.get(channel);
    if (entry === undefined) return;
    if (--entry.watchers <= 0) this.channels.delete(channel);
  }

  /** Merges the member list read at subscribe; returns Pusher's `presence` object for it. */
  snapshot(channel: string, members: readonly MemberInfo[]): { ids: string[]; hash: Record<string, unknown>; count: number } {
    const entry = this.channels.get(channel);
    const users = entry?.users ?? new Map<string, Member>();
    for (const m of members) this.add(users, m);
    const hash: Record<string, unknown> = {};
    for (const [user, member] of users) hash[user] = member.info ?? null;
    const ids = [...users.keys()];
    return { ids, hash, count: ids.length };
  }

  /** A join: the `member_added` frame when it is the user's first connection here, else undefined. */
  joined(channel: string, member: MemberInfo): string | undefined {
    const users = this.channels.get(channel)?.users;
    if (users === undefined || !this.add(users, member)) return undefined;
    const data = JSON.stringify(member.info === undefined ? { user_id: member.user } : { user_id: member.user, user_info: member.info });
    return `{"event":"pusher_internal:member_added","channel":${JSON.stringify(pusherChannel(channel))},"data":${JSON.stringify(data)}}`;
  }

  /** A leave: the `member_removed` frame when it was the user's last connection, else undefined. */
  left(channel: string, member: MemberInfo): string | undefined {
    const users = this.channels.get(channel)?.users;
    if (users === undefined || member.user === undefined || member.client === undefined) return undefined;
    const entry = users.get(member.user);
    if (entry === undefined || !entry.clients.delete(member.client) || entry.clients.size > 0) return undefined;
    users.delete(member.user);
    const data = JSON.stringify({ user_id: member.user });
    return `{"event":"pusher_internal:member_removed","channel":${JSON.stringify(pusherChannel(channel))},"data":${JSON.stringify(data)}}`;
  }

  /** Adds a connection to its user; true when the user was not a member before. */
  private add(users: Map<string, Member>, m: MemberInfo): boolean {
    if (m.user === undefined || m.user === '' || m.client === undefined) return false;
    const entry = users.get(m.user);
    if (entry === undefined) {
      users.set(m.user, { clients: new Set([m.client]), info: m.info });
      return true;
    }
    entry.clients.add(m.client);
    return false;
  }
}

// Who is in one channel: members keyed by client id, each with an expiry its node refreshes, and
// a count per user so that one user with three tabs is one user. Expired members are removed
// lazily when the set is read and by the engine's sweep; both report them so leaves are emitted.

import type { ClientInfo, PresenceStats } from '../types.js';

interface Member {
  info: ClientInfo;
  expiresAt: number;
  joinLeave: boolean;
}

export class PresenceSet {
  private readonly members = new Map<string, Member>();
  private readonly users = new Map<string, number>();
  /** Earliest expiry among members, so reads skip the scan while nobody can have expired. */
  private nextExpiry = Number.POSITIVE_INFINITY;

  get size(): number {
    return this.members.size;
  }

  /** Adds or refreshes; true when the client was not a member before. */
  add(info: ClientInfo, expiresAt: number, joinLeave: boolean): boolean {
    const existing = this.members.get(info.client);
    if (existing !== undefined) {
      if (existing.info.user !== info.user) {
        this.dropUser(existing.info.user);
        this.users.set(info.user, (this.users.get(info.user) ?? 0) + 1);
      }
      existing.info = info;
      existing.expiresAt = expiresAt;
      existing.joinLeave = joinLeave;
    } else {
      this.members.set(info.client, { info, expiresAt, joinLeave });
      this.users.set(info.user, (this.users.get(info.user) ?? 0) + 1);
    }
    if (expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
    return existing === undefined;
  }

  /** Removes a client; returns what it was, with whether its leave should be announced. */
  remove(client: string): Member | undefined {
    const member = this.members.get(client);
    if (member === undefined) return undefined;
    this.members.delete(client);
    this.dropUser(member.info.user);
    return member;
  }

  /** Removes every member expired at `now` and returns them. */
  expire(now: number): Member[] {
    if (this.nextExpiry > now) return [];
    const gone: Member[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [client, member] of this.members) {
      if (member.expiresAt <= now) {
        this.members.delete(client);
        this.dropUser(member.info.user);
        gone.push(member);
      } else if (member.expiresAt < next) {
        next = member.expiresAt;
      }
    }
    this.nextExpiry = next;
    return gone;
  }

  list(): ClientInfo[] {
    const out: ClientInfo[] = [];
    for (const member of this.members.values()) out.push(member.info);
    return out;
  }

  stats(): PresenceStats {
    return { clients: this.members.size, users: this.users.size };
  }

  private dropUser(user: string): void {
    const n = this.users.get(user) ?? 0;
    if (n <= 1) this.users.delete(user);
    else this.users.set(user, n - 1);
  }
}

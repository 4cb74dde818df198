// The memory engine's presence: one set per channel, created on the first member and dropped with
// the last, expiring members lazily and through the engine's sweep, announcing joins and leaves to
// the hub for channels it has interest in. Not persisted: it describes live connections.

import { HubError } from '../../protocol/errors.js';
import type { Clock } from '../../util/clock.js';
import { MapSweep } from '../../util/sweeper.js';
import type { ClientInfo, EngineHandler, PresenceOptions, PresenceStats } from '../types.js';
import { PresenceSet } from './presence-set.js';

export class PresenceStore {
  private readonly sets = new Map<string, PresenceSet>();
  readonly sweep: MapSweep<string, PresenceSet>;

  /** `listener(channel)`: the handler to tell about the channel's joins and leaves, if any. */
  constructor(
    private readonly clock: Clock,
    private readonly listener: (channel: string) => EngineHandler | undefined,
  ) {
    this.sweep = new MapSweep(this.sets, (channel, set, now) => this.expire(channel, set, now));
  }

  get channels(): number {
    return this.sets.size;
  }

  get members(): number {
    let n = 0;
    for (const set of this.sets.values()) n += set.size;
    return n;
  }

  add(channel: string, member: ClientInfo, options: PresenceOptions): void {
    if (!(options.ttlMs > 0 && Number.isFinite(options.ttlMs))) {
      throw new HubError('bad_request', 'presence ttlMs must be a positive number of ms');
    }
    let set = this.sets.get(channel);
    if (set === undefined) {
      set = new PresenceSet();
      this.sets.set(channel, set);
    }
    const joinLeave = options.joinLeave === true;
    const joined = set.add(member, this.clock.now() + options.ttlMs, joinLeave);
    if (joined && joinLeave) this.listener(channel)?.onJoin(channel, member);
  }

  remove(channel: string, client: string, options: { joinLeave?: boolean }): void {
    const set = this.sets.get(channel);
    if (set === undefined) return;
    const gone = set.remove(client);
    if (set.size === 0) this.sets.delete(channel);
    if (gone === undefined) return;
    const announce = options.joinLeave ?? gone.joinLeave;
    if (announce) this.listener(channel)?.onLeave(channel, gone.info);
  }

  list(channel: string): ClientInfo[] {
    const set = this.sets.get(channel);
    if (set === undefined) return [];
    this.expire(channel, set, this.clock.now());
    return set.list();
  }

  stats(channel: string): PresenceStats {
    const set = this.sets.get(channel);
    if (set === undefined) return { clients: 0, users: 0 };
    this.expire(channel, set, this.clock.now());
    return set.stats();
  }

  /** Removes expired members (announcing their leave) and the set once empty; true if it went. */
  private expire(channel: string, set: PresenceSet, now: number): boolean {
    const gone = set.expire(now);
    if (gone.length > 0) {
      const handler = this.listener(channel);
      if (handler !== undefined) for (const member of gone) if (member.joinLeave) handler.onLeave(channel, member.info);
    }
    if (set.size > 0) return false;
    this.sets.delete(channel);
    return true;
  }
}

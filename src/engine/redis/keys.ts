// Where each piece of state lives in Redis. Every key of a channel carries the channel as a hash
// tag (`hubbub:{chat:lobby}:s`), and so does its pub/sub topic, so one channel's keys and topic
// share a Cluster slot: the Lua scripts touch them atomically and SPUBLISH reaches its shard.

/** The keys and topic of one channel (a stream, its presence set, or a leaderboard). */
export interface ChannelKeys {
  /** Pub/sub topic: publications, join/leave and board updates for the channel. */
  readonly topic: string;
  /** Hash: `o` last offset, `e` epoch, `t` the history TTL last asked for. */
  readonly meta: string;
  /** Stream of kept publications; entry ids are `<offset>-0`. */
  readonly stream: string;
  /** Hash: client id -> `<joinLeave 0|1><ClientInfo JSON>`. */
  readonly presence: string;
  /** Sorted set: client id -> expiry time (ms). */
  readonly presenceExpiry: string;
  /** Hash: user -> number of its clients present, so distinct users are counted in O(1). */
  readonly presenceUsers: string;
  /** Sorted set of a leaderboard. */
  readonly board: string;
}

export class KeyLayout {
  constructor(readonly prefix: string) {}

  /**
   * Note for Cluster: a hash tag ends at the first `}`, so a channel containing `}` is tagged by
   * what precedes it, the same for all its keys; only a channel starting with `}` would be split.
   */
  channel(channel: string): ChannelKeys {
    const base = `${this.prefix}{${channel}}`;
    return {
      topic: base,
      meta: `${base}:m`,
      stream: `${base}:s`,
      presence: `${base}:p`,
      presenceExpiry: `${base}:px`,
      presenceUsers: `${base}:pu`,
      board: `${base}:lb`,
    };
  }

  /** Counter of nodes with local subscribers of the channel (channel_occupied / vacated webhooks). */
  occupancy(channel: string): string {
    return `${this.prefix}{${channel}}:n`;
  }

  idempotency(channel: string, key: string): string {
    return `${this.prefix}{${channel}}:i:${key}`;
  }

  /** The channel a topic belongs to, or undefined for a topic that is not one of ours. */
  channelOfTopic(topic: string): string | undefined {
    const p = this.prefix.length;
    if (!topic.startsWith(this.prefix) || topic.charCodeAt(p) !== 0x7b || !topic.endsWith('}')) return undefined;
    return topic.slice(p + 1, -1);
  }

  rateLimit(key: string): string {
    return `${this.prefix}rl:{${key}}`;
  }

  window(key: string): string {
    return `${this.prefix}win:{${key}}`;
  }
}

// The seam between one hubbub node and many: every engine (memory today, Redis for multi-node)
// implements `Engine`, and calls back into the hub through one `EngineHandler`, so local delivery
// is the same code whichever engine runs. Methods are async because a networked engine needs them.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A place in a channel's stream. A new epoch means the stream's past was lost and rebuilt. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** Who a connection is: a presence member, or the author of a publication. */
export interface ClientInfo {
  /** Unique per connection. */
  client: string;
  /** The authenticated user; one user may have many clients (tabs). */
  user: string;
  /** Small application-defined object shown to other members. */
  info?: JsonValue;
}

export interface Publication {
  offset: number;
  /** The payload, JSON-encoded once by the publisher's side; engines never parse it. */
  data: string;
  /** Server time of the publication, ms since the epoch. */
  time: number;
  from?: ClientInfo;
}

/** How much of a channel's past to keep. Absent: nothing is kept, but offsets still advance. */
export interface HistoryPolicy {
  /** Keep at most this many entries (Redis XADD MAXLEN). */
  size: number;
  /** Drop entries older than this; 0 keeps them until trimmed by size. */
  ttlMs: number;
}

export interface StreamOptions {
  history?: HistoryPolicy;
  /** Forget an idle stream (offset, epoch and entries) after this long without a publication. */
  metaTtlMs?: number;
}

export interface PublishOptions extends StreamOptions {
  from?: ClientInfo;
  /** A retried publish with the same key inside the window returns the first result and delivers nothing. */
  idempotencyKey?: string;
  idempotencyWindowMs?: number;
}

export interface PublishResult extends StreamPosition {
  /** True when an earlier publish with the same idempotency key was returned instead. */
  duplicate: boolean;
}

export interface HistoryOptions {
  /**
   * Exclusive bound. Forward: entries after it; reverse: entries before it. Forward reads throw
   * `unrecoverable_position` when the stream no longer holds every entry after `since`.
   */
  since?: StreamPosition;
  /** At most this many publications; 0 returns only the top position. Default: all held. */
  limit?: number;
  reverse?: boolean;
}

export interface HistoryResult {
  publications: Publication[];
  /** The position of the newest publication ever made on the channel (offset 0: none yet). */
  top: StreamPosition;
}

export interface PresenceOptions {
  /** The member vanishes unless re-added (refreshed) within this time. */
  ttlMs: number;
  /** Emit join (on first add) and leave (on remove or expiry) events. */
  joinLeave?: boolean;
}

export interface PresenceStats {
  clients: number;
  /** Distinct users: one user with three tabs counts once. */
  users: number;
}

export interface LeaderboardEntry {
  member: string;
  score: number;
  /** 0-based, highest score first; equal scores ordered by member, descending, as Redis ZREVRANGE does. */
  rank: number;
}

/** Redis ZADD flags: `gt`/`lt` update only when the new score is greater/less, `nx` only adds, `xx` only updates. */
export type ScoreMode = 'always' | 'gt' | 'lt' | 'nx' | 'xx';

export interface LeaderboardOptions {
  /** Keep only the best N members; the lowest are dropped when it grows beyond. */
  maxMembers?: number;
}

export interface LeaderboardSetOptions extends LeaderboardOptions {
  mode?: ScoreMode;
}

export interface LeaderboardUpdate {
  member: string;
  /** The new score, or null when the member left the board. */
  score: number | null;
}

/** GCRA / token bucket: `burst` tokens at most, refilled at `rate` per `periodMs`. */
export interface RateLimitPolicy {
  rate: number;
  periodMs: number;
  burst: number;
}

export interface RateLimitResult {
  allowed: boolean;
  /** 0 when allowed; otherwise how long until the same request would be allowed. */
  retryAfterMs: number;
  /** Whole tokens left after this request. */
  remaining: number;
}

export interface WindowCount {
  /** The count in the current window, including this increment. */
  count: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

export interface EngineHandler {
  onPublication(channel: string, publication: Publication, epoch: string): void;
  onJoin(channel: string, member: ClientInfo): void;
  onLeave(channel: string, member: ClientInfo): void;
  onLeaderboardUpdate(board: string, update: LeaderboardUpdate): void;
  /**
   * The engine lost publications of a channel it cannot replay in order (its link to the other
   * nodes dropped and the stream no longer holds what was missed, or the stream was reset): every
   * local subscriber must resubscribe and recover from its own last position. Never called by the
   * memory engine.
   */
  onUnrecoverable(channel: string): void;
}

export interface Engine {
  readonly kind: 'memory' | 'redis';

  /** Starts delivering events for channels of interest to `handler`. */
  start(handler: EngineHandler): Promise<void>;
  /** Stops timers and connections; later calls fail with `engine_closed`. */
  close(): Promise<void>;
  /** Resolves when the engine can serve requests (readiness). */
  ping(): Promise<void>;
  stats(): Promise<Record<string, number>>;

  // Pub/sub and streams. Events are delivered only for channels this node has interest in.
  /**
   * Starts delivering the channel's events to this node. Resolves with the position after which
   * its publications are delivered, when delivery may lag the engine's reads (a history read can
   * see offsets whose events are still on their way); `epoch: ''` matches any epoch. Undefined
   * when events are delivered synchronously, so a read never overtakes them.
   */
  subscribe(channel: string): Promise<StreamPosition | undefined>;
  unsubscribe(channel: string): Promise<void>;
  publish(channel: string, data: string, options?: PublishOptions): Promise<PublishResult>;
  history(channel: string, options?: HistoryOptions & StreamOptions): Promise<HistoryResult>;
  removeHistory(channel: string): Promise<void>;

  // Presence.
  addPresence(channel: string, member: ClientInfo, options: PresenceOptions): Promise<void>;
  removePresence(channel: string, client: string, options?: { joinLeave?: boolean }): Promise<void>;
  presence(channel: string): Promise<ClientInfo[]>;
  presenceStats(channel: string): Promise<PresenceStats>;

  // Leaderboards (sorted sets). Boards share the channel name space, and so channel interest.
  leaderboardIncr(board: string, member: string, by: number, options?: LeaderboardOptions): Promise<number>;
  leaderboardSet(
    board: string,
    member: string,
    score: number,
    options?: LeaderboardSetOptions,
  ): Promise<boolean>;
  leaderboardRemove(board: string, member: string): Promise<boolean>;
  leaderboardTop(board: string, limit: number, offset?: number): Promise<LeaderboardEntry[]>;
  leaderboardRank(board: string, member: string): Promise<number | null>;
  leaderboardAround(board: string, member: string, n: number): Promise<LeaderboardEntry[]>;
  leaderboardScore(board: string, member: string): Promise<number | null>;
  leaderboardCount(board: string): Promise<number>;

  // Shared limits and counters (per-user limits that must hold across nodes).
  /**
   * Optional: how many nodes have local subscribers of `channel` after this node's change (+1 when
   * its first local subscriber came, -1 when its last left). Engines shared by several nodes
   * implement it, so channel_occupied / channel_vacated are decided once for the whole cluster;
   * without it a node's own count is the whole count.
   */
  occupancy?(channel: string, delta: 1 | -1): Promise<number>;
  rateLimit(key: string, policy: RateLimitPolicy, cost?: number): Promise<RateLimitResult>;
  incrWindow(key: string, windowMs: number, by?: number): Promise<WindowCount>;
}

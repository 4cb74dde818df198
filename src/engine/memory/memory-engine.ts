// The embedded, single-node engine: streams with capped history, presence sets, leaderboards and
// limiters, all in this process's memory. Events go synchronously to the hub's handler for channels
// it has interest in, so a publication is delivered before its publish call resolves.

import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { memoryEngineSchema } from '../../config/schema.js';
import { HubError } from '../../protocol/errors.js';
import { FixedWindowCounter, KeyedRateLimiter } from '../../ratelimit/index.js';
import { type Clock, systemClock } from '../../util/clock.js';
import { MapSweep, Sweeper } from '../../util/sweeper.js';
import type {
  ClientInfo,
  Engine,
  EngineHandler,
  HistoryOptions,
  HistoryResult,
  LeaderboardEntry,
  LeaderboardOptions,
  LeaderboardSetOptions,
  PresenceOptions,
  PresenceStats,
  PublishOptions,
  PublishResult,
  RateLimitPolicy,
  RateLimitResult,
  StreamOptions,
  StreamPosition,
  WindowCount,
} from '../types.js';
import { Leaderboards } from './leaderboards.js';
import { PresenceSet } from './presence-set.js';
import { StreamLog } from './stream-log.js';

export type MemoryEngineOptions = Omit<z.input<typeof memoryEngineSchema>, 'type'> & { clock?: Clock };

interface Stream {
  readonly name: string;
  readonly log: StreamLog;
  /** Meta TTL: the stream is forgotten (its epoch with it) when idle past this. */
  expiresAt: number;
  /** The history TTL last asked for, so the sweep can trim entries nobody reads. */
  ttlMs: number;
  /** Idempotency keys in insertion order, which is expiry order for a fixed window. */
  idempotency: Map<string, { offset: number; expiresAt: number }> | undefined;
}

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

function checkHistoryPolicy(size: number, ttlMs: number): void {
  if (!Number.isSafeInteger(size) || size < 0 || !(ttlMs >= 0 && Number.isFinite(ttlMs))) {
    throw new HubError('bad_request', 'history policy needs an integer size >= 0 and ttlMs >= 0');
  }
}

const closedError = () => new HubError('engine_closed', 'the engine is closed; the hub is shutting down');

export class MemoryEngine implements Engine {
  readonly kind = 'memory' as const;

  private readonly options: z.infer<typeof memoryEngineSchema>;
  private readonly clock: Clock;
  private handler: EngineHandler | undefined;
  private closed = false;
  private readonly interest = new Set<string>();
  /** Epochs given out for channels with interest that have no stream yet (see `emptyHistory`). */
  private readonly pendingEpochs = new Map<string, string>();

  // Streams in least-recently-used order (re-inserted on use); `mru` skips the re-insert when the
  // same channel is used again, which is the common case under load.
  private readonly streams = new Map<string, Stream>();
  private mru: Stream | undefined;
  // Streams that hold entries, also in LRU order: where history eviction takes from.
  private readonly holding = new Set<Stream>();
  private mruHolding: Stream | undefined;
  private entries = 0;
  private bytes = 0;
  private readonly evicted = { streams: 0, entries: 0, bytes: 0 };
  private expiredStreams = 0;

  private readonly presenceSets = new Map<string, PresenceSet>();
  private readonly boards: Leaderboards;
  private readonly limiter: KeyedRateLimiter;
  private readonly windows: FixedWindowCounter;
  private readonly sweeper: Sweeper;

  constructor(options: MemoryEngineOptions = {}) {
    const { clock, ...rest } = options;
    this.options = memoryEngineSchema.parse({ ...rest, type: 'memory' });
    this.clock = clock ?? systemClock;
    this.boards = new Leaderboards((board, update) => {
      if (this.interest.has(board)) this.handler?.onLeaderboardUpdate(board, update);
    });
    this.limiter = new KeyedRateLimiter(this.clock);
    this.windows = new FixedWindowCounter(this.clock);
    this.sweeper = new Sweeper(
      [
        new MapSweep(this.streams, (_name, stream, now) => this.sweepStream(stream, now)),
        new MapSweep(this.presenceSets, (channel, set, now) => this.expirePresence(channel, set, now)),
        this.limiter,
        this.windows,
      ],
      this.clock,
      this.options.sweep,
    );
  }

  async start(handler: EngineHandler): Promise<void> {
    if (this.closed) throw closedError();
    this.handler = handler;
    this.sweeper.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handler = undefined;
    this.sweeper.stop();
  }

  async ping(): Promise<void> {
    if (this.closed) throw closedError();
  }

  /** Runs one incremental expiry tick now (tests drive expiry with a manual clock through this). */
  sweep(): { examined: number; expired: number } {
    return this.sweeper.tick();
  }

  async stats(): Promise<Record<string, number>> {
    let presenceMembers = 0;
    for (const set of this.presenceSets.values()) presenceMembers += set.size;
    return {
      streams: this.streams.size,
      historyEntries: this.entries,
      historyBytes: this.bytes,
      evictedStreams: this.evicted.streams,
      evictedEntries: this.evicted.entries,
      evictedBytes: this.evicted.bytes,
      expiredStreams: this.expiredStreams,
      expiredKeys: this.sweeper.expiredTotal,
      presenceChannels: this.presenceSets.size,
      presenceMembers,
      leaderboards: this.boards.count,
      rateLimitKeys: this.limiter.size + this.windows.size,
      interest: this.interest.size,
    };
  }

  // ---- pub/sub and streams ----

  async subscribe(channel: string): Promise<StreamPosition | undefined> {
    if (this.closed) throw closedError();
    this.interest.add(channel);
    return undefined;
  }

  async unsubscribe(channel: string): Promise<void> {
    this.interest.delete(channel);
    this.pendingEpochs.delete(channel);
  }

  async publish(channel: string, data: string, options: PublishOptions = {}): Promise<PublishResult> {
    if (this.closed) throw closedError();
    const now = this.clock.now();
    const { history, idempotencyKey } = options;
    if (history !== undefined) checkHistoryPolicy(history.size, history.ttlMs);
    const stream = this.useStream(channel, now, options.metaTtlMs);
    const log = stream.log;

    if (idempotencyKey !== undefined) {
      const seen = this.idempotent(stream, idempotencyKey, now);
      if (seen !== undefined) return { offset: seen, epoch: log.epoch, duplicate: true };
    }

    const lengthBefore = log.length;
    const bytesBefore = log.bytes;
    if (history !== undefined && history.ttlMs > 0) {
      stream.ttlMs = history.ttlMs;
      log.trimOlderThan(now - history.ttlMs);
    }
    const offset = log.append(data, now, options.from, history === undefined ? 0 : history.size);
    this.account(stream, lengthBefore, bytesBefore);
    if (this.entries > this.options.maxHistoryEntries || this.bytes > this.options.maxHistoryBytes) {
      this.evictHistory();
    }

    if (idempotencyKey !== undefined) {
      stream.idempotency ??= new Map();
      const window = options.idempotencyWindowMs ?? this.options.idempotencyWindowMs;
      stream.idempotency.set(idempotencyKey, { offset, expiresAt: now + window });
    }

    if (this.handler !== undefined && this.interest.has(channel)) {
      const publication =
        options.from === undefined
          ? { offset, data, time: now }
          : { offset, data, time: now, from: options.from };
      this.handler.onPublication(channel, publication, log.epoch);
    }
    return { offset, epoch: log.epoch, duplicate: false };
  }

  async history(channel: string, options: HistoryOptions & StreamOptions = {}): Promise<HistoryResult> {
    if (this.closed) throw closedError();
    const now = this.clock.now();
    const { limit, since } = options;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw new HubError('bad_request', `limit must be a non-negative integer, got ${limit}`);
    }
    if (since !== undefined && !(Number.isSafeInteger(since.offset) && since.offset >= 0)) {
      throw new HubError('bad_request', `since.offset must be a non-negative integer, got ${since.offset}`);
    }
    const stream = this.liveStream(channel, now);
    if (stream === undefined) return this.emptyHistory(channel, options);
    this.touch(stream);
    const log = stream.log;
    const ttlMs = options.history?.ttlMs ?? stream.ttlMs;
    if (ttlMs > 0) {
      const lengthBefore = log.length;
      const bytesBefore = log.bytes;
      log.trimOlderThan(now - ttlMs);
      this.account(stream, lengthBefore, bytesBefore);
    }
    const readOptions: HistoryOptions = {};
    if (options.since !== undefined) readOptions.since = options.since;
    if (options.limit !== undefined) readOptions.limit = options.limit;
    if (options.reverse !== undefined) readOptions.reverse = options.reverse;
    return { publications: log.read(readOptions), top: { offset: log.top, epoch: log.epoch } };
  }

  async removeHistory(channel: string): Promise<void> {
    if (this.closed) throw closedError();
    const stream = this.streams.get(channel);
    if (stream !== undefined) this.dropStream(stream);
  }

  /**
   * A channel nobody has published to has no stream: reading it costs nothing and evicts nothing.
   * While the hub has interest in it, its epoch is kept (and becomes the stream's at the first
   * publish), so a subscriber's position stays valid; without interest a read gets a fresh one.
   */
  private emptyHistory(channel: string, options: HistoryOptions): HistoryResult {
    let epoch = this.pendingEpochs.get(channel);
    if (epoch === undefined) {
      epoch = newEpoch();
      if (this.interest.has(channel)) this.pendingEpochs.set(channel, epoch);
    }
    const since = options.since;
    if (since !== undefined && (since.epoch !== epoch || since.offset !== 0) && options.reverse !== true) {
      throw new HubError(
        'unrecoverable_position',
        `Position ${since.offset} of epoch ${since.epoch} can no longer be recovered: the client must reload its state`,
        { epoch, top: 0, first: 1 },
      );
    }
    return { publications: [], top: { offset: 0, epoch } };
  }

  /** The channel's stream unless it has none or it expired (then it is dropped). */
  private liveStream(channel: string, now: number): Stream | undefined {
    const stream = this.streams.get(channel);
    if (stream === undefined || stream.expiresAt > now) return stream;
    this.dropStream(stream);
    this.expiredStreams++;
    return undefined;
  }

  /** Marks a stream most recently used. */
  private touch(stream: Stream): void {
    if (this.mru === stream) return;
    this.streams.delete(stream.name);
    this.streams.set(stream.name, stream);
    this.mru = stream;
  }

  /** Finds or creates a channel's stream, expiring it lazily and marking it most recently used. */
  private useStream(channel: string, now: number, metaTtlMs: number | undefined): Stream {
    let stream = this.liveStream(channel, now);
    const ttl = metaTtlMs ?? this.options.streamMetaTtlMs;
    if (stream === undefined) {
      if (this.streams.size >= this.options.maxStreams) {
        const lru = this.streams.values().next().value;
        if (lru !== undefined) {
          this.dropStream(lru);
          this.evicted.streams++;
        }
      }
      const epoch = this.pendingEpochs.get(channel) ?? newEpoch();
      this.pendingEpochs.delete(channel);
      stream = {
        name: channel,
        log: new StreamLog(epoch),
        expiresAt: ttl > 0 ? now + ttl : Number.POSITIVE_INFINITY,
        ttlMs: 0,
        idempotency: undefined,
      };
      this.streams.set(channel, stream);
      this.mru = stream;
      return stream;
    }
    if (ttl > 0) stream.expiresAt = now + ttl;
    this.touch(stream);
    return stream;
  }

  private idempotent(stream: Stream, key: string, now: number): number | undefined {
    const keys = stream.idempotency;
    if (keys === undefined) return undefined;
    const seen = keys.get(key);
    if (seen !== undefined && seen.expiresAt > now) return seen.offset;
    this.pruneIdempotency(keys, now);
    return undefined;
  }

  private pruneIdempotency(keys: Map<string, { expiresAt: number }>, now: number): void {
    for (const [key, seen] of keys) {
      if (seen.expiresAt > now) break;
      keys.delete(key);
    }
  }

  /** Keeps the totals and the eviction order right after a stream's log changed. */
  private account(stream: Stream, lengthBefore: number, bytesBefore: number): void {
    const log = stream.log;
    this.entries += log.length - lengthBefore;
    this.bytes += log.bytes - bytesBefore;
    if (log.length === 0) {
      if (lengthBefore > 0) this.holding.delete(stream);
    } else if (this.mruHolding !== stream) {
      this.holding.delete(stream);
      this.holding.add(stream);
      this.mruHolding = stream;
    }
  }

  /** Over budget: drop the oldest entries of the least recently used streams first. */
  private evictHistory(): void {
    const { maxHistoryEntries, maxHistoryBytes } = this.options;
    while (this.entries > maxHistoryEntries || this.bytes > maxHistoryBytes) {
      const victim = this.holding.values().next().value;
      if (victim === undefined) return;
      const log = victim.log;
      const lengthBefore = log.length;
      const bytesBefore = log.bytes;
      const excess = this.entries - maxHistoryEntries;
      log.dropOldest(excess > 0 ? Math.min(excess, lengthBefore) : 1);
      this.evicted.entries += lengthBefore - log.length;
      this.evicted.bytes += bytesBefore - log.bytes;
      this.account(victim, lengthBefore, bytesBefore);
    }
  }

  private dropStream(stream: Stream): void {
    this.streams.delete(stream.name);
    if (this.mru === stream) this.mru = undefined;
    if (this.mruHolding === stream) this.mruHolding = undefined;
    this.holding.delete(stream);
    this.entries -= stream.log.length;
    this.bytes -= stream.log.bytes;
  }

  private sweepStream(stream: Stream, now: number): boolean {
    if (stream.expiresAt <= now) {
      this.dropStream(stream);
      this.expiredStreams++;
      return true;
    }
    if (stream.ttlMs > 0 && stream.log.length > 0) {
      const lengthBefore = stream.log.length;
      const bytesBefore = stream.log.bytes;
      stream.log.trimOlderThan(now - stream.ttlMs);
      this.account(stream, lengthBefore, bytesBefore);
    }
    if (stream.idempotency !== undefined) this.pruneIdempotency(stream.idempotency, now);
    return false;
  }

  // ---- presence ----

  async addPresence(channel: string, member: ClientInfo, options: PresenceOptions): Promise<void> {
    if (this.closed) throw closedError();
    if (!(options.ttlMs > 0 && Number.isFinite(options.ttlMs))) {
      throw new HubError('bad_request', 'presence ttlMs must be a positive number of ms');
    }
    let set = this.presenceSets.get(channel);
    if (set === undefined) {
      set = new PresenceSet();
      this.presenceSets.set(channel, set);
    }
    const joinLeave = options.joinLeave === true;
    const joined = set.add(member, this.clock.now() + options.ttlMs, joinLeave);
    if (joined && joinLeave && this.interest.has(channel)) this.handler?.onJoin(channel, member);
  }

  async removePresence(
    channel: string,
    client: string,
    options: { joinLeave?: boolean } = {},
  ): Promise<void> {
    if (this.closed) throw closedError();
    const set = this.presenceSets.get(channel);
    if (set === undefined) return;
    const gone = set.remove(client);
    if (set.size === 0) this.presenceSets.delete(channel);
    if (gone === undefined) return;
    const announce = options.joinLeave ?? gone.joinLeave;
    if (announce && this.interest.has(channel)) this.handler?.onLeave(channel, gone.info);
  }

  async presence(channel: string): Promise<ClientInfo[]> {
    if (this.closed) throw closedError();
    const set = this.presenceSets.get(channel);
    if (set === undefined) return [];
    this.expirePresence(channel, set, this.clock.now());
    return set.list();
  }

  async presenceStats(channel: string): Promise<PresenceStats> {
    if (this.closed) throw closedError();
    const set = this.presenceSets.get(channel);
    if (set === undefined) return { clients: 0, users: 0 };
    this.expirePresence(channel, set, this.clock.now());
    return set.stats();
  }

  /** Removes expired members (announcing their leave) and the set once empty; true if it went. */
  private expirePresence(channel: string, set: PresenceSet, now: number): boolean {
    const gone = set.expire(now);
    if (gone.length > 0 && this.interest.has(channel)) {
      for (const member of gone) if (member.joinLeave) this.handler?.onLeave(channel, member.info);
    }
    if (set.size > 0) return false;
    this.presenceSets.delete(channel);
    return true;
  }

  // ---- leaderboards ----

  async leaderboardIncr(
    board: string,
    member: string,
    by: number,
    options?: LeaderboardOptions,
  ): Promise<number> {
    if (this.closed) throw closedError();
    return this.boards.incr(board, member, by, options?.maxMembers);
  }

  async leaderboardSet(
    board: string,
    member: string,
    score: number,
    options: LeaderboardSetOptions = {},
  ): Promise<boolean> {
    if (this.closed) throw closedError();
    return this.boards.set(board, member, score, options.mode ?? 'always', options.maxMembers);
  }

  async leaderboardRemove(board: string, member: string): Promise<boolean> {
    if (this.closed) throw closedError();
    return this.boards.remove(board, member);
  }

  async leaderboardTop(board: string, limit: number, offset = 0): Promise<LeaderboardEntry[]> {
    if (this.closed) throw closedError();
    return this.boards.top(board, limit, offset);
  }

  async leaderboardRank(board: string, member: string): Promise<number | null> {
    if (this.closed) throw closedError();
    return this.boards.get(board)?.rank(member) ?? null;
  }

  async leaderboardAround(board: string, member: string, n: number): Promise<LeaderboardEntry[]> {
    if (this.closed) throw closedError();
    return this.boards.around(board, member, n);
  }

  async leaderboardScore(board: string, member: string): Promise<number | null> {
    if (this.closed) throw closedError();
    return this.boards.get(board)?.score(member) ?? null;
  }

  async leaderboardCount(board: string): Promise<number> {
    if (this.closed) throw closedError();
    return this.boards.get(board)?.size ?? 0;
  }

  // ---- limits and counters ----

  async rateLimit(key: string, policy: RateLimitPolicy, cost = 1): Promise<RateLimitResult> {
    if (this.closed) throw closedError();
    return this.limiter.allow(key, policy, cost);
  }

  async incrWindow(key: string, windowMs: number, by = 1): Promise<WindowCount> {
    if (this.closed) throw closedError();
    return this.windows.incr(key, windowMs, by);
  }
}

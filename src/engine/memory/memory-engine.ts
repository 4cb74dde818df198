// The embedded, single-node engine: streams with capped history, presence sets, leaderboards and
// limiters, all in this process's memory. Events go synchronously to the hub's handler for channels
// it has interest in, so a publication is delivered before its publish call resolves. With
// `persistence` set, every change of streams and boards is also appended to a file (see durable.ts).

import type { z } from 'zod';
import { memoryEngineSchema } from '../../config/schema.js';
import { createLogger, type Logger } from '../../observability/index.js';
import { HubError } from '../../protocol/errors.js';
import { FixedWindowCounter, KeyedRateLimiter } from '../../ratelimit/index.js';
import { type Clock, systemClock } from '../../util/clock.js';
import { MapSweep, Sweeper } from '../../util/sweeper.js';

const silentLog = createLogger('silent');
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
import { type DurableState, readDurable, type Stream } from './durable.js';
import { Durability, newEpoch } from './durability.js';
import { HistoryBudget } from './history-budget.js';
import { Leaderboards } from './leaderboards.js';
import type { Journal, JournalFile } from './persistence/index.js';
import { PresenceStore } from './presence-store.js';
import { StreamLog } from './stream-log.js';

export type MemoryEngineOptions = Omit<z.input<typeof memoryEngineSchema>, 'type'> & {
  clock?: Clock;
  /** Start-up and persistence messages; without it the engine logs nothing. */
  log?: Logger;
  /** Opens the append-only file for writing (tests inject disk errors here). */
  openDataFile?: (path: string) => Promise<JournalFile>;
};

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
  private readonly log: Logger | undefined;
  private readonly durability: Durability | undefined;
  private handler: EngineHandler | undefined;
  private closed = false;
  private readonly interest = new Set<string>();
  /** Epochs given out for channels with interest that have no stream yet (see `emptyHistory`). */
  private readonly pendingEpochs = new Map<string, string>();

  // Streams in least-recently-used order (re-inserted on use); `mru` skips the re-insert when the
  // same channel is used again, which is the common case under load.
  private readonly streams = new Map<string, Stream>();
  private mru: Stream | undefined;
  private readonly budget: HistoryBudget;
  private evictedStreams = 0;
  private expiredStreams = 0;

  private readonly presence_: PresenceStore;
  private readonly boards: Leaderboards;
  private readonly limiter: KeyedRateLimiter;
  private readonly windows: FixedWindowCounter;
  private readonly sweeper: Sweeper;

  constructor(options: MemoryEngineOptions = {}) {
    const { clock, log, openDataFile, ...rest } = options;
    this.options = memoryEngineSchema.parse({ ...rest, type: 'memory' });
    this.clock = clock ?? systemClock;
    this.log = log;
    this.boards = new Leaderboards(
      (board, update) => {
        if (this.interest.has(board)) this.handler?.onLeaderboardUpdate(board, update);
      },
      (board, member, score) => this.journal?.append({ type: 'score', board, member, score }),
    );
    this.budget = new HistoryBudget(this.options.maxHistoryEntries, this.options.maxHistoryBytes, (stream) =>
      this.journal?.append({ type: 'trim', channel: stream.name, epoch: stream.log.epoch, first: stream.log.first }),
    );
    this.presence_ = new PresenceStore(this.clock, (channel) => (this.interest.has(channel) ? this.handler : undefined));
    this.limiter = new KeyedRateLimiter(this.clock);
    this.windows = new FixedWindowCounter(this.clock);
    this.sweeper = new Sweeper(
      [
        new MapSweep(this.streams, (_name, stream, now) => this.sweepStream(stream, now)),
        this.presence_.sweep,
        this.limiter,
        this.windows,
      ],
      this.clock,
      this.options.sweep,
    );
    const { persistence } = this.options;
    if (persistence !== undefined) {
      this.durability = new Durability(persistence, this.durableState(), this.clock, log ?? silentLog, openDataFile);
    }
  }

  async start(handler: EngineHandler): Promise<void> {
    if (this.closed) throw closedError();
    if (this.durability !== undefined) await this.durability.open(() => this.budget.evict());
    else this.log?.info({ persistence: 'off' }, 'history and leaderboards are kept in memory only: a restart loses them (--data-dir keeps them)');
    this.handler = handler;
    this.sweeper.start();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handler = undefined;
    this.sweeper.stop();
    await this.durability?.close();
  }

  async ping(): Promise<void> {
    if (this.closed) throw closedError();
    this.journal?.check();
  }

  private get journal(): Journal | undefined {
    return this.durability?.journal;
  }

  /** Rewrites the append-only file as a snapshot of the live state (compaction); writes continue. */
  compact(): Promise<void> {
    return this.durability?.compact() ?? Promise.resolve();
  }

  private durableState(): DurableState {
    return {
      streams: this.streams,
      boards: this.boards,
      putStream: (channel, epoch, top, expiresAt, ttlMs) => {
        const old = this.streams.get(channel);
        if (old !== undefined) this.dropStream(old, false);
        const stream: Stream = { name: channel, log: new StreamLog(epoch, top), expiresAt, ttlMs, idempotency: undefined, durableTop: top };
        this.streams.set(channel, stream);
        return stream;
      },
      dropStream: (stream) => this.dropStream(stream, false),
      account: (stream, lengthBefore, bytesBefore) => this.budget.account(stream, lengthBefore, bytesBefore),
    };
  }

  /** Under fsync `always`, resolves once what this call appended is on disk. */
  private async durable(): Promise<void> {
    const journal = this.journal;
    if (journal !== undefined && journal.fsync === 'always') await journal.durable();
  }

  /** Refuses a write before any state changes when the engine is closed or the disk failed. */
  private writable(): void {
    if (this.closed) throw closedError();
    this.journal?.check();
  }

  /** Runs one incremental expiry tick now (tests drive expiry with a manual clock through this). */
  sweep(): { examined: number; expired: number } {
    return this.sweeper.tick();
  }

  async stats(): Promise<Record<string, number>> {
    return {
      streams: this.streams.size,
      historyEntries: this.budget.entries,
      historyBytes: this.budget.bytes,
      evictedStreams: this.evictedStreams,
      evictedEntries: this.budget.evicted.entries,
      evictedBytes: this.budget.evicted.bytes,
      expiredStreams: this.expiredStreams,
      expiredKeys: this.sweeper.expiredTotal,
      presenceChannels: this.presence_.channels,
      presenceMembers: this.presence_.members,
      leaderboards: this.boards.count,
      rateLimitKeys: this.limiter.size + this.windows.size,
      interest: this.interest.size,
      ...this.durability?.stats(),
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
    this.writable();
    const now = this.clock.now();
    const { history, idempotencyKey } = options;
    if (history !== undefined) checkHistoryPolicy(history.size, history.ttlMs);
    const stream = this.useStream(channel, now, options.metaTtlMs);
    const log = stream.log;

    if (idempotencyKey !== undefined) {
      const seen = this.idempotent(stream, idempotencyKey, now);
      if (seen !== undefined) {
        await this.durable();
        return { offset: seen, epoch: log.epoch, duplicate: true };
      }
    }

    const lengthBefore = log.length;
    const bytesBefore = log.bytes;
    if (history !== undefined && history.ttlMs > 0) {
      stream.ttlMs = history.ttlMs;
      log.trimOlderThan(now - history.ttlMs);
    }
    const offset = log.append(data, now, options.from, history === undefined ? 0 : history.size);
    this.budget.account(stream, lengthBefore, bytesBefore);
    if (this.budget.over) this.budget.evict();

    let idempotencyExpiresAt = 0;
    if (idempotencyKey !== undefined) {
      stream.idempotency ??= new Map();
      idempotencyExpiresAt = now + (options.idempotencyWindowMs ?? this.options.idempotencyWindowMs);
      stream.idempotency.set(idempotencyKey, { offset, expiresAt: idempotencyExpiresAt });
    }

    const { epoch } = log;
    const journal = this.journal;
    if (journal !== undefined) {
      const { expiresAt, ttlMs } = stream;
      journal.append({ type: 'append', channel, epoch, offset, first: log.first, time: now, data, from: options.from, expiresAt, ttlMs, idempotencyKey, idempotencyExpiresAt });
      if (journal.fsync === 'always') {
        // Nothing is visible (delivered, or read back) before it is on disk, so a crash can never
        // take back an offset a client has seen.
        await journal.durable();
        if (offset > stream.durableTop) stream.durableTop = offset;
      }
    }
    if (this.handler !== undefined && this.interest.has(channel)) {
      const publication =
        options.from === undefined
          ? { offset, data, time: now }
          : { offset, data, time: now, from: options.from };
      this.handler.onPublication(channel, publication, epoch);
    }
    return { offset, epoch, duplicate: false };
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
      this.budget.account(stream, lengthBefore, bytesBefore);
    }
    const readOptions: HistoryOptions = {};
    if (options.since !== undefined) readOptions.since = options.since;
    if (options.limit !== undefined) readOptions.limit = options.limit;
    if (options.reverse !== undefined) readOptions.reverse = options.reverse;
    // Under fsync always, publications still on their way to disk are not shown yet (nor delivered).
    if (this.journal?.fsync === 'always' && stream.durableTop < log.top) return readDurable(stream, readOptions);
    return { publications: log.read(readOptions), top: { offset: log.top, epoch: log.epoch } };
  }

  async removeHistory(channel: string): Promise<void> {
    this.writable();
    const stream = this.streams.get(channel);
    if (stream !== undefined) this.dropStream(stream);
    await this.durable();
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
          this.evictedStreams++;
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
        durableTop: 0,
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

  /** `record`: false when replaying (the file already says so). */
  private dropStream(stream: Stream, record = true): void {
    if (record) this.journal?.append({ type: 'drop', channel: stream.name });
    this.streams.delete(stream.name);
    if (this.mru === stream) this.mru = undefined;
    this.budget.forget(stream);
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
      this.budget.account(stream, lengthBefore, bytesBefore);
    }
    if (stream.idempotency !== undefined) this.pruneIdempotency(stream.idempotency, now);
    return false;
  }

  // ---- presence (never persisted: it describes live connections) ----

  async addPresence(channel: string, member: ClientInfo, options: PresenceOptions): Promise<void> {
    if (this.closed) throw closedError();
    this.presence_.add(channel, member, options);
  }

  async removePresence(channel: string, client: string, options: { joinLeave?: boolean } = {}): Promise<void> {
    if (this.closed) throw closedError();
    this.presence_.remove(channel, client, options);
  }

  async presence(channel: string): Promise<ClientInfo[]> {
    if (this.closed) throw closedError();
    return this.presence_.list(channel);
  }

  async presenceStats(channel: string): Promise<PresenceStats> {
    if (this.closed) throw closedError();
    return this.presence_.stats(channel);
  }

  // ---- leaderboards ----

  async leaderboardIncr(
    board: string,
    member: string,
    by: number,
    options?: LeaderboardOptions,
  ): Promise<number> {
    this.writable();
    const score = this.boards.incr(board, member, by, options?.maxMembers);
    await this.durable();
    return score;
  }

  async leaderboardSet(
    board: string,
    member: string,
    score: number,
    options: LeaderboardSetOptions = {},
  ): Promise<boolean> {
    this.writable();
    const changed = this.boards.set(board, member, score, options.mode ?? 'always', options.maxMembers);
    await this.durable();
    return changed;
  }

  async leaderboardRemove(board: string, member: string): Promise<boolean> {
    this.writable();
    const removed = this.boards.remove(board, member);
    await this.durable();
    return removed;
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

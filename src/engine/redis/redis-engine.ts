// The multi-node engine: state lives in Redis, so every node sees the same streams, presence,
// leaderboards and limits. Each mutation is one Lua script that also publishes its event on the
// channel's pub/sub topic, so offsets are gap-free and every node sees one order; a node receives
// events only for channels it has local subscribers for, and delivers them through a ChannelFeed
// that repairs lost pub/sub messages from the stream (or reports the loss).

import type { Redis } from 'ioredis';
import type { z } from 'zod';
import { redisEngineSchema } from '../../config/schema.js';
import type { Logger } from '../../observability/index.js';
import { HubError } from '../../protocol/errors.js';
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
  Publication,
  PublishOptions,
  PublishResult,
  RateLimitPolicy,
  RateLimitResult,
  StreamOptions,
  StreamPosition,
  WindowCount,
} from '../types.js';
import { ChannelFeed, type FeedSink, type FeedStats } from './channel-feed.js';
import {
  closeConnection,
  connectWithin,
  createConnection,
  redactUrl,
  serverInfo,
  startHealthCheck,
} from './connection.js';
import { KeyLayout } from './keys.js';
import { RedisLeaderboards } from './leaderboards.js';
import { RedisLimits } from './limits.js';
import { RedisPresence } from './presence.js';
import { RedisStreams } from './streams.js';
import { PresenceSweep } from './presence-sweep.js';
import { PubSubLink } from './pubsub-link.js';
import { closedError, linkDownError, toHubError } from './redis-errors.js';
import { defineScripts, type ScriptedRedis } from './scripts.js';
import { decodeTopicMessage } from './wire.js';

export type RedisEngineOptions = Omit<z.input<typeof redisEngineSchema>, 'type'>;
type Options = z.infer<typeof redisEngineSchema>;

/** Publications read per round trip when filling a gap. */
const FILL_PAGE = 500;
/** Live messages held per channel while a gap is filled; beyond, they are re-read from the stream. */
const FILL_QUEUE = 10_000;
/** Channels whose presence is swept per tick. */
const SWEEP_CHANNELS = 1000;
/** Members expired per channel per sweep. */
const SWEEP_MEMBERS = 100;

export class RedisEngine implements Engine {
  readonly kind = 'redis' as const;

  private readonly options: Options;
  private readonly keys: KeyLayout;
  private readonly commands: ScriptedRedis;
  private readonly subscriber: Redis;
  private link: PubSubLink | undefined;
  private publishCommand: 'SPUBLISH' | 'PUBLISH' = 'PUBLISH';
  private handler: EngineHandler | undefined;
  private closed = false;
  private readonly feeds = new Map<string, ChannelFeed>();
  private readonly ready = new Map<string, Promise<StreamPosition>>();
  /**
   * Channels of interest where members come and go with join/leave (added so here, or a join was
   * heard): the only ones whose expiries anybody here needs announced, so the only ones swept.
   */
  private readonly watched = new Set<string>();
  private readonly feedStats: FeedStats = { duplicates: 0, fills: 0, recovered: 0, unrecoverable: 0, overflows: 0 };
  private readonly counts = { published: 0, delivered: 0, badMessages: 0, resubscribes: 0 };
  private readonly sweep: PresenceSweep;
  private readonly streams: RedisStreams;
  private readonly presenceSets: RedisPresence;
  private readonly boards: RedisLeaderboards;
  private readonly limits: RedisLimits;
  private readonly sink: FeedSink = {
    deliver: (channel, publication, epoch) => this.deliver(channel, publication, epoch),
    lost: (channel) => this.lost(channel),
  };
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(
    options: RedisEngineOptions,
    private readonly log: Logger,
  ) {
    this.options = redisEngineSchema.parse({ ...options, type: 'redis' });
    this.log = log.child({ engine: 'redis' });
    this.keys = new KeyLayout(this.options.keyPrefix);
    this.commands = defineScripts(createConnection('commands', this.options, this.log));
    this.subscriber = createConnection('pubsub', this.options, this.log);
    const context = { redis: this.commands, keys: this.keys, publishCommand: () => this.publishCommand };
    this.streams = new RedisStreams(context, this.options);
    // Streams restored by a restarted Redis are told apart by its run id, learnt on each connect.
    this.commands.on('close', () => {
      this.streams.runId = undefined;
    });
    this.commands.on('ready', () => {
      if (this.link === undefined) return; // start() reads it itself
      serverInfo(this.commands).then(
        (info) => {
          this.streams.runId = info.runId;
        },
        (err: unknown) => this.log.debug({ err }, 'could not read the Redis run id; next reconnect'),
      );
    });
    this.presenceSets = new RedisPresence(context);
    this.boards = new RedisLeaderboards(context);
    this.limits = new RedisLimits(context);
    this.sweep = new PresenceSweep(
      () => this.watched.values(),
      (channel) => this.presenceSets.sweep(channel, SWEEP_MEMBERS),
      () => this.commands.status === 'ready',
      { intervalMs: this.options.presenceSweepIntervalMs, channelsPerTick: SWEEP_CHANNELS },
      this.log,
    );
  }

  async start(handler: EngineHandler): Promise<void> {
    if (this.closed) throw closedError();
    this.handler = handler;
    const { connectTimeoutMs, pubsub, url } = this.options;
    try {
      await Promise.all([
        connectWithin(this.commands, connectTimeoutMs),
        connectWithin(this.subscriber, connectTimeoutMs),
      ]);
      const { major, minor, runId } = await serverInfo(this.commands);
      this.streams.runId = runId;
      if (major < 6 || (major === 6 && minor < 2)) {
        throw new HubError('internal', `Redis ${major}.${minor} is too old: the redis engine needs Redis >= 6.2`);
      }
      if (pubsub === 'sharded' && major < 7) {
        throw new HubError('internal', `sharded pub/sub needs Redis >= 7 (this is ${major}.${minor}); use pubsub: auto`);
      }
      const sharded = pubsub === 'sharded' || (pubsub === 'auto' && major >= 7);
      this.publishCommand = sharded ? 'SPUBLISH' : 'PUBLISH';
      this.link = new PubSubLink(
        this.subscriber,
        sharded,
        {
          onMessage: (topic, message) => this.dispatch(topic, message),
          onDown: () => {
            for (const feed of this.feeds.values()) feed.suspend();
          },
          onResubscribed: (topics) => this.resync(topics),
        },
        this.log,
      );
      this.log.info({ url: redactUrl(url), version: `${major}.${minor}`, sharded }, 'Redis engine connected');
    } catch (err) {
      await this.close();
      throw toHubError(err, 'connect');
    }
    this.sweep.start();
    this.healthTimer = startHealthCheck(
      [
        { redis: this.commands, role: 'commands' },
        { redis: this.subscriber, role: 'pubsub' },
      ],
      this.options.healthCheckIntervalMs,
      this.log,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    this.sweep.stop();
    clearInterval(this.healthTimer);
    for (const feed of this.feeds.values()) feed.close();
    this.feeds.clear();
    this.ready.clear();
    this.watched.clear();
    await Promise.all([closeConnection(this.commands), closeConnection(this.subscriber)]);
  }

  async ping(): Promise<void> {
    if (this.closed) throw closedError();
    if (this.link?.up !== true) throw linkDownError();
    try {
      await this.commands.ping();
    } catch (err) {
      throw toHubError(err, 'ping');
    }
  }

  async stats(): Promise<Record<string, number>> {
    return {
      interest: this.ready.size,
      published: this.counts.published,
      delivered: this.counts.delivered,
      duplicatesDropped: this.feedStats.duplicates,
      gapFills: this.feedStats.fills,
      recovered: this.feedStats.recovered,
      unrecoverable: this.feedStats.unrecoverable,
      fillQueueOverflows: this.feedStats.overflows,
      resubscribes: this.counts.resubscribes,
      badMessages: this.counts.badMessages,
      presenceExpired: this.sweep.expired,
      presenceWatched: this.watched.size,
      pubsubTopics: this.link?.topicCount ?? 0,
      pubsubUp: this.link?.up === true ? 1 : 0,
      commandsUp: this.commands.status === 'ready' ? 1 : 0,
    };
  }

  /** Expires presence members of every watched channel now (tests; the timer does it in steps). */
  async sweepPresence(): Promise<number> {
    if (this.closed) throw closedError();
    return this.sweep.sweep([...this.watched]);
  }

  // ---- pub/sub and streams ----

  async subscribe(channel: string): Promise<StreamPosition | undefined> {
    if (this.closed) throw closedError();
    const pending = this.ready.get(channel);
    if (pending !== undefined) return pending;
    const link = this.link;
    if (link === undefined || !link.up) throw linkDownError();
    // Interest back before an unsubscribe finished: the old feed's position means nothing to the
    // new subscribers (they read history themselves), so a new feed starts from the top.
    const draining = this.feeds.get(channel);
    if (draining !== undefined) draining.close();
    const feed = new ChannelFeed(
      channel,
      this.streams,
      this.sink,
      this.feedStats,
      { pageSize: FILL_PAGE, maxQueue: FILL_QUEUE, retryMinMs: 100, retryMaxMs: this.options.reconnectMaxDelayMs },
      this.log,
    );
    this.feeds.set(channel, feed);
    const topic = this.keys.channel(channel).topic;
    const ready = (async () => {
      try {
        await link.add(topic);
        if (this.feeds.get(channel) === feed) await feed.start();
        const { offset, epoch } = feed.position;
        return { offset, epoch: epoch ?? '' };
      } catch (err) {
        if (this.feeds.get(channel) === feed) this.dropInterest(channel, feed);
        throw this.failed(err, 'subscribe');
      }
    })();
    this.ready.set(channel, ready);
    return ready;
  }

  /**
   * Resolves once Redis stopped sending the channel's messages; until then the feed still
   * delivers, so everything published before the call reaches the handler.
   */
  async unsubscribe(channel: string): Promise<void> {
    const feed = this.feeds.get(channel);
    if (feed === undefined || !this.ready.has(channel)) return;
    this.ready.delete(channel);
    this.watched.delete(channel);
    try {
      await this.link?.remove(this.keys.channel(channel).topic);
    } finally {
      if (this.feeds.get(channel) === feed) {
        feed.close();
        this.feeds.delete(channel);
      }
    }
  }

  private dropInterest(channel: string, feed: ChannelFeed): void {
    feed.close();
    this.feeds.delete(channel);
    this.ready.delete(channel);
    this.watched.delete(channel);
    void this.link?.remove(this.keys.channel(channel).topic);
  }

  async publish(channel: string, data: string, options: PublishOptions = {}): Promise<PublishResult> {
    if (this.closed) throw closedError();
    try {
      const result = await this.streams.publish(channel, data, options);
      this.counts.published++;
      return result;
    } catch (err) {
      throw this.failed(err, 'publish');
    }
  }

  history(channel: string, options: HistoryOptions & StreamOptions = {}): Promise<HistoryResult> {
    return this.call('history', () => this.streams.history(channel, options));
  }

  removeHistory(channel: string): Promise<void> {
    return this.call('removeHistory', () => this.streams.remove(channel));
  }

  // ---- the feeds' sink ----

  private deliver(channel: string, publication: Publication, epoch: string): void {
    this.counts.delivered++;
    try {
      this.handler?.onPublication(channel, publication, epoch);
    } catch (err) {
      this.log.error({ err, channel }, 'the hub failed to handle a publication');
    }
  }

  private lost(channel: string): void {
    try {
      this.handler?.onUnrecoverable(channel);
    } catch (err) {
      this.log.error({ err, channel }, 'the hub failed to handle lost publications');
    }
  }

  private dispatch(topic: string, message: string): void {
    const channel = this.keys.channelOfTopic(topic);
    const feed = channel === undefined ? undefined : this.feeds.get(channel);
    if (channel === undefined || feed === undefined) return;
    let decoded;
    try {
      decoded = decodeTopicMessage(message);
    } catch (err) {
      if (this.counts.badMessages++ === 0) this.log.warn({ err, topic }, 'dropped a message hubbub did not write');
      return;
    }
    try {
      switch (decoded.kind) {
        case 'publication':
          feed.receive(decoded.publication, decoded.epoch);
          break;
        case 'join':
          if (this.ready.has(channel)) this.watched.add(channel);
          this.handler?.onJoin(channel, decoded.member);
          break;
        case 'leave':
          this.handler?.onLeave(channel, decoded.member);
          break;
        case 'board':
          this.handler?.onLeaderboardUpdate(channel, decoded.update);
          break;
      }
    } catch (err) {
      this.log.error({ err, channel }, 'the hub failed to handle an event');
    }
  }

  private resync(topics: readonly string[]): void {
    this.counts.resubscribes++;
    for (const topic of topics) {
      const channel = this.keys.channelOfTopic(topic);
      if (channel !== undefined) this.feeds.get(channel)?.resync();
    }
  }

  // ---- presence, leaderboards, limits: one script each, in their own modules ----

  addPresence(channel: string, member: ClientInfo, options: PresenceOptions): Promise<void> {
    if (options.joinLeave === true && this.ready.has(channel)) this.watched.add(channel);
    return this.call('addPresence', () => this.presenceSets.add(channel, member, options));
  }

  removePresence(channel: string, client: string, options: { joinLeave?: boolean } = {}): Promise<void> {
    return this.call('removePresence', () => this.presenceSets.remove(channel, client, options.joinLeave));
  }

  presence(channel: string): Promise<ClientInfo[]> {
    return this.call('presence', () => this.presenceSets.list(channel));
  }

  presenceStats(channel: string): Promise<PresenceStats> {
    return this.call('presenceStats', () => this.presenceSets.stats(channel));
  }

  leaderboardIncr(board: string, member: string, by: number, options?: LeaderboardOptions): Promise<number> {
    return this.call('leaderboardIncr', () => this.boards.incr(board, member, by, options));
  }

  leaderboardSet(board: string, member: string, score: number, options?: LeaderboardSetOptions): Promise<boolean> {
    return this.call('leaderboardSet', () => this.boards.set(board, member, score, options));
  }

  leaderboardRemove(board: string, member: string): Promise<boolean> {
    return this.call('leaderboardRemove', () => this.boards.remove(board, member));
  }

  leaderboardTop(board: string, limit: number, offset = 0): Promise<LeaderboardEntry[]> {
    return this.call('leaderboardTop', () => this.boards.top(board, limit, offset));
  }

  leaderboardRank(board: string, member: string): Promise<number | null> {
    return this.call('leaderboardRank', () => this.boards.rank(board, member));
  }

  leaderboardAround(board: string, member: string, n: number): Promise<LeaderboardEntry[]> {
    return this.call('leaderboardAround', () => this.boards.around(board, member, n));
  }

  leaderboardScore(board: string, member: string): Promise<number | null> {
    return this.call('leaderboardScore', () => this.boards.score(board, member));
  }

  leaderboardCount(board: string): Promise<number> {
    return this.call('leaderboardCount', () => this.boards.count(board));
  }

  rateLimit(key: string, policy: RateLimitPolicy, cost = 1): Promise<RateLimitResult> {
    return this.call('rateLimit', () => this.limits.rateLimit(key, policy, cost));
  }

  incrWindow(key: string, windowMs: number, by = 1): Promise<WindowCount> {
    return this.call('incrWindow', () => this.limits.incrWindow(key, windowMs, by));
  }

  /** Nodes with local subscribers of `channel` across the cluster, after this node's change (+1 or -1). */
  occupancy(channel: string, delta: 1 | -1): Promise<number> {
    return this.call('occupancy', async () => Number(await this.commands.hubbubOccupancy(this.keys.occupancy(channel), delta)));
  }

  /** Runs one operation: refused once closed, and any failure turned into the caller's HubError. */
  private async call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedError();
    try {
      return await run();
    } catch (err) {
      throw this.failed(err, operation);
    }
  }

  /** The caller's error; unexpected ones (not an outage, not a refusal) are logged here, once. */
  private failed(err: unknown, operation: string): HubError {
    const hubError = this.closed ? closedError() : toHubError(err, operation);
    if (hubError.code === 'internal') this.log.error({ err, operation }, 'Redis call failed');
    return hubError;
  }
}

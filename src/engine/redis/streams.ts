// Channel streams on Redis: offsets and epochs in a meta hash, kept publications in a stream
// whose entry ids are the offsets, both written by one script per publication (which also
// publishes it on the channel's topic). Reads serve the hub's history and recovery, and the
// feeds' search for what pub/sub lost (this is their FeedSource).

import { randomBytes } from 'node:crypto';
import { HubError } from '../../protocol/errors.js';
import type { HistoryOptions, HistoryResult, PublishOptions, PublishResult, StreamOptions } from '../types.js';
import type { FeedPosition, FeedRead, FeedSource } from './channel-feed.js';
import { decodeEntries, publishResult, readReply } from './replies.js';
import type { RedisContext } from './shared-state.js';
import { checkHistoryPolicy, checkHistoryRead } from './validate.js';
import { encodeClientInfo } from './wire.js';

export interface StreamSettings {
  maxHistorySize: number;
  streamMetaTtlMs: number;
  idempotencyWindowMs: number;
  restoredStreams: 'new-epoch' | 'keep';
}

export class RedisStreams implements FeedSource {
  // Epochs only need to be unique: a random per-process part and a counter, no syscall per stream.
  private readonly epochBase = randomBytes(6).toString('base64url');
  private epochSeq = 0;
  private readonly keepRestored: 0 | 1;
  /**
   * The run id of the Redis process the command connection talks to, undefined while it
   * reconnects: a stream written by another process was restored from disk (see the scripts).
   */
  runId: string | undefined;

  constructor(
    private readonly ctx: RedisContext,
    private readonly settings: StreamSettings,
  ) {
    this.keepRestored = settings.restoredStreams === 'keep' ? 1 : 0;
  }

  async publish(channel: string, data: string, options: PublishOptions): Promise<PublishResult> {
    const { history, idempotencyKey } = options;
    let size = 0;
    let ttlMs = 0;
    if (history !== undefined) {
      checkHistoryPolicy(history.size, history.ttlMs);
      size = Math.min(history.size, this.settings.maxHistorySize);
      ttlMs = history.ttlMs;
    }
    const keys = this.ctx.keys.channel(channel);
    const window =
      idempotencyKey === undefined ? 0 : Math.ceil(options.idempotencyWindowMs ?? this.settings.idempotencyWindowMs);
    const reply = await this.ctx.redis.hubbubPublish(
      keys.meta,
      keys.stream,
      idempotencyKey === undefined ? keys.meta : this.ctx.keys.idempotency(channel, idempotencyKey),
      keys.topic,
      data,
      options.from === undefined ? '' : encodeClientInfo(options.from),
      size,
      ttlMs,
      Math.ceil(options.metaTtlMs ?? this.settings.streamMetaTtlMs),
      this.newEpoch(),
      Math.max(0, window),
      this.ctx.publishCommand(),
      this.currentRunId(),
      this.keepRestored,
    );
    return publishResult(reply);
  }

  async history(channel: string, options: HistoryOptions & StreamOptions): Promise<HistoryResult> {
    checkHistoryRead(options);
    const { since, limit, reverse = false } = options;
    const keys = this.ctx.keys.channel(channel);
    const read = readReply(
      await this.ctx.redis.hubbubRead(
        keys.meta,
        keys.stream,
        this.newEpoch(),
        Math.ceil(options.metaTtlMs ?? this.settings.streamMetaTtlMs),
        options.history?.ttlMs ?? -1,
        since?.offset ?? -1,
        since?.epoch ?? '',
        limit ?? -1,
        reverse ? 1 : 0,
        0,
        this.currentRunId(),
        this.keepRestored,
      ),
    );
    if (read.lost && since !== undefined) {
      throw new HubError(
        'unrecoverable_position',
        `Position ${since.offset} of epoch ${since.epoch} can no longer be recovered: the client must reload its state`,
        { epoch: read.epoch, top: read.top, first: read.first },
      );
    }
    return { publications: decodeEntries(read.entries), top: { offset: read.top, epoch: read.epoch } };
  }

  async remove(channel: string): Promise<void> {
    const keys = this.ctx.keys.channel(channel);
    await this.ctx.redis.del(keys.meta, keys.stream);
  }

  /** Where the stream is, without creating it; a restored stream counts as none. */
  async top(channel: string): Promise<FeedPosition> {
    const runId = this.currentRunId();
    const [epoch, offset, writer] = await this.ctx.redis.hmget(this.ctx.keys.channel(channel).meta, 'e', 'o', 'r');
    if (epoch === null || epoch === undefined || (writer !== runId && this.keepRestored === 0)) {
      return { offset: 0, epoch: undefined };
    }
    return { offset: Number(offset ?? 0), epoch };
  }

  async readAfter(channel: string, after: FeedPosition, limit: number): Promise<FeedRead> {
    const keys = this.ctx.keys.channel(channel);
    const read = readReply(
      await this.ctx.redis.hubbubRead(
        keys.meta,
        keys.stream,
        '',
        0,
        -1,
        after.offset,
        after.epoch ?? '',
        limit,
        0,
        after.epoch === undefined ? 1 : 0,
        this.currentRunId(),
        this.keepRestored,
      ),
    );
    if (read.epoch === '') {
      // No stream now: nothing was missed only if there was none before either.
      return after.epoch === undefined && after.offset === 0
        ? { lost: false, epoch: undefined, top: 0, publications: [] }
        : { lost: true, epoch: undefined, top: 0 };
    }
    if (read.lost) return { lost: true, epoch: read.epoch, top: read.top };
    return { lost: false, epoch: read.epoch, top: read.top, publications: decodeEntries(read.entries) };
  }

  private newEpoch(): string {
    return `${this.epochBase}${(this.epochSeq++).toString(36)}`;
  }

  private currentRunId(): string {
    if (this.runId === undefined) throw new HubError('unavailable', 'Redis is reconnecting; retry later');
    return this.runId;
  }
}

// Gap safety for one channel of interest: publications reach the hub in offset order, each once,
// or the hub is told it lost some (`onUnrecoverable`). Pub/sub can drop messages (the subscriber
// connection died, Redis restarted); the stream cannot, while it holds them. So the feed tracks
// the last position it delivered, and whenever a message skips ahead, or the link came back, it
// reads what it missed from the stream and delivers that first. Live messages that arrive
// meanwhile wait in a bounded queue; when the stream no longer holds what was missed (trimmed,
// no history, a new epoch), the loss is reported and delivery goes on from the stream's top.

import type { Logger } from '../../observability/index.js';
import type { Publication } from '../types.js';

export interface FeedPosition {
  offset: number;
  /** Undefined: the channel had no stream, so any epoch's offset 1 follows. */
  epoch: string | undefined;
}

export type FeedRead =
  | { lost: false; epoch: string | undefined; top: number; publications: Publication[] }
  | { lost: true; epoch: string | undefined; top: number };

export interface FeedSource {
  /** Where the channel's stream is now. */
  top(channel: string): Promise<FeedPosition>;
  /** Up to `limit` publications after `after`, oldest first, or lost when they are not all held. */
  readAfter(channel: string, after: FeedPosition, limit: number): Promise<FeedRead>;
}

export interface FeedSink {
  deliver(channel: string, publication: Publication, epoch: string): void;
  lost(channel: string): void;
}

export interface FeedStats {
  duplicates: number;
  fills: number;
  recovered: number;
  unrecoverable: number;
  overflows: number;
}

export interface FeedOptions {
  pageSize: number;
  maxQueue: number;
  retryMinMs: number;
  retryMaxMs: number;
}

interface Queued {
  publication: Publication;
  epoch: string;
  /** Arrival number: messages that arrived before a read began are covered by that read. */
  seq: number;
}

export class ChannelFeed {
  private epoch: string | undefined;
  private offset = 0;
  private queue: Queued[] = [];
  private arrivals = 0;
  /** A read is under way (or the starting position is not known yet): live messages queue. */
  private busy = true;
  /** Read the stream again before going live: the link was restored, or the queue overflowed. */
  private again = false;
  /**
   * The link dropped: whatever arrives after it comes back may follow a gap, so nothing is applied
   * until a read made after the resubscription says where the stream is.
   */
  private stale = false;
  private closed = false;

  constructor(
    readonly channel: string,
    private readonly source: FeedSource,
    private readonly sink: FeedSink,
    private readonly stats: FeedStats,
    private readonly options: FeedOptions,
    private readonly log: Logger,
  ) {}

  get position(): FeedPosition {
    return { offset: this.offset, epoch: this.epoch };
  }

  /**
   * Takes the stream's top as the starting point, once the subscription is acknowledged: what
   * comes after it is delivered, what came before is the subscriber's history read's business.
   */
  async start(): Promise<void> {
    const readFrom = this.arrivals;
    const top = await this.source.top(this.channel);
    if (this.closed) return;
    this.epoch = top.epoch;
    this.offset = top.offset;
    this.busy = false;
    this.dropCovered(readFrom);
    if (this.stale) return;
    if (!this.drain() || this.again) void this.sync();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
  }

  receive(publication: Publication, epoch: string): void {
    if (this.closed) return;
    if (this.busy || this.stale) {
      this.enqueue(publication, epoch);
      return;
    }
    if (this.apply(publication, epoch)) return;
    this.enqueue(publication, epoch);
    void this.sync();
  }

  /** The link dropped: hold what arrives until `resync`. */
  suspend(): void {
    this.stale = true;
  }

  /** The link was restored and resubscribed: publications may have been missed while it was down. */
  resync(): void {
    if (this.closed) return;
    this.stale = false;
    this.again = true;
    if (!this.busy) void this.sync();
  }

  /** Delivers the next publication in order; false when it is not the next one (a gap). */
  private apply(publication: Publication, epoch: string): boolean {
    if (epoch === this.epoch) {
      if (publication.offset <= this.offset) {
        this.stats.duplicates++;
        return true;
      }
      if (publication.offset !== this.offset + 1) return false;
    } else if (publication.offset !== 1) {
      // A new epoch starts at 1; anything else means its beginning was missed.
      return false;
    }
    this.epoch = epoch;
    this.offset = publication.offset;
    this.sink.deliver(this.channel, publication, epoch);
    return true;
  }

  private enqueue(publication: Publication, epoch: string): void {
    if (this.queue.length >= this.options.maxQueue) {
      // Everything queued arrived before the next read, which covers it (or reports it lost).
      this.stats.overflows++;
      this.queue = [];
      this.again = true;
    }
    this.queue.push({ publication, epoch, seq: this.arrivals++ });
  }

  /** Applies queued messages in arrival order; false when one leaves a gap (it stays queued). */
  private drain(): boolean {
    let i = 0;
    const queue = this.queue;
    for (; i < queue.length; i++) {
      if (this.closed) return true;
      const m = queue[i] as Queued;
      if (!this.apply(m.publication, m.epoch)) break;
    }
    this.queue = i === 0 ? queue : queue.slice(i);
    return this.queue.length === 0;
  }

  /** Messages that arrived before a read began were published before it: the read covered them. */
  private dropCovered(readFrom: number): void {
    if (this.queue.length > 0 && (this.queue[0] as Queued).seq < readFrom) {
      this.queue = this.queue.filter((m) => m.seq >= readFrom);
    }
  }

  private async sync(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    this.stats.fills++;
    let retryMs = this.options.retryMinMs;
    let failing = false;
    try {
      while (!this.closed) {
        this.again = false;
        const readFrom = this.arrivals;
        try {
          await this.readToTop();
        } catch (err) {
          if (!failing) this.log.warn({ err, channel: this.channel }, 'cannot read missed publications yet; retrying');
          failing = true;
          await new Promise((resolve) => setTimeout(resolve, retryMs).unref());
          retryMs = Math.min(retryMs * 2, this.options.retryMaxMs);
          continue;
        }
        if (this.closed) return;
        this.dropCovered(readFrom);
        if (this.stale) return;
        if (this.again) continue;
        if (this.drain()) return;
      }
    } finally {
      this.busy = false;
    }
  }

  /** Reads and delivers the stream after our position, page by page, up to its top. */
  private async readToTop(): Promise<void> {
    for (;;) {
      const read = await this.source.readAfter(this.channel, this.position, this.options.pageSize);
      if (this.closed) return;
      if (read.lost) {
        if (!this.coveredByQueue(read.epoch, read.top)) this.lose(read.epoch, read.top);
        return;
      }
      // No stream (and so nothing to deliver), when the channel never had one.
      if (read.epoch === undefined) return;
      for (const publication of read.publications) {
        const before = this.offset;
        if (!this.apply(publication, read.epoch)) {
          this.lose(read.epoch, read.top);
          return;
        }
        if (this.offset !== before) this.stats.recovered++;
        if (this.closed) return;
      }
      if (read.publications.length === 0 || this.offset >= read.top) return;
    }
  }

  /**
   * The stream no longer holds what follows our position (never kept, or trimmed), but the live
   * messages queued meanwhile may carry all of it, up to the top the read saw. Only within one
   * epoch: a different epoch means the past we came from is gone, whatever the queue holds.
   */
  private coveredByQueue(epoch: string | undefined, top: number): boolean {
    if (epoch === undefined || (this.epoch !== epoch && !(this.epoch === undefined && this.offset === 0))) {
      return false;
    }
    const queue = this.queue;
    let i = 0;
    while (i < queue.length && !(this.epoch === epoch && this.offset >= top)) {
      const m = queue[i] as Queued;
      if (m.epoch !== epoch || !this.apply(m.publication, m.epoch)) break;
      i++;
      if (this.closed) return true;
    }
    if (i > 0) this.queue = queue.slice(i);
    return this.epoch === epoch && this.offset >= top;
  }

  /** What was missed is gone: say so, and carry on from the stream's present. */
  private lose(epoch: string | undefined, top: number): void {
    this.stats.unrecoverable++;
    this.log.warn({ channel: this.channel, from: this.offset, top }, 'publications missed and no longer in the stream');
    this.epoch = epoch;
    this.offset = top;
    this.sink.lost(this.channel);
  }
}

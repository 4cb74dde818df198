// The one place that decides who receives what: the channel -> local subscribers index, the
// engine's publications encoded once and published to the channel's transport topic, and the
// hand-over of a new subscriber from its subscribe reply (and any recovery after it) to the live
// topic, so that nothing is lost between the two and nothing is delivered twice.

import type { NamespaceConfig } from '../config/index.js';
import type { Engine, Publication, StreamPosition } from '../engine/types.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { ProtocolDoor } from './protocols.js';
import { publicationFrame } from '../protocol/index.js';
import type { Session, Subscription } from '../session.js';
import type { Transport } from '../transport/types.js';

export interface Channel {
  readonly name: string;
  readonly namespace: NamespaceConfig;
  /** Every local subscriber, live or with a subscribe in flight. */
  readonly members: Set<Session>;
  /**
   * Subscribers not on the channel's topic yet: their reply (or recovery) is not written, so live
   * publications are buffered for them, or they wait for the feed to pass their floor.
   */
  readonly pending: Set<Session>;
  /** The last publication the engine fed for this channel: anything at or below it is a repeat. */
  fed: StreamPosition | undefined;
  /** Resolves once the engine delivers this channel's events to this node. */
  interest: Promise<void>;
  boardTimer: NodeJS.Timeout | undefined;
  lastBoard: string | undefined;
}

/** Join/leave pushes go to a topic of their own, so a subscriber can opt out of them. */
export const joinLeaveTopic = (channel: string) => `#jl:${channel}`;

export interface DeliveryOptions {
  /** Live publications buffered for one subscriber not live yet, before it must resubscribe. */
  maxPendingBytes: number;
  /** A paced recovery sends while the connection's queue is below this. */
  replayLowWater: number;
  /** A subscriber whose buffer overflowed: the hub drops the subscription and tells the client. */
  overflowed(session: Session, sub: Subscription): void;
  /** This node gained its first subscriber of a channel (true) or lost its last (false). */
  interest?(channel: string, active: boolean): void;
}

export class Delivery {
  readonly channels = new Map<string, Channel>();
  transport: Transport | undefined;
  /** Another wire protocol's fan-out (protocols/pusher), which encodes each frame once more for its subscribers. */
  protocol: ProtocolDoor | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly options: DeliveryOptions,
  ) {}

  /** Adds a subscriber whose subscribe is starting; the channel (and engine interest) is made on first use. */
  add(session: Session, name: string, namespace: NamespaceConfig): Channel {
    const ch = this.channels.get(name);
    if (ch === undefined) {
      const created: Channel = {
        name,
        namespace,
        members: new Set(),
        pending: new Set(),
        interest: Promise.resolve(),
        fed: undefined,
        boardTimer: undefined,
        lastBoard: undefined,
      };
      created.interest = this.engine.subscribe(name).then((start) => {
        // What the engine's feed will deliver starts after `start`; it owes nothing up to there.
        if (created.fed === undefined) created.fed = start;
      });
      this.channels.set(name, created);
      created.members.add(session);
      created.pending.add(session);
      // Told once the first member is in, so a listener counting subscribers sees it.
      this.options.interest?.(name, true);
      return created;
    }
    ch.members.add(session);
    ch.pending.add(session);
    return ch;
  }

  /** Removes a subscriber; the last one out releases the channel and the engine's interest. */
  remove(session: Session, name: string): void {
    const ch = this.channels.get(name);
    if (ch === undefined) return;
    ch.members.delete(session);
    ch.pending.delete(session);
    if (ch.members.size > 0) return;
    this.channels.delete(name);
    clearTimeout(ch.boardTimer);
    this.options.interest?.(name, false);
    this.engine.unsubscribe(name).catch((err: unknown) => this.log.error({ err, channel: name }, 'unsubscribe failed'));
  }

  /** A publication from the engine: encoded once, to the topic, and to subscribers on their way in. */
  publication(channel: string, publication: Publication, epoch: string): void {
    const ch = this.channels.get(channel);
    if (ch === undefined) return;
    const { offset } = publication;
    const fed = ch.fed;
    if (fed === undefined) ch.fed = { offset, epoch };
    else if (fed.epoch === epoch && offset <= fed.offset) return;
    else {
      // Updated in place: one object per channel, not one per publication.
      fed.offset = offset;
      fed.epoch = epoch;
    }
    const frame = publicationFrame(channel, publication, epoch);
    for (const session of ch.pending) {
      const sub = session.subscriptions.get(channel);
      if (sub === undefined) continue;
      if (sub.pending !== undefined) this.buffer(session, sub, offset, epoch, frame);
      else if (sub.floor !== undefined && (epoch !== sub.floor.epoch || offset > sub.floor.offset)) {
        this.joinTopic(session, ch, sub);
      }
    }
    this.fanOut(ch, channel, frame);
  }

  /** One publish to the transport topic; counted as one frame per local subscriber. */
  fanOut(ch: Channel, topic: string, frame: string): void {
    this.transport?.publish(topic, frame);
    if (this.protocol !== undefined && this.transport !== undefined) this.protocol.fanOut(ch, topic, frame, this.transport);
    const n = ch.members.size;
    this.metrics.messagesOut.inc(n);
    this.metrics.bytesOut.inc(n * frame.length);
  }

  /**
   * Sends a recovery too large for one reply as `pub` pushes, no faster than the connection
   * drains, so it never trips the slow-consumer limit; live publications wait meanwhile.
   */
  async replay(session: Session, ch: Channel, sub: Subscription, pubs: Publication[], top: StreamPosition): Promise<void> {
    const current = () => session.subscriptions.get(ch.name) === sub && session.isOpen;
    for (const p of pubs) {
      while (session.conn.bufferedAmount() > this.options.replayLowWater) {
        await session.drained();
        if (!current()) return;
      }
      if (!current()) return;
      session.send(publicationFrame(ch.name, p, top.epoch));
    }
    this.goLive(session, ch, sub, top);
  }

  /**
   * Right after the subscribe reply (and its recovery) is written: deliver what was published
   * meanwhile (newer than what the reply covered), then join the topic. All synchronous, so
   * nothing can slip between the two.
   */
  goLive(session: Session, ch: Channel, sub: Subscription, top: StreamPosition): void {
    if (session.subscriptions.get(ch.name) !== sub || !session.isOpen) return;
    let last: StreamPosition = top;
    for (const p of sub.pending ?? []) {
      if (p.epoch !== top.epoch || p.offset > top.offset) {
        session.send(p.frame);
        last = p;
      }
    }
    sub.pending = undefined;
    sub.pendingBytes = 0;
    // The engine's feed may still owe this node publications the reply already held (with Redis
    // the history read can overtake pub/sub): until it passes them, the topic would repeat them.
    const fed = ch.fed;
    if (fed !== undefined && (fed.epoch === last.epoch || fed.epoch === '') && fed.offset < last.offset) sub.floor = last;
    else this.joinTopic(session, ch, sub);
  }

  /** Local subscriptions on this node. */
  get subscriptions(): number {
    let n = 0;
    for (const ch of this.channels.values()) n += ch.members.size;
    return n;
  }

  private joinTopic(session: Session, ch: Channel, sub: Subscription): void {
    sub.floor = undefined;
    ch.pending.delete(session);
    session.conn.subscribe(ch.name);
  }

  /** Buffers a live publication for a subscriber not live yet; one that overflows must resubscribe. */
  private buffer(session: Session, sub: Subscription, offset: number, epoch: string, frame: string): void {
    sub.pendingBytes += frame.length;
    if (sub.pendingBytes <= this.options.maxPendingBytes) {
      sub.pending?.push({ offset, epoch, frame });
      return;
    }
    this.options.overflowed(session, sub);
  }
}

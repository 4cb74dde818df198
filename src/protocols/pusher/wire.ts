// A Pusher connection as the hub sees it: the hub's frames written to it are translated into
// Pusher's shape, its topics are the Pusher topics (`#p:` + the hub's topic), and its close codes
// are Pusher's. The hub's own code paths (delivery, recovery, close) run unchanged on top of it.

import type { Connection } from '../../transport/types.js';
import { translateDirect } from './frames.js';
import { pusherCloseCode } from './names.js';

export const PUSHER_TOPIC = '#p:';

/** Which Pusher topics have subscribers on this node: publications are translated only for those. */
export class TopicCounts {
  private readonly counts = new Map<string, number>();

  has(topic: string): boolean {
    return this.counts.has(topic);
  }

  add(topic: string): void {
    this.counts.set(topic, (this.counts.get(topic) ?? 0) + 1);
  }

  remove(topic: string): void {
    const n = (this.counts.get(topic) ?? 1) - 1;
    if (n <= 0) this.counts.delete(topic);
    else this.counts.set(topic, n);
  }
}

export class PusherWire implements Connection {
  /** The Pusher topics this connection is on. */
  readonly topics = new Set<string>();
  /** Join/leave topics the hub asked for, held until the client has its member list. */
  private readonly held = new Set<string>();
  /** Presence channels whose member list has not been sent yet. */
  private readonly awaitingMembers = new Set<string>();
  socketId = '';
  /** Its app keeps history: events carry their position. */
  positions = false;

  constructor(
    readonly inner: Connection,
    private readonly counts: TopicCounts,
  ) {}

  get remoteAddress(): string {
    return this.inner.remoteAddress;
  }

  /** The hub dropped a subscription and asks for it again (Pusher clients never would). */
  onResubscribe: ((channel: string) => void) | undefined;

  /** A frame from the hub (native shape): translated, or dropped when Pusher has no such event. */
  send(frame: string | Buffer): boolean {
    const text = typeof frame === 'string' ? frame : frame.toString('utf8');
    if (text.startsWith('{"push":"resubscribe"')) {
      const channel = (JSON.parse(text) as { channel?: unknown }).channel;
      if (typeof channel === 'string') this.onResubscribe?.(channel);
      return true;
    }
    const out = translateDirect(text, this.socketId, this.positions);
    return out === undefined ? this.inner.bufferedAmount() === 0 : this.inner.send(out);
  }

  /** A frame already in Pusher's shape. */
  raw(frame: string): boolean {
    return this.inner.send(frame);
  }

  bufferedAmount(): number {
    return this.inner.bufferedAmount();
  }

  subscribe(topic: string): void {
    const joinLeave = topic.startsWith('#jl:');
    if (joinLeave && this.awaitingMembers.has(topic.slice(4))) {
      this.held.add(topic);
      return;
    }
    const mapped = PUSHER_TOPIC + topic;
    if (this.topics.has(mapped)) return;
    this.topics.add(mapped);
    this.counts.add(mapped);
    this.inner.subscribe(mapped);
  }

  unsubscribe(topic: string): void {
    this.held.delete(topic);
    const mapped = PUSHER_TOPIC + topic;
    if (!this.topics.delete(mapped)) return;
    this.counts.remove(mapped);
    this.inner.unsubscribe(mapped);
  }

  /** Member events of `channel` wait until its member list is out (so a joiner never hears itself). */
  holdMembers(channel: string): void {
    this.awaitingMembers.add(channel);
  }

  releaseMembers(channel: string): void {
    this.awaitingMembers.delete(channel);
    const topic = `#jl:${channel}`;
    if (this.held.delete(topic)) this.subscribe(topic);
  }

  close(code: number, reason: string): void {
    this.inner.close(pusherCloseCode(code), reason);
  }

  /** A close with a Pusher code as is (e.g. 4001, no such app). */
  closeRaw(code: number, reason: string): void {
    this.inner.close(code, reason);
  }

  terminate(): void {
    this.inner.terminate();
  }

  /** Told once the connection is gone. */
  onReleased: (() => void) | undefined;

  /** Leaves every topic (the transport drops them at close; the counts must follow). */
  released(): void {
    this.onReleased?.();
    for (const topic of this.topics) this.counts.remove(topic);
    this.topics.clear();
    this.held.clear();
  }
}

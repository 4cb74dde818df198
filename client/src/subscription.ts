// One channel subscription: its stream position, exactly-once in-order delivery (duplicates
// dropped by offset, a gap or a new epoch recovered by resubscribing with `since`), join/leave,
// and the channel's commands. A leaderboard is a subscription with a live top-N.

import type { Callback, Frame, HubClient } from './client.js';
import { Emitter } from './emitter.js';
import { host } from './env.js';
import { HubError } from './errors.js';
import type {
  BoardEntry,
  ClientInfo,
  HistoryOptions,
  HistoryResult,
  LeaderboardEvents,
  LeaderboardOptions,
  Message,
  PresenceStats,
  StreamPosition,
  SubscribedInfo,
  SubscribeOptions,
  SubscriptionEvents,
} from './types.js';

/** @internal A push for this channel. */
export interface PushFrame extends Frame {
  offset?: number;
  epoch?: string;
  member?: ClientInfo;
  entries?: BoardEntry[];
}

interface SubscribeReply extends StreamPosition {
  recovered?: boolean;
  publications?: Message[];
  entries?: BoardEntry[];
}

const ignore: Callback = () => {};

export type SubscriptionState = 'subscribing' | 'subscribed' | 'unsubscribed';

export class Subscription<E extends SubscriptionEvents = SubscriptionEvents> extends Emitter<E> {
  readonly channel: string;
  /** `subscribing` until the server confirms (and again while re-establishing it), `unsubscribed` at the end. */
  state: SubscriptionState = 'subscribing';
  /** The last publication delivered (or the stream's top at subscribe time): where recovery resumes from. */
  position: StreamPosition | undefined;
  /** Resolves on the first successful subscribe; rejects if it fails for good, or on unsubscribe/close first. */
  readonly ready: Promise<SubscribedInfo>;
  /** @internal */
  _c: HubClient;
  /** @internal */
  _o: SubscribeOptions & LeaderboardOptions;
  /** @internal Confirmed by the server on the current socket: live pushes are delivered, not buffered. */
  _live = false;
  /** @internal A subscribe is in flight; never two at once (their replies could interleave with pushes). */
  _busy = false;
  /** @internal Subscribe again once the one in flight answers (the server dropped it meanwhile). */
  _again = false;
  /** @internal Pushes that arrived while not live, merged by offset after the subscribe reply. */
  _buf: PushFrame[] = [];
  /** @internal Retry timer after a temporary failure, and the attempts so far. */
  _timer: unknown;
  /** @internal */
  _n = 0;
  /** @internal The live top-N (leaderboards). */
  _top: BoardEntry[] = [];
  /** @internal */
  _res!: (info: SubscribedInfo) => void;
  /** @internal */
  _rej!: (err: HubError) => void;

  /** Made by `client.subscribe()` and `client.leaderboard()`. */
  constructor(client: HubClient, channel: string, options: SubscribeOptions & LeaderboardOptions) {
    super();
    this._c = client;
    this.channel = channel;
    this._o = options;
    this.ready = new Promise((resolve, reject) => {
      this._res = resolve;
      this._rej = reject;
    });
    // Apps that only listen for `error` must not see an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Publishes to this channel (subscribed or not); resolves with its position on the server's ack. */
  publish(data: unknown, options: { idempotencyKey?: string } = {}): Promise<StreamPosition> {
    return this._q('publish', { data, ...options });
  }

  /** Reads the channel's kept publications. */
  async history(options: HistoryOptions = {}): Promise<HistoryResult> {
    const r = await this._q<HistoryResult>('history', options);
    for (const p of r.publications) {
      p.channel = this.channel;
      p.epoch = r.epoch;
    }
    return r;
  }

  /** Who is subscribed now (namespaces with presence). */
  async presence(): Promise<ClientInfo[]> {
    return (await this._q<{ members: ClientInfo[] }>('presence')).members;
  }

  presenceStats(): Promise<PresenceStats> {
    return this._q('presence_stats');
  }

  /** Stops for good: no more events; the server is told when connected. */
  unsubscribe(): void {
    if (this.state === 'unsubscribed') return;
    this._end(new HubError('unsubscribed', `unsubscribed from ${this.channel}`));
    if (this._c.state === 'connected') this._c._call('unsubscribe', { channel: this.channel }, ignore, true);
  }

  /** @internal */
  _q<R>(method: string, params: object = {}): Promise<R> {
    return this._c._ask<R>(method, { channel: this.channel, ...params });
  }

  /**
   * @internal (Re)establishes the subscription, from the last position when recovering. With
   * `unsub`, the server still holds the old one (a gap on a live subscription): drop it in the
   * same frame first.
   */
  _subscribe(unsub?: boolean): void {
    host.clearTimeout(this._timer);
    this._live = false;
    if (this._busy) {
      this._again = true;
      return;
    }
    this._busy = true;
    const { _c: c, channel, _o: o, position } = this;
    if (unsub) c._call('unsubscribe', { channel }, ignore, true);
    c._call(
      'subscribe',
      {
        channel,
        since: o.recover === false ? undefined : position,
        last: position ? undefined : o.last,
        joinLeave: o.joinLeave,
      },
      (err, reply) => this._subscribed(err, reply as SubscribeReply),
      true,
    );
  }

  /** @internal */
  _subscribed(err: HubError | undefined, r: SubscribeReply): void {
    this._busy = false;
    // A drop is handled by the reconnect, which subscribes again.
    if (this.state === 'unsubscribed' || err?.code === 'disconnected') return;
    if (this._again) {
      this._again = false;
      return this._subscribe(true);
    }
    if (err) {
      this._emit('error', err);
      if (!err.temporary && err.code !== 'already_subscribed') return this._end(err);
      this._timer = host.setTimeout(() => this._c.state === 'connected' && this._subscribe(true), this._c._delay(this._n++));
      return;
    }
    const { offset, epoch } = r;
    const info: SubscribedInfo = { recovered: !!r.recovered, offset, epoch };
    const buffered = this._buf;
    this._buf = [];
    this._n = 0;
    this._live = true;
    this.state = 'subscribed';
    this._res(info);
    this._emit('subscribed', info);
    if (r.entries) this._board(r.entries);
    for (const p of r.publications ?? []) {
      p.channel = this.channel;
      p.epoch = epoch;
      this._deliver(p);
    }
    this.position = { offset, epoch };
    // Live pushes that raced the reply: only those past what it covered, in order.
    for (const f of buffered) if (f.epoch === epoch && (f.offset ?? 0) > offset) this._push(f);
  }

  /** @internal A push for this channel. */
  _push(f: PushFrame): void {
    const type = f.push;
    if (type === 'pub') {
      if (!this._live) {
        this._buf.push(f);
        return;
      }
      const m = f as unknown as Message;
      const pos = this.position;
      if (pos && m.epoch === pos.epoch && m.offset <= pos.offset) return;
      if (this._o.recover !== false && (!pos || m.epoch !== pos.epoch || m.offset !== pos.offset + 1)) {
        // Missed something: this pub and whatever follows wait for the resubscribe's replay.
        this._buf.push(f);
        return this._subscribe(true);
      }
      this._deliver(m);
    } else if (type === 'resubscribe') {
      // The server dropped the subscription: subscribe again from the last position.
      this._subscribe();
    } else if (type === 'board') {
      this._board(f.entries ?? []);
    } else if (type === 'join' || type === 'leave') {
      this._emit(type, f.member);
    }
  }

  /** @internal Emits a publication unless it is not newer than the position. */
  _deliver(m: Message): void {
    const pos = this.position;
    if (!this._live || (pos && m.epoch === pos.epoch && m.offset <= pos.offset)) return;
    this.position = { offset: m.offset, epoch: m.epoch };
    this._emit('message', m);
  }

  /** @internal */
  _board(entries: BoardEntry[]): void {
    this._top = entries.slice(0, this._o.top);
    this._emit('update', this._top);
  }

  /** @internal The socket dropped: the next connect subscribes again. */
  _reset(): void {
    this._live = this._busy = this._again = false;
    this._buf = [];
    if (this.state === 'subscribed') this.state = 'subscribing';
  }

  /** @internal */
  _end(err: HubError): void {
    this.state = 'unsubscribed';
    this._live = false;
    host.clearTimeout(this._timer);
    if (this._c._subs.get(this.channel) === this) this._c._subs.delete(this.channel);
    this._rej(err);
  }
}

export class Leaderboard extends Subscription<LeaderboardEvents> {
  /** The live top-N, as of the last `update`. */
  get entries(): BoardEntry[] {
    return this._top;
  }

  /** The best `limit` entries (default: the `top` option, else the server's top-N), from `offset`. */
  async top(limit = this._o.top, offset?: number): Promise<BoardEntry[]> {
    return (await this._q<{ entries: BoardEntry[] }>('top', { limit, offset })).entries;
  }

  /** A member's rank (0 is first) and score; both null when absent. */
  rank(member: string): Promise<{ rank: number | null; score: number | null }> {
    return this._q('rank', { member });
  }

  /** The n entries either side of a member, and the member. */
  async around(member: string, n?: number): Promise<BoardEntry[]> {
    return (await this._q<{ entries: BoardEntry[] }>('around', { member, n })).entries;
  }

  /** Adds `by` to a member's score (where the namespace lets clients); resolves with the new score. */
  async incr(member: string, by = 1): Promise<number> {
    return (await this._q<{ score: number }>('incr', { member, by })).score;
  }
}

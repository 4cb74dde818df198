// One connection's state: who it is, what it is subscribed to, its rate limiters. It parses and
// admits inbound frames (rate limits, batching) and hands typed commands to the hub; the hub
// decides everything about channels.

import type { NamespaceConfig } from './config/index.js';
import type { ClientInfo, StreamPosition } from './engine/types.js';
import {
  CloseCodes,
  type Command,
  disconnectFrame,
  errorFrame,
  HubError,
  parseFrame,
  shouldReconnect,
} from './protocol/index.js';
import { Capabilities } from './auth/index.js';
import { gcraRetryAfterMs, gcraTake, type Rule, ruleFor, TokenBucket } from './ratelimit/index.js';
import type { Connection, ConnectionListener } from './transport/types.js';
import type { Clock } from './util/clock.js';

export interface SessionLimits {
  commands: { rate: number; periodMs: number; burst: number };
  bytes: { rate: number; periodMs: number; burst: number };
  rejectionsBeforeClose: number;
  maxDepth: number;
}

/** A reply frame, and what must happen right after it is written (a subscription going live). */
export interface Reply {
  frame: string;
  after?: () => void;
  /** Refused for rate: counts toward `rejectionsBeforeClose`. */
  rateLimited?: boolean;
}

const DRAIN_POLL_MS = 100;

/** A command let in to run, or the reply it got without running (invalid, rate limited). */
type Admitted = { command: Command; reply?: undefined } | { reply: Reply; command?: undefined };

/** What the session needs from the hub. */
export interface CommandHandler {
  /** Handles one admitted command; never rejects. */
  handle(session: Session, command: Command): Promise<Reply>;
  closed(session: Session, code: number, reason: string): void;
  /** A connection is connected without a connect command (a protocol that has none, e.g. Pusher's). */
  opened?(session: Session): void;
  /** A text frame came in (for metrics). */
  received?(bytes: number, commands: number): void;
  /** Handling this connection threw: log and count it; the session then closes with 1011. */
  failed(session: Session, err: unknown): void;
}

export interface Subscription {
  readonly channel: string;
  readonly namespace: NamespaceConfig;
  /**
   * Until the subscribe reply (and any recovery that follows it) is written, live publications
   * wait here (frame and offset), with their total size.
   */
  pending: { offset: number; epoch: string; frame: string }[] | undefined;
  pendingBytes: number;
  /**
   * Written and live, but the engine's feed has not yet passed the position the reply gave: the
   * subscriber joins the channel's topic at the first publication above it, so nothing it already
   * has is pushed again.
   */
  floor: StreamPosition | undefined;
  /** Its presence entry was added (and so must be removed). */
  present: boolean;
  /** How presence shows this subscriber, when the subscribe hook gave it its own `info`. */
  member?: ClientInfo;
  /** Made by the server (connect answer, token, personal channel, API): the client cannot end it. */
  server?: boolean;
  joinLeave: boolean;
}

/** The channels a connection is on, and the lookups the hub makes on them. */
export interface SubscriptionMap {
  readonly size: number;
  get(channel: string): Subscription | undefined;
  has(channel: string): boolean;
  set(channel: string, sub: Subscription): void;
  delete(channel: string): boolean;
  /** A snapshot: subscribing or leaving while iterating it is safe. */
  values(): Subscription[];
}

/** Up to this many subscriptions live in an array; more go to a Map. */
const SMALL = 8;

/**
 * A connection's subscriptions. Most connections hold one or a few channels, and a Map costs
 * ~180 bytes even when it holds one entry (a third of an idle connection's heap), so one
 * subscription is held as itself, a few in an array searched in order, and only many in a Map.
 */
export class Subscriptions implements SubscriptionMap {
  private items: Subscription | Subscription[] | Map<string, Subscription> | undefined;

  get size(): number {
    const items = this.items;
    if (items === undefined) return 0;
    if (items instanceof Map) return items.size;
    return Array.isArray(items) ? items.length : 1;
  }

  get(channel: string): Subscription | undefined {
    const items = this.items;
    if (items === undefined) return undefined;
    if (items instanceof Map) return items.get(channel);
    if (Array.isArray(items)) {
      for (const sub of items) if (sub.channel === channel) return sub;
      return undefined;
    }
    return items.channel === channel ? items : undefined;
  }

  has(channel: string): boolean {
    return this.get(channel) !== undefined;
  }

  /** Adds or replaces the subscription to `channel` (which is `sub.channel`). */
  set(channel: string, sub: Subscription): void {
    const items = this.items;
    if (items === undefined) this.items = sub;
    else if (items instanceof Map) items.set(channel, sub);
    else if (Array.isArray(items)) {
      const i = items.findIndex((s) => s.channel === channel);
      if (i >= 0) items[i] = sub;
      else if (items.length < SMALL) items.push(sub);
      else this.items = new Map([...items.map((s): [string, Subscription] => [s.channel, s]), [channel, sub]]);
    } else this.items = items.channel === channel ? sub : [items, sub];
  }

  delete(channel: string): boolean {
    const items = this.items;
    if (items === undefined) return false;
    if (items instanceof Map) return items.delete(channel);
    if (Array.isArray(items)) {
      const i = items.findIndex((s) => s.channel === channel);
      if (i < 0) return false;
      items.splice(i, 1);
      if (items.length === 0) this.items = undefined;
      return true;
    }
    if (items.channel !== channel) return false;
    this.items = undefined;
    return true;
  }

  values(): Subscription[] {
    const items = this.items;
    if (items === undefined) return [];
    if (items instanceof Map) return [...items.values()];
    return Array.isArray(items) ? items.slice() : [items];
  }
}

/** A connection's two limits as GCRA rules: one object per limits object, shared by its sessions. */
interface LimitRules {
  readonly commands: Rule;
  readonly bytes: Rule;
}

const limitRules = new WeakMap<SessionLimits, LimitRules>();

function rulesFor(limits: SessionLimits): LimitRules {
  let rules = limitRules.get(limits);
  if (rules === undefined) {
    rules = { commands: ruleFor(limits.commands), bytes: ruleFor(limits.bytes) };
    limitRules.set(limits, rules);
  }
  return rules;
}

/** Shared by every session that has none: most connections get no headers kept and no server channels. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const NO_CHANNELS: readonly string[] = Object.freeze([]);

export class Session implements ConnectionListener {
  info: ClientInfo;
  connected = false;
  /** What this connection may do, by channel; everything until auth says otherwise. */
  caps: Capabilities = Capabilities.all;
  /** When its token expires (ms since the epoch), and the timers that warn and then close. */
  expiresAt: number | undefined;
  private timers: NodeJS.Timeout[] | undefined;
  readonly openedAt: number;
  /** The upgrade request's headers that proxy hooks forward (Cookie, Authorization, ...). */
  headers: Readonly<Record<string, string>> = NO_HEADERS;
  /** Authenticated by the connect hook: its expiry is renewed by the refresh hook, not by tokens. */
  proxied = false;
  /** Channels the server subscribes it to at connect (connect hook answer, token `channels` claim). */
  serverChannels: readonly string[] = NO_CHANNELS;
  readonly subscriptions: SubscriptionMap = new Subscriptions();
  /** Per-namespace publish limiters, made on first use (most connections never publish). */
  private publishLimits: Map<string, TokenBucket> | undefined;
  /** The connection's command and byte buckets, as GCRA times (a number each, not an object each). */
  private commandTat = 0;
  private byteTat = 0;
  private readonly rules: LimitRules;
  private rejectionsInARow = 0;
  private ended = false;
  private drainWaiters: (() => void)[] | undefined;

  constructor(
    readonly conn: Connection,
    clientId: string,
    private readonly handler: CommandHandler,
    private readonly limits: SessionLimits,
    readonly clock: Clock,
  ) {
    this.info = { client: clientId, user: '' };
    this.openedAt = clock.now();
    this.rules = rulesFor(limits);
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  onText(frame: string): void {
    if (this.ended) return;
    try {
      this.admit(frame);
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Limits are charged before anything is answered, so invalid or oversized frames cost what valid
   * ones do: every frame its bytes, every command in it (valid or not) one command token.
   */
  private admit(frame: string): void {
    // A frame larger than the byte burst could never pass: charge it the whole burst instead.
    const cost = Math.min(frame.length, this.limits.bytes.burst);
    const bytesOk = this.take('bytes', cost);
    const parsed = parseFrame(frame, this.limits.maxDepth);
    this.handler.received?.(frame.length, parsed.kind === 'close' ? 0 : parsed.items.length);
    if (parsed.kind === 'close') {
      this.close(parsed.code, parsed.reason);
      return;
    }
    // Admission is decided for the whole frame at once; running is one command at a time.
    const admitted: Admitted[] = [];
    for (const item of parsed.items) {
      if (!bytesOk || !this.take('commands', 1)) {
        this.rejectionsInARow++;
        admitted.push({ reply: { frame: this.rateLimited(item.id, bytesOk, cost) } });
      } else if ('error' in item) {
        admitted.push({ reply: { frame: errorFrame(item.id, item.error) } });
      } else {
        admitted.push({ command: item });
      }
    }
    if (this.rejectionsInARow >= this.limits.rejectionsBeforeClose) {
      this.close(CloseCodes.rate_limited, 'rate limit exceeded repeatedly; slow down and reconnect');
      return;
    }
    if (!parsed.batch) {
      const only = admitted[0] as Admitted;
      if (only.reply !== undefined) this.send(only.reply.frame);
      else this.handler.handle(this, only.command).then((reply) => this.deliver(reply)).catch((err: unknown) => this.fail(err));
      return;
    }
    this.runBatch(admitted).catch((err: unknown) => this.fail(err));
  }

  /**
   * A batch runs in order and gets one array frame with every reply; then what follows each reply.
   * It stops at the first command after its connection closed: nothing runs for a dead session.
   */
  private async runBatch(items: Admitted[]): Promise<void> {
    const replies: Reply[] = [];
    for (const item of items) {
      if (this.ended) return;
      const reply = item.reply ?? (await this.handler.handle(this, item.command));
      if (item.command !== undefined) this.counted(reply);
      replies.push(reply);
    }
    if (this.ended) return;
    this.send(`[${replies.map((r) => r.frame).join(',')}]`);
    for (const reply of replies) reply.after?.();
    this.closeIfRejectedTooOften();
  }

  private deliver(reply: Reply): void {
    this.counted(reply);
    this.send(reply.frame);
    reply.after?.();
    this.closeIfRejectedTooOften();
  }

  /** Takes from the connection's command or byte bucket; false (nothing taken) when short. */
  private take(bucket: 'commands' | 'bytes', cost: number): boolean {
    const now = this.clock.now();
    if (bucket === 'commands') {
      const next = gcraTake(this.rules.commands, this.commandTat, now, cost);
      if (next < 0) return false;
      this.commandTat = next;
    } else {
      const next = gcraTake(this.rules.bytes, this.byteTat, now, cost);
      if (next < 0) return false;
      this.byteTat = next;
    }
    return true;
  }

  /** Refusals for rate (the connection's, or a namespace's publish rate) in a row close it. */
  private counted(reply: Reply): void {
    if (reply.rateLimited === true) this.rejectionsInARow++;
    else this.rejectionsInARow = 0;
  }

  private closeIfRejectedTooOften(): void {
    if (this.rejectionsInARow >= this.limits.rejectionsBeforeClose) {
      this.close(CloseCodes.rate_limited, 'rate limit exceeded repeatedly; slow down and reconnect');
    }
  }

  /** A bug while handling this connection ends this connection only, with 1011. */
  private fail(err: unknown): void {
    this.handler.failed(this, err);
    if (this.ended) return;
    try {
      this.close(CloseCodes.internal_error, 'internal error; reconnect');
    } catch {
      // The socket itself is broken: the transport's close event still ends the session.
    }
  }

  onBinary(): void {
    this.close(CloseCodes.bad_frame, 'binary frames are not supported; send JSON text frames');
  }

  onDrain(): void {
    const waiting = this.drainWaiters;
    if (waiting === undefined) return;
    this.drainWaiters = undefined;
    for (const resolve of waiting) resolve();
  }

  /**
   * Resolves when the connection's send queue drained, or after a short while (its queue may have
   * been filled by topic publications, for which no drain is owed), or when it closed.
   */
  drained(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.onDrain(), DRAIN_POLL_MS);
      (this.drainWaiters ??= []).push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  onClose(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.clearAuthTimers();
    this.onDrain();
    try {
      this.handler.closed(this, code, reason);
    } catch (err) {
      this.handler.failed(this, err);
    }
  }

  /** Its token's timers (warning, refresh, expiry), made on first use: most connections have none. */
  get authTimers(): NodeJS.Timeout[] {
    return (this.timers ??= []);
  }

  clearAuthTimers(): void {
    const timers = this.timers;
    if (timers === undefined) return;
    for (const t of timers) clearTimeout(t);
    timers.length = 0;
  }

  send(frame: string): void {
    if (!this.ended) this.conn.send(frame);
  }

  /** Tells the client why, then closes. */
  close(code: number, reason: string): void {
    if (this.ended) return;
    this.conn.send(disconnectFrame(code, reason, shouldReconnect(code)));
    this.conn.close(code, reason);
  }

  publishAllowed(namespace: string, policy: NamespaceConfig['publishRate']): boolean {
    if (policy === undefined) return true;
    this.publishLimits ??= new Map();
    let bucket = this.publishLimits.get(namespace);
    if (bucket === undefined) {
      bucket = new TokenBucket(policy, this.clock);
      this.publishLimits.set(namespace, bucket);
    }
    return bucket.take();
  }

  publishRetryAfterMs(namespace: string): number {
    return this.publishLimits?.get(namespace)?.retryAfterMs() ?? 0;
  }

  private rateLimited(id: number, bytesOk: boolean, bytes: number): string {
    const now = this.clock.now();
    const retryAfterMs = bytesOk
      ? gcraRetryAfterMs(this.rules.commands, this.commandTat, now, 1)
      : gcraRetryAfterMs(this.rules.bytes, this.byteTat, now, bytes);
    const what = bytesOk ? 'too many commands' : 'too many bytes';
    return errorFrame(
      id,
      new HubError('rate_limited', `${what} on this connection; retry after retryAfterMs`, { retryAfterMs }),
    );
  }
}

// One Pusher connection: reads Pusher events, runs them as the hub's own commands on the
// connection's hub Session (same limits, same delivery), and answers in Pusher's shape.

import type { Config, PusherAppConfig } from '../../config/index.js';
import type { JsonValue } from '../../engine/types.js';
import { CloseCodes, type Command, type ErrorCode, ErrorCodes, jsonDataProblem } from '../../protocol/index.js';
import { TokenBucket } from '../../ratelimit/index.js';
import { type CommandHandler, type Reply, Session } from '../../session.js';
import type { Clock } from '../../util/clock.js';
import { cacheMiss, keptEvent, connectionEstablished, pusherError, pusherEvent, subscriptionError } from './frames.js';
import type { PresenceMembers } from './members.js';
import { hubChannel, isCache, kindOf, pusherChannel, SERVER_TO_USER, USER_ID, validChannel } from './names.js';
import { sameText, sign, validChannelAuth } from './signature.js';
import type { PusherWebhooks } from './webhooks.js';
import type { PusherWire } from './wire.js';

export interface PusherContext {
  hub: CommandHandler;
  members: PresenceMembers;
  config: Config;
  webhooks: PusherWebhooks | undefined;
}

/** Pusher's "client event rejected due to rate limit". */
const CLIENT_EVENT_RATE = 4301;
const MAX_EVENT_NAME = 200;

type Answer = { ok: true; result: unknown } | { ok: false; code: ErrorCode | undefined; message: string };

/** A hub Session whose frames are Pusher events: the hub keeps its subscriptions, limits and delivery. */
export class PusherSession extends Session {
  private chain: Promise<void> = Promise.resolve();
  private nextId = 1;
  private refusedInARow = 0;
  private readonly frames: TokenBucket;
  private readonly bytes: TokenBucket;
  private readonly clientEvents: TokenBucket;
  /** Presence channels (hub names) whose members this node tracks for this connection. */
  private readonly presence = new Set<string>();

  constructor(
    private readonly wire: PusherWire,
    private readonly app: PusherAppConfig,
    private readonly ctx: PusherContext,
    clock: Clock,
  ) {
    super(wire, wire.socketId, ctx.hub, ctx.config.limits, clock);
    const { limits } = ctx.config;
    this.frames = new TokenBucket(limits.commands, clock);
    this.bytes = new TokenBucket(limits.bytes, clock);
    const perSecond = app.maxClientEventsPerSecond;
    this.clientEvents = new TokenBucket({ rate: perSecond, periodMs: 1000, burst: perSecond }, clock);
    wire.onResubscribe = (channel) => {
      this.chain = this.chain.then(() => this.resubscribe(channel)).catch((err: unknown) => this.failed(err));
    };
  }

  /**
   * The hub dropped a subscription it could no longer feed in order (a pending buffer overflowed,
   * publications were lost between nodes). A Pusher client has no way to be asked, so the session
   * subscribes again for it (already authorized); it misses what fell in between, as Pusher's own
   * clients do across a reconnect.
   */
  private async resubscribe(name: string): Promise<void> {
    if (!this.isOpen || this.subscriptions.has(name)) return;
    const { reply, answer } = await this.command({ method: 'subscribe', channel: name });
    if (answer.ok) reply.after?.();
    else this.refuse(pusherChannel(name), 'HubError', answer.message, statusOf(answer.code));
  }

  get socketId(): string {
    return this.wire.socketId;
  }

  start(): void {
    // A Pusher connection has no connect command: it is connected once it has its socket id.
    this.connected = true;
    this.ctx.hub.opened?.(this);
    this.wire.raw(connectionEstablished(this.socketId, this.ctx.config.pusher.activityTimeoutSec));
  }

  override onText(frame: string): void {
    if (!this.isOpen) return;
    const { limits } = this.ctx.config;
    const bytesOk = this.bytes.take(Math.min(frame.length, limits.bytes.burst));
    this.ctx.hub.received?.(frame.length, 1);
    if (!bytesOk || !this.frames.take()) {
      this.wire.raw(pusherError(null, 'too many messages on this connection; slow down'));
      if (++this.refusedInARow >= limits.rejectionsBeforeClose) {
        this.close(CloseCodes.rate_limited, 'rate limit exceeded repeatedly; slow down and reconnect');
      }
      return;
    }
    this.refusedInARow = 0;
    const message = parseMessage(frame);
    if (typeof message === 'string') {
      this.wire.raw(pusherError(null, message));
      return;
    }
    // One at a time, in order: a subscribe finishes before the next message of this connection runs.
    this.chain = this.chain.then(() => this.run(message)).catch((err: unknown) => this.failed(err));
  }

  override onClose(code: number, reason: string): void {
    for (const channel of this.presence) this.ctx.members.unwatch(channel);
    this.presence.clear();
    this.wire.released();
    super.onClose(code, reason);
  }

  private failed(err: unknown): void {
    this.ctx.hub.failed(this, err);
    this.close(CloseCodes.internal_error, 'internal error; reconnect');
  }

  private async run(m: { event: string; channel: unknown; data: unknown }): Promise<void> {
    if (!this.isOpen) return;
    switch (m.event) {
      case 'pusher:ping':
        this.wire.raw(pusherEvent('pusher:pong', {}));
        return;
      case 'pusher:pong':
        return;
      case 'pusher:subscribe':
        return this.subscribe(objectOf(m.data));
      case 'pusher:unsubscribe':
        return this.unsubscribe(objectOf(m.data).channel);
      case 'pusher:signin':
        return this.signin(objectOf(m.data));
      default:
        if (m.event.startsWith('client-')) return this.clientEvent(m.event, m.channel, m.data);
        this.wire.raw(pusherError(null, `unsupported event ${JSON.stringify(m.event.slice(0, 64))}`));
    }
  }

  private async subscribe(data: Record<string, unknown>): Promise<void> {
    const { channel } = data;
    if (!validChannel(channel)) {
      this.wire.raw(pusherError(null, 'pusher:subscribe needs a channel name of 1 to 164 of A-Z a-z 0-9 _ - = @ , . ;'));
      return;
    }
    const kind = kindOf(channel);
    const name = hubChannel(this.app.id, channel);
    if (this.subscriptions.has(name)) return;
    let member: { user: string; info?: JsonValue } | undefined;
    if (kind === 'presence') {
      const channelData = typeof data.channel_data === 'string' ? data.channel_data : undefined;
      member = channelData === undefined ? undefined : presenceMember(channelData);
      if (channelData === undefined || member === undefined) {
        return this.refuse(channel, 'AuthError', 'presence channels need channel_data: a JSON object with a user_id', 400);
      }
      if (!validChannelAuth(this.app, data.auth, this.socketId, channel, channelData)) {
        return this.refuse(channel, 'AuthError', 'invalid signature for this socket and channel', 401);
      }
      if (this.info.user !== '' && this.info.user !== member.user) {
        return this.refuse(channel, 'AuthError', 'a connection is one presence user: this user_id differs from its first', 403);
      }
    } else if (kind !== 'public' && !validChannelAuth(this.app, data.auth, this.socketId, channel)) {
      return this.refuse(channel, 'AuthError', 'invalid signature for this socket and channel', 401);
    }
    if (member !== undefined) {
      this.info = { client: this.socketId, user: member.user, ...(member.info === undefined ? {} : { info: member.info }) };
      this.presence.add(name);
      this.ctx.members.watch(name);
      this.wire.holdMembers(name);
    }
    const cache = isCache(channel);
    const since = this.wire.positions ? positionOf(data.hubbub_since) : undefined;
    const { reply, answer } = await this.command(
      since !== undefined
        ? { method: 'subscribe', channel: name, since }
        : cache
          ? { method: 'subscribe', channel: name, last: 1 }
          : { method: 'subscribe', channel: name },
    );
    if (!answer.ok) {
      this.dropPresence(name);
      return this.refuse(channel, 'HubError', answer.message, statusOf(answer.code));
    }
    const state = answer.result as Subscribed;
    if (member === undefined) {
      this.wire.raw(pusherEvent('pusher_internal:subscription_succeeded', this.succeeded({}, state), channel));
      this.initial(channel, state, since !== undefined, cache);
      reply.after?.();
      return;
    }
    const read = await this.command({ method: 'presence', channel: name });
    const members = read.answer.ok ? (read.answer.result as { members?: unknown }).members : undefined;
    if (!Array.isArray(members)) {
      if (this.subscriptions.has(name)) await this.command({ method: 'unsubscribe', channel: name });
      this.dropPresence(name);
      return this.refuse(channel, 'HubError', 'could not read the members; subscribe again', 503);
    }
    const presence = this.ctx.members.snapshot(name, members as { client?: string; user?: string; info?: unknown }[]);
    this.wire.raw(pusherEvent('pusher_internal:subscription_succeeded', this.succeeded({ presence }, state), channel));
    this.initial(channel, state, since !== undefined, cache);
    reply.after?.();
    this.wire.releaseMembers(name);
  }

  /** With history, the subscriber learns where it starts (and whether a resume recovered everything). */
  private succeeded(data: Record<string, unknown>, state: Subscribed): Record<string, unknown> {
    if (!this.wire.positions) return data;
    const at = { offset: state.offset, epoch: state.epoch, ...(state.recovered === undefined ? {} : { recovered: state.recovered }) };
    return { ...data, hubbub: at };
  }

  /** After `subscription_succeeded`: the events a resume missed, or a cache channel's last event (or its miss). */
  private initial(channel: string, state: Subscribed, resumed: boolean, cache: boolean): void {
    const pubs = state.publications ?? [];
    if (resumed) {
      for (const p of pubs) this.wire.raw(keptEvent(channel, p.data, p.from?.user, { offset: p.offset, epoch: state.epoch }));
      return;
    }
    if (!cache) return;
    const last = pubs[0];
    if (last === undefined) return void this.wire.raw(cacheMiss(channel));
    const at = this.wire.positions ? { offset: last.offset, epoch: state.epoch } : undefined;
    this.wire.raw(keptEvent(channel, last.data, last.from?.user, at));
  }

  /**
   * User authentication: the app's endpoint signed `socket_id::user::user_data`. The connection is
   * that user from now on (terminate_connections reaches it) and hears its `#server-to-user-` channel.
   */
  private async signin(data: Record<string, unknown>): Promise<void> {
    const userData = data.user_data;
    const user = typeof userData === 'string' ? objectOf(userData) : {};
    const id = user.id;
    if (typeof userData !== 'string' || typeof id !== 'string' || !USER_ID.test(id)) {
      this.wire.raw(pusherError(4009, 'pusher:signin needs user_data: a JSON object with an id of 1 to 128 of A-Z a-z 0-9 _ - = @ , . ;'));
      return;
    }
    if (!sameText(String(data.auth), `${this.app.key}:${sign(this.app.secret, `${this.socketId}::user::${userData}`)}`)) {
      this.wire.raw(pusherError(4009, 'invalid signature for this socket and user'));
      return;
    }
    if (this.info.user !== '' && this.info.user !== id) {
      this.wire.raw(pusherError(4009, 'this connection is already another user'));
      return;
    }
    const name = hubChannel(this.app.id, SERVER_TO_USER + id);
    if (this.info.user !== id) this.info = { client: this.socketId, user: id, ...(user.user_info === undefined ? {} : { info: user.user_info as JsonValue }) };
    if (this.subscriptions.has(name)) return;
    const { reply, answer } = await this.command({ method: 'subscribe', channel: name });
    if (!answer.ok) {
      this.wire.raw(pusherError(null, answer.message));
      return;
    }
    this.wire.raw(pusherEvent('pusher:signin_success', { user_data: userData }));
    reply.after?.();
  }

  private async unsubscribe(channel: unknown): Promise<void> {
    if (!validChannel(channel)) return;
    const name = hubChannel(this.app.id, channel);
    if (!this.subscriptions.has(name)) return;
    await this.command({ method: 'unsubscribe', channel: name });
    this.dropPresence(name);
  }

  private async clientEvent(event: string, channel: unknown, data: unknown): Promise<void> {
    if (!validChannel(channel)) {
      this.wire.raw(pusherError(null, 'a client event needs a channel'));
      return;
    }
    const kind = kindOf(channel);
    if (kind !== 'private' && kind !== 'presence') {
      this.wire.raw(pusherError(null, `client events are allowed on private and presence channels only, not on ${channel}`));
      return;
    }
    const name = hubChannel(this.app.id, channel);
    if (!this.subscriptions.has(name)) {
      this.wire.raw(pusherError(null, `subscribe to ${channel} before sending client events on it`));
      return;
    }
    if (!this.clientEvents.take()) {
      this.wire.raw(pusherError(CLIENT_EVENT_RATE, `client event rejected: at most ${this.app.maxClientEventsPerSecond} per second`));
      return;
    }
    const problem = jsonDataProblem(data ?? null, this.ctx.config.limits.maxDepth);
    if (problem !== undefined) {
      this.wire.raw(pusherError(null, `client event data ${problem}`));
      return;
    }
    const { answer } = await this.command({ method: 'publish', channel: name, data: { event, data: (data ?? null) as JsonValue } });
    if (!answer.ok) this.wire.raw(pusherError(null, answer.message));
    else this.ctx.webhooks?.clientEvent(name, event, data ?? null, this.info);
  }

  private refuse(channel: string, type: string, error: string, status: number): void {
    this.wire.raw(subscriptionError(channel, type, error, status));
  }

  private dropPresence(name: string): void {
    if (!this.presence.delete(name)) return;
    this.ctx.members.unwatch(name);
    this.wire.releaseMembers(name);
  }

  /** Runs one hub command for this connection; its reply parsed (the hub answers in its own shape). */
  private async command(cmd: DistributiveOmit<Command, 'id'>): Promise<{ reply: Reply; answer: Answer }> {
    const reply = await this.ctx.hub.handle(this, { ...cmd, id: this.nextId++ } as Command);
    return { reply, answer: answerOf(reply.frame) };
  }
}

/** The hub's subscribe result. */
interface Subscribed {
  offset: number;
  epoch: string;
  recovered?: boolean;
  publications?: { offset: number; data: unknown; from?: { user?: string } }[];
}

/** `hubbub_since: {offset, epoch}` as a resuming client sends it; anything else is no resume. */
function positionOf(raw: unknown): { offset: number; epoch: string } | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { offset, epoch } = raw as { offset?: unknown; epoch?: unknown };
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) return undefined;
  if (typeof epoch !== 'string' || epoch.length > 64) return undefined;
  return { offset, epoch };
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function answerOf(frame: string): Answer {
  const parsed = JSON.parse(frame) as { result?: unknown; error?: { code?: string; message?: string } };
  if (parsed.error === undefined) return { ok: true, result: parsed.result };
  const code = parsed.error.code;
  return {
    ok: false,
    code: code !== undefined && Object.hasOwn(ErrorCodes, code) ? (code as ErrorCode) : undefined,
    message: parsed.error.message ?? 'refused',
  };
}

function statusOf(code: ErrorCode | undefined): number {
  return code === undefined ? 500 : ErrorCodes[code].status;
}

/** A client message, or what is wrong with it. */
function parseMessage(frame: string): { event: string; channel: unknown; data: unknown } | string {
  let raw: unknown;
  try {
    raw = JSON.parse(frame);
  } catch {
    return 'messages must be JSON';
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'a message must be a JSON object';
  const { event, channel, data } = raw as Record<string, unknown>;
  if (typeof event !== 'string' || event === '' || event.length > MAX_EVENT_NAME) {
    return `a message needs an "event" name of 1 to ${MAX_EVENT_NAME} characters`;
  }
  return { event, channel, data };
}

/** pusher-js sends `data` as an object; some clients send it as a JSON string. */
function objectOf(data: unknown): Record<string, unknown> {
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      return {};
    }
  }
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
}

/** `channel_data`: `{"user_id": "...", "user_info": {...}}` as the app's auth endpoint signed it. */
function presenceMember(channelData: string): { user: string; info?: JsonValue } | undefined {
  const data = objectOf(channelData);
  const id = data.user_id;
  const user = typeof id === 'string' ? id : typeof id === 'number' && Number.isFinite(id) ? String(id) : undefined;
  if (user === undefined || user === '' || user.length > 256) return undefined;
  return data.user_info === undefined ? { user } : { user, info: data.user_info as JsonValue };
}

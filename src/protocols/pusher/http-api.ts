// Pusher's HTTP API, as the server SDKs call it: `/apps/:id/events`, `/batch_events`,
// `/channels`, `/channels/:name`, `/channels/:name/users`, `/users/:id/terminate_connections`.
// Every request is signed with the app secret (auth_key, auth_timestamp, auth_version, body_md5,
// auth_signature over `METHOD\npath\nsorted query`); the answers are Pusher's, statuses included.

import { createHash } from 'node:crypto';
import type { Config, PusherAppConfig } from '../../config/index.js';
import type { ClientInfo, JsonValue } from '../../engine/types.js';
import type { Hub } from '../../hub.js';
import type { Logger } from '../../observability/index.js';
import { HubError, isHubError } from '../../protocol/index.js';
import { KeyedRateLimiter } from '../../ratelimit/index.js';
import { systemClock } from '../../util/clock.js';
import type { HttpRequest, HttpResponse } from '../../transport/types.js';
import { appPrefixes, hubChannel, kindOf, pusherChannel, SERVER_TO_USER, USER_ID, validChannel } from './names.js';
import { sameText, sign } from './signature.js';

/** Pusher's own limits: channels per event, events per batch, event name and data size. */
const MAX_CHANNELS = 100;
const MAX_BATCH = 10;
const MAX_EVENT_NAME = 200;
const MAX_DATA_BYTES = 10 * 1024;
const MAX_CLOCK_SKEW_SEC = 600;
const SOCKET_ID = /^\d+\.\d+$/;
/** Buckets of the rate limiter looked at per request, to forget the full ones. */
const SWEEP_BUDGET = 16;

type Api = Pick<Hub, 'serverPublish' | 'channelList' | 'disconnectUser' | 'localSubscribers'> & {
  presenceMembers(channel: string): Promise<ClientInfo[]>;
};

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export class PusherHttpApi {
  private readonly byId = new Map<string, PusherAppConfig>();
  /** `api.rateLimit`, per app for signed requests and per address for refused ones (guessing secrets). */
  private readonly limiter = new KeyedRateLimiter(systemClock);
  private readonly policy: Config['api']['rateLimit'];

  constructor(
    config: Config,
    private readonly hub: Api,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    for (const app of config.pusher.apps) this.byId.set(app.id, app);
    this.policy = config.api.rateLimit;
  }

  async handle(req: HttpRequest): Promise<HttpResponse | undefined> {
    const q = req.url.indexOf('?');
    const path = q === -1 ? req.url : req.url.slice(0, q);
    const m = /^\/apps\/([^/]+)(\/.*)$/.exec(path);
    if (m === null) return undefined;
    try {
      const app = this.byId.get(m[1] as string);
      this.limiter.sweep(systemClock.now(), SWEEP_BUDGET);
      if (app === undefined) throw new ApiError(404, `unknown app id ${JSON.stringify((m[1] as string).slice(0, 32))}`);
      try {
        this.verify(app, req, path, q === -1 ? '' : req.url.slice(q + 1));
      } catch (err) {
        this.limit(`denied:${req.remoteAddress}`, 'too many refused requests from this address');
        throw err;
      }
      this.limit(`app:${app.id}`, 'too many requests for this app');
      return json(200, await this.route(app, req, m[2] as string, queryOf(req.url)));
    } catch (err) {
      if (err instanceof ApiError) {
        const answer = text(err.status, err.message);
        if (err.retryAfterMs !== undefined) answer.headers = { ...answer.headers, 'retry-after': String(Math.ceil(err.retryAfterMs / 1000)) };
        return answer;
      }
      if (isHubError(err)) return text(err.code === 'payload_too_large' ? 413 : err.code === 'unavailable' ? 503 : 400, err.message);
      this.log.error({ err, url: path }, 'pusher api request failed');
      return text(500, 'internal error; retry later');
    }
  }

  private async route(app: PusherAppConfig, req: HttpRequest, rest: string, query: Map<string, string>): Promise<unknown> {
    const post = req.method === 'POST';
    if (post && rest === '/events') return this.events(app, [eventOf(bodyOf(req), true)]);
    if (post && rest === '/batch_events') {
      const { batch } = bodyOf(req);
      if (!Array.isArray(batch) || batch.length === 0 || batch.length > MAX_BATCH) {
        throw new ApiError(400, `batch must hold 1 to ${MAX_BATCH} events`);
      }
      return this.events(app, batch.map((e) => eventOf(e, false)));
    }
    const terminate = /^\/users\/([^/]+)\/terminate_connections$/.exec(rest);
    if (post && terminate !== null) {
      await this.hub.disconnectUser(decode(terminate[1] as string), false, 'terminated by the app');
      return {};
    }
    if (req.method !== 'GET') throw new ApiError(404, `no route ${req.method} ${rest}`);
    if (rest === '/channels') return this.channels(app, query);
    const one = /^\/channels\/([^/]+)(\/users)?$/.exec(rest);
    if (one === null) throw new ApiError(404, `no route GET ${rest}`);
    const channel = decode(one[1] as string);
    if (!validChannel(channel)) throw new ApiError(400, 'invalid channel name');
    if (one[2] !== undefined) {
      if (kindOf(channel) !== 'presence') throw new ApiError(400, 'users are only available for presence channels');
      return { users: [...usersOf(await this.hub.presenceMembers(hubChannel(app.id, channel)))].map((id) => ({ id })) };
    }
    return this.channel(app, channel, infoOf(query));
  }

  /** Validated all first, then published: a bad event in a batch publishes none of it. */
  private async events(app: PusherAppConfig, events: Event[]): Promise<unknown> {
    for (const e of events) {
      for (const channel of e.channels) {
        if (!validChannel(channel) && !userChannel(channel)) throw new ApiError(400, `invalid channel name ${JSON.stringify(String(channel).slice(0, 64))}`);
      }
    }
    for (const e of events) {
      const data: JsonValue = e.socketId === undefined ? { event: e.name, data: e.data } : { event: e.name, data: e.data, socket_id: e.socketId };
      await Promise.all(e.channels.map((channel) => this.hub.serverPublish(hubChannel(app.id, channel), data)));
    }
    return {};
  }

  private async channels(app: PusherAppConfig, query: Map<string, string>): Promise<unknown> {
    const prefix = query.get('filter_by_prefix') ?? '';
    const info = infoOf(query);
    if (info.has('user_count') && !prefix.startsWith('presence-')) {
      throw new ApiError(400, 'info=user_count needs filter_by_prefix=presence-');
    }
    const out: Record<string, unknown> = {};
    const mine = appPrefixes(app.id);
    for (const { channel } of this.hub.channelList()) {
      if (!mine.some((ns) => channel.startsWith(ns))) continue;
      const name = pusherChannel(channel);
      if (!name.startsWith(prefix)) continue;
      out[name] = info.has('user_count') ? { user_count: usersOf(await this.hub.presenceMembers(channel)).size } : {};
    }
    return { channels: out };
  }

  private async channel(app: PusherAppConfig, channel: string, info: Set<string>): Promise<unknown> {
    const name = hubChannel(app.id, channel);
    const subscribers = this.hub.localSubscribers(name);
    const out: Record<string, unknown> = { occupied: subscribers > 0 };
    if (info.has('subscription_count')) out.subscription_count = subscribers;
    if (info.has('user_count')) {
      if (kindOf(channel) !== 'presence') throw new ApiError(400, 'user_count is only available for presence channels');
      const users = usersOf(await this.hub.presenceMembers(name)).size;
      out.user_count = users;
      out.occupied = out.occupied === true || users > 0;
    }
    return out;
  }

  private limit(key: string, message: string): void {
    const result = this.limiter.allow(key, this.policy);
    if (!result.allowed) throw new ApiError(429, `${message}; retry later`, result.retryAfterMs);
  }

  /** Pusher's request signature, its timestamp window and the body's MD5. */
  private verify(app: PusherAppConfig, req: HttpRequest, path: string, rawQuery: string): void {
    const params = new Map<string, string>();
    for (const pair of rawQuery.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = decode(eq === -1 ? pair : pair.slice(0, eq)).toLowerCase();
      params.set(key, decode(eq === -1 ? '' : pair.slice(eq + 1)));
    }
    if (params.get('auth_key') !== app.key) throw new ApiError(401, 'unknown auth_key');
    const timestamp = Number(params.get('auth_timestamp'));
    if (!Number.isFinite(timestamp) || Math.abs(this.now() / 1000 - timestamp) > MAX_CLOCK_SKEW_SEC) {
      throw new ApiError(401, `auth_timestamp must be within ${MAX_CLOCK_SKEW_SEC} s of the server's clock`);
    }
    if (params.get('auth_version') !== '1.0') throw new ApiError(401, 'auth_version must be 1.0');
    if (req.body.length > 0) {
      const md5 = createHash('md5').update(req.body).digest('hex');
      if (params.get('body_md5') !== md5) throw new ApiError(401, 'body_md5 does not match the body');
    }
    const signature = params.get('auth_signature') ?? '';
    params.delete('auth_signature');
    const sorted = [...params.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
    const expected = sign(app.secret, `${req.method}\n${path}\n${sorted.join('&')}`);
    if (!sameText(signature, expected)) throw new ApiError(401, 'invalid auth_signature');
  }
}

interface Event {
  name: string;
  data: string;
  channels: string[];
  socketId: string | undefined;
}

function eventOf(raw: unknown, many: boolean): Event {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ApiError(400, 'an event must be a JSON object');
  const e = raw as Record<string, unknown>;
  const name = e.name;
  if (typeof name !== 'string' || name === '' || name.length > MAX_EVENT_NAME) {
    throw new ApiError(400, `name must be a string of 1 to ${MAX_EVENT_NAME} characters`);
  }
  // The SDKs send data as a string; any other JSON is sent on as its text.
  const data = typeof e.data === 'string' ? e.data : e.data === undefined ? '' : JSON.stringify(e.data);
  if (Buffer.byteLength(data) > MAX_DATA_BYTES) {
    throw new HubError('payload_too_large', `event data exceeds ${MAX_DATA_BYTES} bytes`);
  }
  const list = many ? e.channels ?? (e.channel === undefined ? undefined : [e.channel]) : [e.channel];
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_CHANNELS || !list.every((c) => typeof c === 'string')) {
    throw new ApiError(400, `channels must list 1 to ${MAX_CHANNELS} channel names`);
  }
  const socketId = e.socket_id;
  if (socketId !== undefined && (typeof socketId !== 'string' || !SOCKET_ID.test(socketId))) {
    throw new ApiError(400, 'socket_id must look like 123.456');
  }
  return { name, data, channels: list as string[], socketId };
}

/** `#server-to-user-<id>`: what the SDKs' sendToUser triggers on. */
function userChannel(channel: string): boolean {
  return channel.startsWith(SERVER_TO_USER) && USER_ID.test(channel.slice(SERVER_TO_USER.length));
}

function bodyOf(req: HttpRequest): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'the body must be JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

function queryOf(url: string): Map<string, string> {
  const q = url.indexOf('?');
  return new Map(new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
}

function infoOf(query: Map<string, string>): Set<string> {
  return new Set((query.get('info') ?? '').split(',').filter((s) => s !== ''));
}

/** Users, not connections: one user in two tabs is one. */
function usersOf(members: readonly ClientInfo[]): Set<string> {
  return new Set(members.map((m) => m.user).filter((u) => u !== ''));
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function json(status: number, body: unknown): HttpResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function text(status: number, message: string): HttpResponse {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${message}\n` };
}

// What every k6 scenario needs to talk to a hub: settings from __ENV, a socket that matches
// replies to commands and hands pushes on, an in-order offset check per channel, HS256 tokens
// signed by hand, and HTTP API publishes. k6 gives each VU its own copy of this module.

import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import http from 'k6/http';
import { type MessageEvent, WebSocket } from 'k6/websockets';
import * as m from './metrics.ts';

/** A string setting: `k6 run -e NAME=value`, else the default. */
export function env(name: string, fallback: string): string {
  const value = __ENV[name];
  return value === undefined || value === '' ? fallback : value;
}

/** A numeric setting; a value that is not a number stops the run at once rather than measuring nonsense. */
export function envNumber(name: string, fallback: number): number {
  const value = Number(env(name, String(fallback)));
  if (!Number.isFinite(value)) throw new Error(`-e ${name} must be a number, got ${__ENV[name]}`);
  return value;
}

/** The target: HUB (ws URL), API (http base), API_KEY (for /api/ routes), AUTH_SECRET (HS256 tokens). */
export const target = {
  hub: env('HUB', 'ws://127.0.0.1:8080/ws'),
  api: env('API', 'http://127.0.0.1:8080'),
  apiKey: env('API_KEY', ''),
  authSecret: env('AUTH_SECRET', ''),
};

export interface Position {
  offset: number;
  epoch: string;
}

export interface Publication extends Position {
  channel: string;
  data: unknown;
}

export interface Push {
  push: string;
  channel?: string;
  offset?: number;
  epoch?: string;
  data?: unknown;
  code?: number;
}

export interface ReplyError {
  code: string;
  message: string;
}

interface Reply {
  id: number;
  result?: unknown;
  error?: ReplyError;
}

/** An error reply from the hub, with its stable code. */
export class HubError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export interface HubSocketHandlers {
  /** The socket is open; send `connect` from here. */
  onOpen?: () => void;
  /** Every push (pub, resubscribe, disconnect, ...), in arrival order. */
  onPush?: (push: Push) => void;
  /** The socket closed, by either side. */
  onClose?: () => void;
  onError?: (error: string) => void;
}

/** One WebSocket to the hub: `request()` sends a command and resolves with its result. */
export class HubSocket {
  private readonly ws: WebSocket;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  closed = false;

  constructor(url: string, handlers: HubSocketHandlers) {
    this.ws = new WebSocket(url);
    this.ws.addEventListener('open', () => handlers.onOpen?.());
    this.ws.addEventListener('message', (event) => {
      const frame = JSON.parse(String((event as MessageEvent).data)) as Reply | Push | Reply[];
      for (const f of Array.isArray(frame) ? frame : [frame]) {
        if ('push' in f) handlers.onPush?.(f);
        else this.settle(f);
      }
    });
    this.ws.addEventListener('error', (event) => handlers.onError?.(String((event as { error?: unknown }).error ?? 'error')));
    this.ws.addEventListener('close', () => {
      this.closed = true;
      for (const w of this.waiting.values()) w.reject(new HubError('closed', 'the socket closed before the reply'));
      this.waiting.clear();
      handlers.onClose?.();
    });
  }

  /** Sends one command; resolves with its `result`, rejects with a HubError. */
  request<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.closed) {
        reject(new HubError('closed', 'the socket is closed'));
        return;
      }
      this.waiting.set(id, { resolve: (r) => resolve(r as T), reject });
      this.ws.send(JSON.stringify({ id, method, ...params }));
    });
  }

  close(): void {
    if (!this.closed) this.ws.close();
  }

  private settle(reply: Reply): void {
    const w = this.waiting.get(reply.id);
    if (w === undefined) return;
    this.waiting.delete(reply.id);
    if (reply.error !== undefined) w.reject(new HubError(reply.error.code, reply.error.message));
    else w.resolve(reply.result);
  }
}

/** A publication pushed live: the fields a `pub` push always has. */
export function asPublication(push: Push): Publication | undefined {
  if (push.push !== 'pub' || push.channel === undefined || push.offset === undefined || push.epoch === undefined) return undefined;
  return { channel: push.channel, offset: push.offset, epoch: push.epoch, data: push.data };
}

export type Seen = 'next' | 'gap' | 'repeat' | 'epoch';

/**
 * The in-order check of one channel: every publication must be the previous offset + 1 in the
 * same epoch. Start it from the subscribe reply's position (the stream's top when the
 * subscription began), so even the first publication is checked.
 */
export class StreamCursor {
  constructor(public position: Position) {}

  /** Moves to `p` and says how it followed the previous one. */
  see(p: Position): Seen {
    const prev = this.position;
    this.position = { offset: p.offset, epoch: p.epoch };
    if (p.epoch !== prev.epoch) return 'epoch';
    if (p.offset === prev.offset + 1) return 'next';
    return p.offset <= prev.offset ? 'repeat' : 'gap';
  }
}

/** The send time a scenario puts in each publication's data, for delivery latency. */
export function sentAt(data: unknown): number | undefined {
  const t = (data as { t?: unknown } | null)?.t;
  return typeof t === 'number' ? t : undefined;
}

function base64url(text: string): string {
  return encoding.b64encode(text, 'rawurl');
}

/** An HS256 JWT signed with `secret` (what the hub's `auth.hmacSecret` checks). */
export function signToken(claims: Record<string, unknown>, secret: string): string {
  const input = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}`;
  return `${input}.${crypto.hmac('sha256', secret, input, 'base64rawurl')}`;
}

/** A token for `user`, valid for `ttlS` seconds, with capabilities by channel pattern. */
export function userToken(user: string, caps: Record<string, string[]>, ttlS = 3600): string {
  if (target.authSecret === '') throw new Error('set -e AUTH_SECRET=<the hub auth.hmacSecret> to sign tokens');
  return signToken({ sub: user, exp: Math.floor(Date.now() / 1000) + ttlS, caps }, target.authSecret);
}

/**
 * POSTs to the hub's HTTP API (`/api/<route>`); resolves with the status and parsed body. Async,
 * so a VU that also holds a socket keeps receiving while it waits.
 */
export async function apiPost(route: string, body: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
  const res = await http.asyncRequest('POST', `${target.api}/api/${route}`, JSON.stringify(body), {
    headers: { authorization: `Bearer ${target.apiKey}`, 'content-type': 'application/json' },
  });
  const text = typeof res.body === 'string' ? res.body : '';
  try {
    return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  } catch {
    return { status: res.status, body: text }; // not JSON: a proxy's error page, say
  }
}

/**
 * How many publications the channel holds beyond `cursor` (read with `history`, which needs the
 * namespace's history and the `history` capability): run after the publishers stop, a non-zero
 * answer is publications this subscriber never got.
 */
export async function missingAtEnd(socket: HubSocket, channel: string, cursor: StreamCursor): Promise<number> {
  const top = await socket.request<Position>('history', { channel, limit: 1, reverse: true });
  if (top.epoch !== cursor.position.epoch) return 0;
  return Math.max(0, top.offset - cursor.position.offset);
}

/** `connect` params: a token for `user` when AUTH_SECRET is set (auth on), none otherwise (auth off). */
export function connectParams(user: string, caps: Record<string, string[]>): Record<string, unknown> {
  return target.authSecret === '' ? {} : { token: userToken(user, caps) };
}

/**
 * Follows one channel's live publications for a VU: the in-order check (a gap counts the
 * publications skipped), delivery latency, and the tail check at the end.
 */
export class Follower {
  cursor: StreamCursor | undefined;

  constructor(readonly channel: string) {}

  /**
   * The end of the run (publishers stopped): what the channel holds beyond the last delivery
   * counts as lost; a failed read counts as an error.
   */
  async countMissing(socket: HubSocket): Promise<void> {
    try {
      if (this.cursor !== undefined) m.lost.add(await missingAtEnd(socket, this.channel, this.cursor));
    } catch {
      m.errors.add(1);
    }
  }

  /** Start checking from the subscribe reply's position. */
  begin(position: Position): void {
    this.cursor = new StreamCursor({ offset: position.offset, epoch: position.epoch });
  }

  /** Feed it every push; returns true when it was a publication of this channel. */
  onPush(push: Push): boolean {
    const p = asPublication(push);
    if (p === undefined || p.channel !== this.channel) return false;
    m.deliveries.add(1);
    const t = sentAt(p.data);
    if (t !== undefined) m.latency.add(Date.now() - t);
    if (this.cursor === undefined) {
      m.errors.add(1); // a publication before the subscribe reply: the protocol says never
      return true;
    }
    const before = this.cursor.position.offset;
    const seen = this.cursor.see(p);
    if (seen === 'gap') m.gaps.add(p.offset - before - 1);
    else if (seen === 'epoch') m.gaps.add(1);
    else if (seen === 'repeat') m.errors.add(1);
    return true;
  }
}

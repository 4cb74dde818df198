// The SDK's public types: options, events and what the hub sends back. Structural types stand in
// for the DOM's WebSocket, so the SDK type-checks without the DOM library and accepts `ws`, the
// browser's WebSocket, or any class of the same shape.

import type { HubError } from './errors.js';

/** Members declared as methods are compared bivariantly, so `ws`'s and the DOM's handler types both fit. */
type Handler<T> = { bivarianceHack(event: T): void }['bivarianceHack'];

/** The part of a WebSocket the SDK uses. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type ClientState = 'disconnected' | 'connecting' | 'connected' | 'closed';

export interface HubClientOptions {
  /** A JWT, or a function returning one; the function is called before every (re)connect and when the token is about to expire. */
  token?: string | (() => string | Promise<string>);
  /** The WebSocket class; defaults to `globalThis.WebSocket` (browsers, Node >= 22). Pass `ws` on Node 20. */
  WebSocket?: WebSocketConstructor;
  /** Full-jitter exponential backoff between attempts (defaults 500 ms to 20 s), or false: stay disconnected until `connect()`. */
  reconnect?: false | { minDelayMs?: number; maxDelayMs?: number };
  /** A command without a reply after this long fails with code `timeout` (default 10000). */
  timeoutMs?: number;
  /** An attempt whose socket has not opened and had `connect` answered after this long is given up on and retried with backoff (default 5000). */
  handshakeTimeoutMs?: number;
  /** Shown to the server as the connection's name. */
  name?: string;
  /** @internal Random source for the backoff, so tests can pin it. */
  _random?: () => number;
}

/** Who a connection is: a presence member, or the author of a publication. */
export interface ClientInfo {
  client: string;
  user: string;
  info?: unknown;
}

/** A place in a channel's stream; a new epoch means the stream's past was lost. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface Message<T = unknown> extends StreamPosition {
  channel: string;
  data: T;
  /** The publishing connection, when a client published it. */
  from?: ClientInfo;
  /** Server time (ms since the epoch), on replayed and history publications. */
  time?: number;
}

/** The connect reply. */
export interface ConnectInfo {
  client: string;
  user: string;
  version: string;
  pingIntervalMs: number;
  /** The largest frame the hub takes (older hubs do not say). */
  maxPayloadBytes?: number;
  expiresAt?: number;
  /** @internal The server-side subscriptions' subscribe results, by channel. */
  subs?: Record<string, StreamPosition & { publications?: Message[] }>;
}

export interface DisconnectInfo {
  /** The close code the server sent, or the one the SDK closed with (0 when no socket was opened). */
  code: number;
  reason: string;
  /** Whether the SDK will reconnect by itself. */
  reconnect: boolean;
  /** When it will: the backoff delay before the next attempt. */
  delayMs?: number;
}

export interface SubscribedInfo extends StreamPosition {
  /**
   * True when every publication missed since the last position was replayed (they follow as
   * `message` events). False on the first subscribe and whenever missed publications could not be
   * replayed: load the channel's state afresh.
   */
  recovered: boolean;
}

export interface BoardEntry {
  member: string;
  score: number;
  rank: number;
}

export interface SubscribeOptions {
  /** Resume from the last position seen after a reconnect or a gap (default true). */
  recover?: boolean;
  /** Also deliver the newest n publications on the first subscribe. */
  last?: number;
  /** Receive join and leave events where the namespace has them (default true). */
  joinLeave?: boolean;
}

export interface LeaderboardOptions {
  /** How many entries `update` events carry and `top()` returns by default (default: the server's top-N). */
  top?: number;
}

export interface HistoryOptions {
  since?: StreamPosition;
  limit?: number;
  reverse?: boolean;
}

export interface HistoryResult extends StreamPosition {
  publications: Message[];
}

export interface PresenceStats {
  clients: number;
  users: number;
}

export interface ClientEvents {
  state: ClientState;
  /** A publication on a server-side subscription (one the server made: personal channel, connect answer, token, API). */
  publication: Message;
  connected: ConnectInfo;
  disconnected: DisconnectInfo;
  error: HubError;
}

export interface SubscriptionEvents {
  message: Message;
  join: ClientInfo;
  leave: ClientInfo;
  subscribed: SubscribedInfo;
  error: HubError;
}

export interface LeaderboardEvents extends SubscriptionEvents {
  /** The live top-N: first from the subscribe reply, then on every change the server pushes. */
  update: BoardEntry[];
}

// Where a Pusher app's channels live inside the hub. Each app has namespaces of its own, so apps
// never see each other's channels: `pusher_<id>` (public, private, encrypted, and the users'
// `#server-to-user-` channels), `pusherp_<id>` (presence, which tracks members), and for cache
// channels, which keep their last event, `pusherc_<id>` and `pusherpc_<id>` (presence-cache). A
// Pusher channel name maps to a hub channel name and back.

import { type NamespaceConfig, namespaceSchema, type PusherAppConfig } from '../../config/index.js';
import { CloseCodes } from '../../protocol/index.js';

/** Pusher channel names: letters, digits and `_ - = @ , . ;`, at most 164 characters. */
const PUSHER_CHANNEL = /^[A-Za-z0-9_\-=@,.;]{1,164}$/;
/** A signed-in user's id, as it appears in its `#server-to-user-<id>` channel. */
export const USER_ID = /^[A-Za-z0-9_\-=@,.;]{1,128}$/;
export const SERVER_TO_USER = '#server-to-user-';
/** Pusher keeps a cache channel's last event for 30 minutes. */
const CACHE_TTL_MS = 30 * 60 * 1000;

export type ChannelKind = 'public' | 'private' | 'encrypted' | 'presence';

export function kindOf(channel: string): ChannelKind {
  if (channel.startsWith('presence-')) return 'presence';
  if (channel.startsWith('private-encrypted-')) return 'encrypted';
  if (channel.startsWith('private-')) return 'private';
  return 'public';
}

export function validChannel(channel: unknown): channel is string {
  return typeof channel === 'string' && PUSHER_CHANNEL.test(channel);
}

/** `cache-`, `private-cache-`, `private-encrypted-cache-`, `presence-cache-`. */
export function isCache(channel: string): boolean {
  return /^(private-(encrypted-)?|presence-)?cache-/.test(channel);
}

/** The hub namespace of a Pusher channel of this app. */
export function namespaceOf(appId: string, channel: string): string {
  const presence = kindOf(channel) === 'presence';
  if (isCache(channel)) return presence ? `pusherpc_${appId}` : `pusherc_${appId}`;
  return presence ? `pusherp_${appId}` : `pusher_${appId}`;
}

/** Every hub namespace of an app, with the `:` its channels start with. */
export function appPrefixes(appId: string): string[] {
  return ['pusher', 'pusherp', 'pusherc', 'pusherpc'].map((kind) => `${kind}_${appId}:`);
}

/**
 * `;` and `#` are the Pusher characters a hub channel name cannot hold; `~` (never in a Pusher
 * name) escapes them, so the mapping stays one to one.
 */
export function hubChannel(appId: string, channel: string): string {
  return `${namespaceOf(appId, channel)}:${channel.replaceAll(';', '~s').replaceAll('#', '~h')}`;
}

/** The Pusher name of a hub channel (its namespace is one of an app's). */
export function pusherChannel(hub: string): string {
  return hub.slice(hub.indexOf(':') + 1).replaceAll('~s', ';').replaceAll('~h', '#');
}

/** The namespaces of each app, added to the configured ones. */
export function appNamespaces(apps: readonly PusherAppConfig[]): Record<string, NamespaceConfig> {
  const out: Record<string, NamespaceConfig> = {};
  for (const app of apps) {
    // Client events are publishes; Pusher's own signatures decide who may subscribe, so the
    // namespaces are open to the hub's token check (a Pusher connection carries no token).
    const presence = { presence: true, joinLeave: true };
    const history = app.history.size > 0 ? { history: app.history } : {};
    // A cache channel keeps at least its last event, for 30 minutes at least.
    const cache = {
      history: { size: Math.max(1, app.history.size), ttlMs: app.history.size > 0 && app.history.ttlMs === 0 ? 0 : Math.max(CACHE_TTL_MS, app.history.ttlMs) },
    };
    const base = { public: true, clientPublish: true, ...history };
    out[`pusher_${app.id}`] = namespaceSchema.parse(base);
    out[`pusherp_${app.id}`] = namespaceSchema.parse({ ...base, ...presence });
    out[`pusherc_${app.id}`] = namespaceSchema.parse({ ...base, ...cache });
    out[`pusherpc_${app.id}`] = namespaceSchema.parse({ ...base, ...presence, ...cache });
  }
  return out;
}

/**
 * Pusher close codes, as pusher-js reads them: 4000-4099 do not reconnect (4000 means "use TLS"),
 * 4100-4199 reconnect with backoff, 4200-4299 reconnect at once.
 */
export const PusherClose = {
  appNotFound: 4001,
  unsupportedProtocol: 4007,
  unauthorized: 4009,
  overCapacity: 4100,
  reconnect: 4200,
  pongNotReceived: 4201,
} as const;

/** The Pusher close code for one of the hub's (its ranges mean the opposite of Pusher's). */
export function pusherCloseCode(code: number): number {
  switch (code) {
    case CloseCodes.slow_consumer:
    case CloseCodes.rate_limited:
      return PusherClose.overCapacity;
    case CloseCodes.no_pong:
      return PusherClose.pongNotReceived;
    case CloseCodes.bad_frame:
    case CloseCodes.forbidden:
    case CloseCodes.unauthorized:
    case CloseCodes.kicked:
    case CloseCodes.message_too_big:
      return PusherClose.unauthorized;
    default:
      // Shutdown, a disconnect by the server, an internal error: come back at once.
      return PusherClose.reconnect;
  }
}

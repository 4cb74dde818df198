// Where a Pusher app's channels live inside the hub. Each app has two namespaces of its own, so apps
// never see each other's channels: `pusher_<id>` (public, private, encrypted) and `pusherp_<id>`
// (presence, which tracks members). A Pusher channel name maps to a hub channel name and back.

import { type NamespaceConfig, namespaceSchema, type PusherAppConfig } from '../../config/index.js';
import { CloseCodes } from '../../protocol/index.js';

/** Pusher channel names: letters, digits and `_ - = @ , . ;`, at most 164 characters. */
const PUSHER_CHANNEL = /^[A-Za-z0-9_\-=@,.;]{1,164}$/;

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

export function namespaceOf(appId: string, kind: ChannelKind): string {
  return kind === 'presence' ? `pusherp_${appId}` : `pusher_${appId}`;
}

/**
 * `;` is the one Pusher character a hub channel name cannot hold; `~` (never in a Pusher name)
 * escapes it, so the mapping stays one to one.
 */
export function hubChannel(appId: string, channel: string): string {
  return `${namespaceOf(appId, kindOf(channel))}:${channel.replaceAll(';', '~s')}`;
}

/** The Pusher name of a hub channel (its namespace is one of an app's). */
export function pusherChannel(hub: string): string {
  return hub.slice(hub.indexOf(':') + 1).replaceAll('~s', ';');
}

/** The namespaces of each app, added to the configured ones. */
export function appNamespaces(apps: readonly PusherAppConfig[]): Record<string, NamespaceConfig> {
  const out: Record<string, NamespaceConfig> = {};
  for (const app of apps) {
    // Client events are publishes; Pusher's own signatures decide who may subscribe, so the
    // namespaces are open to the hub's token check (a Pusher connection carries no token).
    out[namespaceOf(app.id, 'public')] = namespaceSchema.parse({ public: true, clientPublish: true });
    out[namespaceOf(app.id, 'presence')] = namespaceSchema.parse({
      public: true,
      clientPublish: true,
      presence: true,
      joinLeave: true,
    });
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

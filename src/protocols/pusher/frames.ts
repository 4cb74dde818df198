// Pusher wire frames, and the translation of the hub's own frames into them. `data` is a JSON
// string in most Pusher events (pusher-js parses it again); `pusher:error` carries an object.

import { pusherChannel, pusherCloseCode } from './names.js';

const str = JSON.stringify;

export function pusherEvent(event: string, data: unknown, channel?: string): string {
  const ch = channel === undefined ? '' : `,"channel":${str(channel)}`;
  return `{"event":${str(event)}${ch},"data":${str(typeof data === 'string' ? data : str(data))}}`;
}

export function connectionEstablished(socketId: string, activityTimeoutSec: number): string {
  return pusherEvent('pusher:connection_established', { socket_id: socketId, activity_timeout: activityTimeoutSec });
}

/** `code` null: an error about one message that does not end the connection. */
export function pusherError(code: number | null, message: string): string {
  return `{"event":"pusher:error","data":${str({ code, message })}}`;
}

export function subscriptionError(channel: string, type: string, error: string, status: number): string {
  return `{"event":"pusher:subscription_error","channel":${str(channel)},"data":${str({ type, error, status })}}`;
}

export interface PresenceMember {
  user_id: string;
  user_info?: unknown;
}

/** A hub publication's data as a Pusher event: `{event, data}` objects keep their event name. */
export function eventOf(data: unknown): { event: string; data: unknown } {
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
    const d = data as Record<string, unknown>;
    if (typeof d.event === 'string' && 'data' in d) return { event: d.event, data: d.data };
  }
  return { event: 'message', data };
}

function excluded(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const id = (data as { socket_id?: unknown }).socket_id;
  return typeof id === 'string' ? id : undefined;
}

/** A kept event (a cache channel's last, or one a resuming client missed), to one subscriber. */
export function keptEvent(channel: string, stored: unknown, user: string | undefined, position?: { offset: number; epoch: string }): string {
  const { event, data } = eventOf(stored);
  const userId = user !== undefined && user !== '' && channel.startsWith('presence-') ? `,"user_id":${str(user)}` : '';
  const at = position === undefined ? '' : positionField(position.offset, position.epoch);
  return `{"event":${str(event)},"channel":${str(channel)},"data":${str(data)}${userId}${at}}`;
}

/**
 * Where an event sits in its channel's history: a field pusher-js ignores, from which a client
 * that knows it can resume (`hubbub_since` on subscribe).
 */
function positionField(offset: number, epoch: string): string {
  return `,"hubbub":{"offset":${offset},"epoch":${str(epoch)}}`;
}

export function cacheMiss(channel: string): string {
  return `{"event":"pusher:cache_miss","channel":${str(channel)}}`;
}

/** What the hub says, parsed once per frame (only the fields a translation reads). */
interface NativeFrame {
  push?: string;
  channel?: string;
  offset?: number;
  epoch?: string;
  data?: unknown;
  from?: { client?: string; user?: string };
  member?: { client?: string; user?: string; info?: unknown };
  code?: number;
  reason?: string;
}

export function parseNative(frame: string): NativeFrame | undefined {
  try {
    const parsed: unknown = JSON.parse(frame);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as NativeFrame) : undefined;
  } catch {
    return undefined;
  }
}

/** A publication, as every Pusher subscriber receives it; `sender` is excluded (Pusher does not echo). */
export function publicationEvent(native: NativeFrame, positions: boolean): { frame: string; sender: string | undefined } | undefined {
  if (native.push !== 'pub' || native.channel === undefined) return undefined;
  const channel = pusherChannel(native.channel);
  const { event, data } = eventOf(native.data);
  // Client events arrive with the publisher's data untouched; server events with their string.
  const payload = str(data);
  const user = native.from?.user;
  const userId = user !== undefined && user !== '' && channel.startsWith('presence-') ? `,"user_id":${str(user)}` : '';
  // A backend's event may name a socket to leave out (`socket_id`), as a client's leaves out its sender.
  const sender = native.from?.client ?? excluded(native.data);
  const at = positions && typeof native.offset === 'number' ? positionField(native.offset, native.epoch ?? '') : '';
  return { frame: `{"event":${str(event)},"channel":${str(channel)},"data":${payload}${userId}${at}}`, sender };
}

/**
 * A frame the hub writes to one session, in Pusher's shape: publications (recovery, or waiting
 * for the subscription to go live), the reason before a close. Undefined: nothing to send.
 */
export function translateDirect(frame: string, self: string, positions: boolean): string | undefined {
  const native = parseNative(frame);
  if (native === undefined) return undefined;
  switch (native.push) {
    case 'pub': {
      const event = publicationEvent(native, positions);
      return event === undefined || event.sender === self ? undefined : event.frame;
    }
    case 'disconnect':
      return pusherError(pusherCloseCode(native.code ?? 0), native.reason ?? 'disconnected');
    default:
      return undefined;
  }
}

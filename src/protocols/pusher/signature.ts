// Pusher's channel authorization: the app's auth endpoint signs `socket_id:channel` (and, for
// presence, `:channel_data`) with the app secret; the client sends `key:hex(HMAC-SHA256)`.

import { createHmac, timingSafeEqual } from 'node:crypto';

export function sign(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

/** Compares in constant time whatever the input (a wrong length is just false). */
export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether `auth` is the app's signature of this subscription. */
export function validChannelAuth(
  app: { key: string; secret: string },
  auth: unknown,
  socketId: string,
  channel: string,
  channelData?: string,
): boolean {
  if (typeof auth !== 'string' || auth.length > 256) return false;
  const text = channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
  return sameText(auth, `${app.key}:${sign(app.secret, text)}`);
}

// The shape of every HTTP API input. Bodies are strict objects (an unknown field is an error,
// not silently ignored); query parameters arrive as strings and are converted here. Limits match
// the WebSocket commands' (src/protocol/commands.ts) so both doors accept the same values. Every
// string that is stored or becomes a key must be valid Unicode: engines disagree on lone surrogates.

import { z } from 'zod';
import type { JsonValue } from '../engine/types.js';
import { jsonDataProblem, wellFormedString } from '../protocol/validate.js';

/** Checked for format and namespace by the hub (`invalid_channel`, `unknown_namespace`). */
const channel = wellFormedString().max(240);
const member = wellFormedString().min(1).max(256);
const idempotencyKey = wellFormedString().min(1).max(128);

/**
 * Publication data: the very value JSON.parse made, never a copy (zod's `z.json()` rebuilds it,
 * dropping `__proto__` keys, and recurses, so deep nesting overflowed the stack).
 */
const data = (maxDepth: number) =>
  z.custom<JsonValue>().superRefine((value, ctx) => {
    const problem = jsonDataProblem(value, maxDepth);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,16}$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** A user as tokens and the connect hook name it. */
const user = wellFormedString().min(1).max(256);

/** `channel`, or `user` for that user's personal channel: exactly one. */
export const publishBody = (maxDepth: number) =>
  z
    .strictObject({ channel: channel.optional(), user: user.optional(), data: data(maxDepth), idempotencyKey: idempotencyKey.optional() })
    .refine((b) => (b.channel === undefined) !== (b.user === undefined), { message: 'give either channel or user', path: ['channel'] });

/** Server-side subscription of every connection of `user`, or of one `client`: exactly one. */
export const serverSubscriptionBody = z
  .strictObject({ channel, user: user.optional(), client: wellFormedString().min(1).max(64).optional() })
  .refine((b) => (b.user === undefined) !== (b.client === undefined), { message: 'give either user or client', path: ['user'] });

export const broadcastBody = (maxChannels: number, maxDepth: number) =>
  z.strictObject({
    channels: z.array(channel).min(1).max(maxChannels),
    data: data(maxDepth),
    idempotencyKey: idempotencyKey.optional(),
  });

export const historyQuery = z.strictObject({
  channel,
  since_offset: wholeNumber(0, Number.MAX_SAFE_INTEGER).optional(),
  since_epoch: wellFormedString().min(1).max(64).optional(),
  limit: wholeNumber(0, 1000).optional(),
  reverse: flag.optional(),
});

export const channelQuery = z.strictObject({ channel });

export const incrBody = z.strictObject({ channel, member, by: z.number() });

export const setBody = z.strictObject({
  channel,
  member,
  score: z.number(),
  mode: z.enum(['always', 'gt', 'lt', 'nx', 'xx']).optional(),
});

export const removeBody = z.strictObject({ channel, member });

export const topQuery = z.strictObject({
  channel,
  limit: wholeNumber(0, 1000).optional(),
  offset: wholeNumber(0, 1_000_000_000).optional(),
});

export const rankQuery = z.strictObject({ channel, member });

export const aroundQuery = z.strictObject({ channel, member, n: wholeNumber(0, 100).optional() });

export const disconnectBody = z.strictObject({
  /** '' names every anonymous session. */
  user: wellFormedString().max(256),
  reconnect: z.boolean().default(false),
  /** A close reason must fit in 123 bytes. */
  reason: wellFormedString().max(100).optional(),
});

export const channelsQuery = z.strictObject({
  limit: wholeNumber(1, 1000).optional(),
  cursor: wellFormedString().max(1024).optional(),
});

export const emptyQuery = z.strictObject({});

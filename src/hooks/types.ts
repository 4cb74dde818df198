// What the hub asks the application's backend, and what it accepts back. The same shapes serve
// HTTP hooks (JSON bodies) and in-process hooks (plain functions): one `Hooks` interface. Answers
// are checked with zod whichever way they came, since a backend's answer is input like any other.

import { z } from 'zod';
import { capsSchema } from '../config/index.js';
import type { JsonValue } from '../engine/types.js';

export const hookNames = ['connect', 'refresh', 'subscribe', 'publish', 'rpc'] as const;
export type HookName = (typeof hookNames)[number];

/** Which connection is asking. */
export interface HookClient {
  /** The connection's id (as presence and publications show it). */
  client: string;
  /** Its user: '' until the connect hook (or a token) named one. */
  user: string;
}

export interface ConnectHookRequest {
  client: string;
  /** The client's address (behind trusted proxies: the one X-Forwarded-For names). */
  remoteAddress: string;
  /** The `name` the client gave in `connect`, if any. */
  name?: string;
  /** The token the client gave, if any (only with `hooks.connect.always`). */
  token?: string;
}

export interface RefreshHookRequest extends HookClient {
  /** When the connection expires now, ms since the epoch. */
  expiresAt: number;
}

export interface SubscribeHookRequest extends HookClient {
  channel: string;
  /** The connection's `info` (from its connect answer or token). */
  info?: JsonValue;
}

export interface PublishHookRequest extends HookClient {
  channel: string;
  data: JsonValue;
}

export interface RpcHookRequest extends HookClient {
  method: string;
  data: JsonValue;
}

/** What the hook sees besides the request. */
export interface HookContext {
  /** The upgrade request's headers named in the hook's `forwardHeaders` (lower-case names). */
  headers: Readonly<Record<string, string>>;
  /** Aborted when the hub stops waiting (the hook's timeout): stop working on it then. */
  signal: AbortSignal;
}

/** Codes a backend may refuse with; the client receives the code and the backend's message. */
export const refusalCodes = ['forbidden', 'unauthorized', 'bad_request', 'not_found', 'limit_exceeded', 'rate_limited'] as const;

const refusal = z.strictObject({
  error: z.strictObject({
    code: z.enum(refusalCodes).optional(),
    message: z.string().min(1).max(1024),
  }),
});

const jsonValue = z.json();
/** Milliseconds since the epoch, within reason (a backend sending seconds is caught by the min). */
const instant = z.number().int().min(1_000_000_000_000).max(8_640_000_000_000_000);

function answer<T extends z.ZodType>(result: T) {
  return z.union([z.strictObject({ result }), refusal]);
}

export const connectAnswer = answer(
  z.strictObject({
    user: z.string().max(256),
    info: jsonValue.optional(),
    caps: capsSchema.optional(),
    expiresAt: instant.optional(),
    /** Channels the hub subscribes the connection to on the server side. */
    channels: z.array(z.string().max(240)).max(1000).optional(),
  }),
);
export const refreshAnswer = answer(
  z.strictObject({ expiresAt: instant.optional(), caps: capsSchema.optional(), info: jsonValue.optional() }),
);
export const subscribeAnswer = answer(z.strictObject({ info: jsonValue.optional() }));
export const publishAnswer = answer(z.strictObject({ data: jsonValue.optional() }));
export const rpcAnswer = answer(z.strictObject({ data: jsonValue.optional() }));

export type ConnectHookAnswer = z.infer<typeof connectAnswer>;
export type RefreshHookAnswer = z.infer<typeof refreshAnswer>;
export type SubscribeHookAnswer = z.infer<typeof subscribeAnswer>;
export type PublishHookAnswer = z.infer<typeof publishAnswer>;
export type RpcHookAnswer = z.infer<typeof rpcAnswer>;

export const answerSchemas = {
  connect: connectAnswer,
  refresh: refreshAnswer,
  subscribe: subscribeAnswer,
  publish: publishAnswer,
  rpc: rpcAnswer,
} as const;

type MaybePromise<T> = T | Promise<T>;

/**
 * The application's backend, as the hub calls it. Each hook is optional; the hub calls one only
 * where the configuration turns it on. HTTP hooks (`HttpHooks`) and in-process functions (passed
 * to `startHub(config, { hooks })`) have this same shape.
 */
export interface Hooks {
  connect?(req: ConnectHookRequest, ctx: HookContext): MaybePromise<ConnectHookAnswer>;
  refresh?(req: RefreshHookRequest, ctx: HookContext): MaybePromise<RefreshHookAnswer>;
  subscribe?(req: SubscribeHookRequest, ctx: HookContext): MaybePromise<SubscribeHookAnswer>;
  publish?(req: PublishHookRequest, ctx: HookContext): MaybePromise<PublishHookAnswer>;
  rpc?(req: RpcHookRequest, ctx: HookContext): MaybePromise<RpcHookAnswer>;
}

export interface HookRequests {
  connect: ConnectHookRequest;
  refresh: RefreshHookRequest;
  subscribe: SubscribeHookRequest;
  publish: PublishHookRequest;
  rpc: RpcHookRequest;
}

export interface HookAnswers {
  connect: ConnectHookAnswer;
  refresh: RefreshHookAnswer;
  subscribe: SubscribeHookAnswer;
  publish: PublishHookAnswer;
  rpc: RpcHookAnswer;
}

/** The `result` part of an accepting answer. */
export type HookResult<H extends HookName> = Extract<HookAnswers[H], { result: unknown }>['result'];

// Client frames into typed commands. A frame is one JSON command or an array of them (batching);
// each command is checked by zod, so the hub only ever sees valid, typed commands, and anything
// else becomes a coded error reply (or, when nothing can be replied to, a close with a code).

import { z } from 'zod';
import { CloseCodes, HubError } from './errors.js';
import { DEFAULT_MAX_DEPTH, jsonDataProblem, wellFormedString } from './validate.js';

/** `namespace:name`: namespace [a-z0-9_-]{1,32}; name up to 200 of [A-Za-z0-9_.=@/!,~-]. */
const CHANNEL = /^([a-z0-9_-]{1,32}):([A-Za-z0-9_.=@/!,~-]{1,200})$/;

export function parseChannel(channel: string): { namespace: string; name: string } {
  const m = CHANNEL.exec(channel);
  if (m === null) {
    throw new HubError(
      'invalid_channel',
      `channel ${JSON.stringify(channel.slice(0, 64))} must look like namespace:name (namespace of a-z 0-9 _ -, ` +
        'name of up to 200 letters, digits and _ . = @ / ! , ~ -)',
    );
  }
  return { namespace: m[1] as string, name: m[2] as string };
}

const channel = z.string().max(240);
const count = (max: number) => z.number().int().min(0).max(max);
const position = z.strictObject({ offset: z.number().int().min(0), epoch: z.string().max(64) });
/** Checked after the schema, without recursion or copying: see `jsonDataProblem`. */
const jsonData = z.unknown();
const member = wellFormedString().min(1).max(256);

const commandSchemas = {
  connect: z.strictObject({
    name: wellFormedString().max(64).optional(),
    token: z.string().min(1).max(8192).optional(),
    /** The last position seen on each server-side subscription, to recover them from. */
    subs: z
      .record(channel, position)
      .refine((r) => Object.keys(r).length <= 1000, 'at most 1000 channels')
      .optional(),
  }),
  /** A fresh token for this connection before the current one expires (after an `expiring` push). */
  refresh: z.strictObject({ token: z.string().min(1).max(8192) }),
  subscribe: z.strictObject({
    channel,
    /** Resume from here: every publication after it, or `recovered: false`. */
    since: position.optional(),
    /** Also deliver the newest N publications (ignored when `since` is given). */
    last: count(1000).optional(),
    /** Receive join/leave pushes where the namespace has them (default true). */
    joinLeave: z.boolean().optional(),
  }),
  unsubscribe: z.strictObject({ channel }),
  publish: z.strictObject({ channel, data: jsonData, idempotencyKey: wellFormedString().min(1).max(128).optional() }),
  history: z.strictObject({
    channel,
    since: position.optional(),
    limit: count(1000).optional(),
    reverse: z.boolean().optional(),
  }),
  presence: z.strictObject({ channel }),
  presence_stats: z.strictObject({ channel }),
  top: z.strictObject({ channel, limit: count(1000).optional(), offset: count(1_000_000_000).optional() }),
  rank: z.strictObject({ channel, member }),
  around: z.strictObject({ channel, member, n: count(100).optional() }),
  incr: z.strictObject({ channel, member, by: z.number() }),
  ping: z.strictObject({}),
  /** A call answered by the application's backend (the rpc hook). */
  rpc: z.strictObject({ method_name: wellFormedString().min(1).max(256), data: jsonData.optional() }),
} as const;

export type Method = keyof typeof commandSchemas;
export type Command = { [M in Method]: { id: number; method: M } & z.infer<(typeof commandSchemas)[M]> }[Method];
export type CommandOf<M extends Method> = Extract<Command, { method: M }>;

export const methods = Object.keys(commandSchemas) as Method[];

function isMethod(m: unknown): m is Method {
  return typeof m === 'string' && Object.hasOwn(commandSchemas, m);
}

/** A command that could be replied to but not accepted: its id and the coded error. */
export interface Rejected {
  id: number;
  error: HubError;
}

export type ParsedFrame =
  | { kind: 'commands'; batch: boolean; items: (Command | Rejected)[] }
  | { kind: 'close'; code: number; reason: string };

const MAX_BATCH = 100;

function badFrame(reason: string): ParsedFrame {
  return { kind: 'close', code: CloseCodes.bad_frame, reason };
}

function parseCommand(raw: unknown, maxDepth: number): Command | Rejected | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'each command must be a JSON object';
  const { id, method, ...rest } = raw as Record<string, unknown>;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    return 'each command needs an "id", a positive integer, so that its reply can be matched';
  }
  if (!isMethod(method)) {
    return {
      id,
      error: new HubError('unknown_method', `unknown method ${JSON.stringify(method)}; use one of ${methods.join(', ')}`),
    };
  }
  const result = commandSchemas[method].safeParse(rest);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { id, error: new HubError('bad_request', `${method}: ${where}${issue?.message ?? 'invalid'}`) };
  }
  if (method === 'publish' || method === 'rpc') {
    const data = (result.data as { data?: unknown }).data;
    // rpc data is optional (null is sent); publish data is required.
    const problem = method === 'rpc' && data === undefined ? undefined : jsonDataProblem(data, maxDepth);
    if (problem !== undefined) return { id, error: new HubError('bad_request', `${method}: data ${problem}`) };
  }
  return { id, method, ...result.data } as Command;
}

/** Parses one text frame; never throws (whatever the text: see test/unit/protocol). */
export function parseFrame(text: string, maxDepth = DEFAULT_MAX_DEPTH): ParsedFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return badFrame('frame is not valid JSON');
  }
  const batch = Array.isArray(raw);
  const list: unknown[] = batch ? (raw as unknown[]) : [raw];
  if (list.length === 0 || list.length > MAX_BATCH) return badFrame(`a batch holds 1 to ${MAX_BATCH} commands`);
  const items: (Command | Rejected)[] = [];
  for (const entry of list) {
    const parsed = parseCommand(entry, maxDepth);
    if (typeof parsed === 'string') return badFrame(parsed);
    items.push(parsed);
  }
  return { kind: 'commands', batch, items };
}

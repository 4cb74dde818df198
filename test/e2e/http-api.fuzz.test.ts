// Fuzzes every HTTP route of a live hub (memory engine, both transports) with hostile input:
// shaped bodies whose fields have every wrong type, mutated and random bytes, deep nesting, huge
// numbers, prototype keys, garbage query strings. Whatever comes in, the hub answers below 500,
// failures as JSON with a known code, and it keeps serving: a control subscriber connected for
// the whole run receives every publication the fuzzer got acknowledged, once each, in order.

import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQueryString } from '../../src/api/input.js';
import { apiRoutes } from '../../src/api/routes.js';
import { type ConfigInput, parseConfig } from '../../src/config/index.js';
import { ErrorCodes, isHubError } from '../../src/protocol/index.js';
import { HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub, type TransportName } from '../helpers/hub-server.js';

const KEY = 'fuzz-key-0123456789abcdef';
const SECRET = 'http-api-fuzz-secret-0123456789abcdef';
const CONTROL = 'chat:control';
const CONTROL_USER = 'control-subscriber';
/** Users the fuzzer may disconnect: each has a socket open when the run starts. */
const VICTIMS = ['v1', 'v2', 'v3'];
const FUZZ_RUNS = 2000;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

const namespaces: ConfigInput['namespaces'] = {
  chat: { history: { size: 1000, ttlMs: 0 }, presence: true },
  quiet: {},
  scores: { leaderboard: { top: 3, updateIntervalMs: 20 } },
  capped: { leaderboard: { maxMembers: 2 } },
};

const config: ConfigInput = {
  namespaces,
  api: { keys: [KEY], rateLimit: { rate: 1_000_000, burst: 1_000_000 }, maxBroadcastChannels: 8 },
  auth: { hmacSecret: SECRET },
};

// ---------------------------------------------------------------------------------------------
// Generators. Field values are JSON text, so duplicate and `__proto__` keys survive as sent.

const hex = (b: number) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`;

/** Percent-encodes as a browser would, except that lone surrogates go out as their WTF-8 bytes. */
function percentEncode(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp >= 0xd800 && cp <= 0xdfff) out += [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)].map(hex).join('');
    else out += encodeURIComponent(ch);
  }
  return out;
}

/** Around the depth limit, and deep enough to overflow any recursive parser or encoder. */
const depth = fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constantFrom(63, 64, 65, 1000, 1001, 5000), fc.integer({ min: 1, max: 6000 }));
const nested = (open: string, close: string, inner: string) =>
  depth.map((n) => `${open.repeat(n)}${inner}${close.repeat(n)}`);
const deepText = fc.oneof(nested('[', ']', '1'), nested('{"a":', '}', '1'), nested('[{"x":', '}]', 'null'), nested('{"__proto__":', '}', '[]'));

const trickyStrings = fc.constantFrom(
  '',
  '\ud800',
  '\udfff',
  'a\udc00b',
  '\ufffd',
  '\u0000',
  '\ufeffx',
  '__proto__',
  'constructor',
  'toString',
  'x'.repeat(129),
  'x'.repeat(257),
  'é'.repeat(100),
  '😀'.repeat(60),
);

const channelName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('chat:a', 'chat:b', CONTROL, 'quiet:x', 'scores:g', 'capped:c', 'nope:x') },
  { weight: 2, arbitrary: fc.stringMatching(/^(chat|scores|capped|quiet|[a-z]{1,5}):[A-Za-z0-9_.=@/!,~-]{1,12}$/) },
  { weight: 1, arbitrary: fc.oneof(trickyStrings, fc.string(), fc.constant(`chat:${'x'.repeat(300)}`)) },
);

const anyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: trickyStrings },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => 'y'.repeat(n)) },
);

/** A JSON text of any shape, hostile ones well represented. */
const anyValueText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: anyString.map((s) => JSON.stringify(s)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '1e400',
      '-1e400',
      '1e-400',
      '-0',
      '123456789012345678901234567890',
      '9007199254740993',
      '1.7976931348623157e308',
      'true',
      'null',
      '[]',
      '{}',
      '"\\ud800"',
      '{"__proto__":{"polluted":1}}',
      '{"constructor":{"prototype":{"polluted":1}}}',
      '{"toString":1,"valueOf":2,"hasOwnProperty":3}',
    ),
  },
  { weight: 1, arbitrary: deepText },
  { weight: 1, arbitrary: fc.double().map((d) => (Number.isFinite(d) ? JSON.stringify(d) : '0')) },
);

/** A field: mostly a plausible value, else anything at all. */
const field = (good: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: anyValueText });

const str = (a: fc.Arbitrary<string>) => a.map((s) => JSON.stringify(s));
const goodMember = fc.oneof(fc.constantFrom('alice', 'bob', 'carol'), fc.string({ minLength: 1, maxLength: 8 }));
const idemKey = fc.constantFrom('k1', 'k2', 'k3', 'k1:chat:control');
const wholeText = (max: number) => fc.integer({ min: 0, max }).map(String);

interface RouteSpec {
  method: 'GET' | 'POST';
  /** Each field's value as JSON text (POST) or query value (GET, JSON strings are unquoted). */
  fields: Record<string, fc.Arbitrary<string>>;
}

const dataText = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: deepText },
  { weight: 1, arbitrary: anyValueText },
);

/** Every route in src/api/routes.ts (the test checks the lists match) with the fields it takes. */
const ROUTES: Record<string, RouteSpec> = {
  '/api/publish': {
    method: 'POST',
    fields: { channel: field(str(channelName)), user: field(str(goodMember)), data: dataText, idempotencyKey: field(str(idemKey)) },
  },
  '/api/subscribe': {
    method: 'POST',
    fields: { channel: field(str(channelName)), user: field(str(fc.constantFrom(...VICTIMS, CONTROL_USER))), client: field(str(fc.string({ maxLength: 8 }))) },
  },
  '/api/unsubscribe': {
    method: 'POST',
    fields: { channel: field(str(channelName)), user: field(str(fc.constantFrom(...VICTIMS, CONTROL_USER))), client: field(str(fc.string({ maxLength: 8 }))) },
  },
  '/api/broadcast': {
    method: 'POST',
    fields: {
      channels: field(fc.array(channelName, { maxLength: 10 }).map((c) => JSON.stringify(c))),
      data: dataText,
      idempotencyKey: field(str(idemKey)),
    },
  },
  '/api/history': {
    method: 'GET',
    fields: {
      channel: field(str(channelName)),
      since_offset: field(str(wholeText(50))),
      since_epoch: field(str(fc.string({ maxLength: 10 }))),
      limit: field(str(wholeText(2000))),
      reverse: field(str(fc.constantFrom('true', 'false', '1', '0', 'yes'))),
    },
  },
  '/api/presence': { method: 'GET', fields: { channel: field(str(channelName)) } },
  '/api/presence-stats': { method: 'GET', fields: { channel: field(str(channelName)) } },
  '/api/leaderboard/incr': {
    method: 'POST',
    fields: { channel: field(str(channelName)), member: field(str(goodMember)), by: field(fc.double({ noNaN: true }).map((d) => (Number.isFinite(d) ? JSON.stringify(d) : '1e400'))) },
  },
  '/api/leaderboard/set': {
    method: 'POST',
    fields: {
      channel: field(str(channelName)),
      member: field(str(goodMember)),
      score: field(fc.integer({ min: -1000, max: 1000 }).map(String)),
      mode: field(str(fc.constantFrom('always', 'gt', 'lt', 'nx', 'xx', 'sometimes'))),
    },
  },
  '/api/leaderboard/remove': { method: 'POST', fields: { channel: field(str(channelName)), member: field(str(goodMember)) } },
  '/api/leaderboard/top': {
    method: 'GET',
    fields: { channel: field(str(channelName)), limit: field(str(wholeText(2000))), offset: field(str(wholeText(20))) },
  },
  '/api/leaderboard/rank': { method: 'GET', fields: { channel: field(str(channelName)), member: field(str(goodMember)) } },
  '/api/leaderboard/around': {
    method: 'GET',
    fields: { channel: field(str(channelName)), member: field(str(goodMember)), n: field(str(wholeText(200))) },
  },
  '/api/disconnect': {
    method: 'POST',
    fields: {
      user: field(str(fc.oneof(fc.constantFrom(...VICTIMS, ''), fc.string({ maxLength: 8 })))),
      reconnect: field(fc.constantFrom('true', 'false')),
      reason: field(str(fc.oneof(fc.string({ maxLength: 20 }), fc.constant('é'.repeat(100))))),
    },
  },
  '/api/channels': {
    method: 'GET',
    fields: {
      limit: field(str(wholeText(1500))),
      cursor: field(str(channelName.map((c) => Buffer.from(c, 'utf8').toString('base64url')))),
    },
  },
  '/api/stats': { method: 'GET', fields: {} },
  '/api/console/ticket': { method: 'POST', fields: {} },
};

const OTHER_PATHS = ['/health', '/ready', '/metrics', '/hubbub.js', '/', '/api/', '/api', '/api//publish', '/api/publish/', '/API/publish', '/api/teleport', '/api/%70ublish', '/api/leaderboard', '/health/', '/metrics%00'];
const EXTRA_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'colour', ''];

interface FuzzRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** Entries to `{...}` text: keys as given, so duplicates and `__proto__` reach the hub as sent. */
const objectText = (entries: readonly (readonly [string, string])[]) =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/** A route's fields, each present or not, in any order, with extra keys now and then. */
function entriesFor(spec: RouteSpec): fc.Arbitrary<[string, string][]> {
  const present = Object.entries(spec.fields).map(([name, value]) =>
    fc.option(value.map((v): [string, string] => [name, v]), { freq: 6, nil: undefined }),
  );
  const extra = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...EXTRA_KEYS), fc.string({ maxLength: 6 })), anyValueText), { maxLength: 2 });
  return fc.tuple(fc.tuple(...present), fc.option(extra, { freq: 4, nil: undefined }), fc.boolean()).map(([fields, more, reverse]) => {
    const out = fields.filter((f): f is [string, string] => f !== undefined);
    if (reverse) out.reverse();
    return more === undefined ? out : [...out, ...more];
  });
}

/** The query value of a JSON text field: strings unquoted, anything else as its text. */
function queryValue(text: string): string {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'string' ? v : text;
  } catch {
    return text;
  }
}

const garbageQuery = fc
  .array(
    fc.oneof(
      fc.constantFrom('&', '=', '+', '%', '%%', '%2', '%zz', '%00', '&&', '==', 'channel=', 'member=', 'limit=', 'channel=chat:a', '%ED%A0%80', '%C0%AF', '%EF%BB%BF'),
      fc.stringMatching(/^[A-Za-z0-9._~!$'()*,;:@/?-]{0,10}$/),
      fc.uint8Array({ maxLength: 6 }).map((bytes) => [...bytes].map(hex).join('')),
      fc.integer({ min: 200, max: 2500 }).map((n) => `v=${'x'.repeat(n)}`),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

function shapedQuery(spec: RouteSpec): fc.Arbitrary<string> {
  return fc.tuple(entriesFor(spec), fc.boolean()).map(([entries, repeatOne]) => {
    const pairs = entries.map(([k, v]) => `${percentEncode(k)}=${percentEncode(queryValue(v))}`);
    if (repeatOne && pairs.length > 0) pairs.push(pairs[0] as string);
    // Stays well under what the transports accept as a request line (uWS: 4 KiB of headers).
    return pairs.join('&').slice(0, 3000);
  });
}

/** Byte-level damage to a valid text: flips, cuts, invalid UTF-8, a byte added. */
const mutate = (text: string) =>
  fc
    .array(
      fc.tuple(fc.constantFrom('flip', 'cut', 'insert', 'truncate', 'utf8'), fc.nat(), fc.integer({ min: 0, max: 255 })),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) => {
      let bytes = Buffer.from(text, 'utf8');
      for (const [op, at, byte] of edits) {
        const i = bytes.length === 0 ? 0 : at % bytes.length;
        if (op === 'flip' && bytes.length > 0) bytes[i] = byte;
        else if (op === 'cut') bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
        else if (op === 'insert') bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]);
        else if (op === 'truncate') bytes = bytes.subarray(0, i);
        else bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([0xed, 0xa0, 0x80, 0xff, 0xc0]), bytes.subarray(i)]);
      }
      return bytes;
    });

function bodyFor(spec: RouteSpec): fc.Arbitrary<Buffer> {
  const shaped = entriesFor(spec).map(objectText);
  return fc.oneof(
    { weight: 6, arbitrary: shaped.map((t) => Buffer.from(t, 'utf8')) },
    { weight: 2, arbitrary: shaped.chain(mutate) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.oneof(fc.json(), anyValueText).map((t) => Buffer.from(t, 'utf8')) },
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  );
}

const authorization = fc.oneof(
  { weight: 12, arbitrary: fc.constant<string | undefined>(`Bearer ${KEY}`) },
  { weight: 1, arbitrary: fc.constantFrom<string | undefined>(undefined, 'Bearer wrong-key-0123456789', `Basic ${KEY}`, `Bearer ${KEY} x`, 'Bearer') },
);
const contentType = fc.constantFrom<string | undefined>(
  'application/json',
  'application/json',
  undefined,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=latin1',
);
const otherMethod = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');

const routeRequest: fc.Arbitrary<FuzzRequest> = fc
  .constantFrom(...Object.keys(ROUTES))
  .chain((path) => {
    const spec = ROUTES[path] as RouteSpec;
    const get = spec.method === 'GET';
    return fc.record({
      method: fc.oneof({ weight: 8, arbitrary: fc.constant<string>(spec.method) }, { weight: 1, arbitrary: otherMethod }),
      path: fc.constant(path),
      query: get
        ? fc.oneof({ weight: 5, arbitrary: shapedQuery(spec) }, { weight: 1, arbitrary: garbageQuery })
        : fc.oneof({ weight: 8, arbitrary: fc.constant('') }, { weight: 1, arbitrary: garbageQuery }),
      headers: fc.record({ authorization, 'content-type': contentType }, { requiredKeys: ['authorization'] }).map(definedHeaders),
      body: get ? fc.oneof({ weight: 6, arbitrary: fc.constant(Buffer.alloc(0)) }, { weight: 1, arbitrary: bodyFor(spec) }) : bodyFor(spec),
    });
  });

const otherRequest: fc.Arbitrary<FuzzRequest> = fc.record({
  method: otherMethod,
  path: fc.oneof(fc.constantFrom(...OTHER_PATHS), fc.stringMatching(/^\/[A-Za-z0-9._~!$'()*,;:@/%-]{0,30}$/)),
  query: fc.oneof(fc.constant(''), garbageQuery),
  headers: fc.record({ authorization, 'content-type': contentType }, { requiredKeys: ['authorization'] }).map(definedHeaders),
  body: fc.oneof(fc.constant(Buffer.alloc(0)), fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b))),
});

/** A publication that must be accepted: the control subscriber must see each one. */
const controlPublish: fc.Arbitrary<FuzzRequest> = fc
  .record({
    broadcast: fc.boolean(),
    data: fc.jsonValue({ maxDepth: 4 }),
    key: fc.option(idemKey, { freq: 4, nil: undefined }),
  })
  .map(({ broadcast, data, key }) => {
    const entries: [string, string][] = broadcast
      ? [['channels', JSON.stringify([CONTROL, 'chat:b', 'nope:x'])]]
      : [['channel', JSON.stringify(CONTROL)]];
    entries.push(['data', JSON.stringify(data)]);
    if (key !== undefined) entries.push(['idempotencyKey', JSON.stringify(key)]);
    return {
      method: 'POST',
      path: broadcast ? '/api/broadcast' : '/api/publish',
      query: '',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: Buffer.from(objectText(entries), 'utf8'),
    };
  });

const anyRequest = fc.oneof(
  { weight: 12, arbitrary: routeRequest },
  { weight: 2, arbitrary: otherRequest },
  { weight: 2, arbitrary: controlPublish },
);

function definedHeaders(h: { authorization?: string | undefined; 'content-type'?: string | undefined }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = v;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The run.

interface Reply {
  status: number;
  text: string;
}

function send(base: URL, agent: Agent, r: FuzzRequest): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: base.hostname,
        port: base.port,
        agent,
        method: r.method,
        path: r.query === '' ? r.path : `${r.path}?${r.query}`,
        headers: { ...r.headers, 'content-length': String(r.body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

const describeRequest = (r: FuzzRequest) =>
  `${r.method} ${r.path}${r.query === '' ? '' : `?${r.query.slice(0, 300)}`} headers=${JSON.stringify(r.headers)} body(${r.body.length})=${JSON.stringify(r.body.subarray(0, 300).toString('latin1'))}`;

/** What is wrong with an answer, or undefined. */
function answerProblem(r: FuzzRequest, reply: Reply): string | undefined {
  if (reply.status >= 500) return `status ${reply.status}: ${reply.text.slice(0, 300)}`;
  // A HEAD answer has no body: one that had would corrupt the keep-alive stream (send fails).
  if (r.method === 'HEAD') return reply.text === '' ? undefined : `HEAD answered with a body: ${reply.text.slice(0, 100)}`;
  let body: unknown;
  try {
    body = JSON.parse(reply.text);
  } catch {
    if (reply.status >= 400 || r.path.startsWith('/api/')) return `status ${reply.status} with a body that is not JSON: ${reply.text.slice(0, 200)}`;
    return undefined;
  }
  if (reply.status >= 400) {
    const code = (body as { error?: { code?: unknown } }).error?.code;
    if (typeof code !== 'string' || !Object.hasOwn(ErrorCodes, code)) return `status ${reply.status} without a known error.code: ${reply.text.slice(0, 200)}`;
    const expected = ErrorCodes[code as keyof typeof ErrorCodes].status;
    if (reply.status !== expected && reply.status !== 405) return `status ${reply.status} for code ${code} (its status is ${expected})`;
  }
  const results = (body as { results?: unknown }).results;
  if (Array.isArray(results) && results.some((x) => (x as { error?: { code?: unknown } }).error?.code === 'internal')) {
    return `a broadcast channel failed with internal: ${reply.text.slice(0, 300)}`;
  }
  return undefined;
}

/** Offsets of `chat:control` the hub acknowledged, with the data of the request that made each. */
function recordAcknowledged(r: FuzzRequest, reply: Reply, ledger: Map<number, string>): void {
  if (reply.status !== 200 || r.method !== 'POST') return;
  let sent: { channel?: unknown; channels?: unknown; data?: unknown };
  try {
    sent = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(r.body)) as typeof sent;
  } catch {
    return;
  }
  const answer = JSON.parse(reply.text) as { offset?: number; results?: { channel: string; offset?: number }[] };
  let offset: number | undefined;
  if (r.path === '/api/publish' && sent.channel === CONTROL) offset = answer.offset;
  if (r.path === '/api/broadcast') offset = answer.results?.find((x) => x.channel === CONTROL)?.offset;
  // A repeated idempotency key answers the first offset again: its data is the first request's.
  if (offset !== undefined && !ledger.has(offset)) ledger.set(offset, JSON.stringify(sent.data));
}

async function token(user: string): Promise<string> {
  return new SignJWT({ caps: { 'chat:*': ['subscribe'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

async function userClient(hub: TestHub, user: string): Promise<HubTestClient> {
  const c = await HubTestClient.open(hub.url, { connect: false });
  await c.call('connect', { token: await token(user) });
  return c;
}

describe('the fuzzer covers every route', () => {
  it('has a spec for each route of src/api/routes.ts', () => {
    const parsed = parseConfig({ namespaces, api: { keys: [KEY] } });
    const routes = apiRoutes({ config: parsed, hub: undefined as never, engine: undefined as never, log: pino({ level: 'silent' }) });
    expect(Object.keys(ROUTES).sort()).toEqual([...routes.keys()].sort());
    for (const [path, route] of routes) expect(ROUTES[path]?.method, path).toBe(route.method);
  });
});

describe('query strings are split as URLSearchParams does, refusing only what is not UTF-8', () => {
  it('agrees with URLSearchParams on well-formed input and refuses the rest with bad_request', () => {
    const piece = fc.oneof(
      fc.constantFrom('&', '=', '+', '%', '%2', '%zz', '%41', '%2B', '%26', '%3D', '%EF%BB%BF', '%C3%A9', '%F0%9F%98%80', '%ED%A0%80', '%FF', '%C3'),
      // Raw text as it arrives over HTTP: ASCII (Node 20's URLSearchParams misdecodes some raw
      // astral characters next to %XX runs), and lone surrogates, which only an in-process caller
      // can pass (fenced with ASCII so that two never pair up).
      fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 4 }),
      fc.constantFrom('x\ud800x', 'y\udfffy'),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 10 }).map((p) => p.join('')), (text) => {
        let mine: [string, string][];
        try {
          mine = [...parseQueryString(text)];
        } catch (err) {
          expect(isHubError(err, 'bad_request')).toBe(true);
          // Refused only where lenient decoding had to invent U+FFFD.
          expect([...new URLSearchParams(text)].flat().join('')).toContain('\ufffd');
          return;
        }
        expect(mine).toEqual([...new URLSearchParams(text)]);
      }),
      { numRuns: 2000, seed: SEED },
    );
  });
});

describe.each<TransportName>(['ws', 'uws'])('fuzzing the HTTP API over %s', (transport) => {
  let hub: TestHub;
  let base: URL;
  let agent: Agent;
  let control: HubTestClient;

  beforeAll(async () => {
    hub = await startTestHub(transport, config);
    base = new URL(`http://127.0.0.1:${hub.port}`);
    agent = new Agent({ keepAlive: true, maxSockets: 4 });
    control = await userClient(hub, CONTROL_USER);
    await control.call('subscribe', { channel: CONTROL });
    for (const user of VICTIMS) await userClient(hub, user);
  });

  afterAll(async () => {
    agent.destroy();
    control.terminate();
    await hub.close();
  });

  it('never answers 5xx, answers failures as JSON with a known code, and keeps delivering', { timeout: 60_000 }, async () => {
    const ledger = new Map<number, string>();
    let requests = 0;
    let waitedMs = 0;
    const statuses = new Map<number, number>();
    const started = Date.now();
    const result = await fc.check(
      fc.asyncProperty(anyRequest, async (r) => {
        // The control subscriber must stay connected: a disconnect naming it is not sent.
        if (r.path === '/api/disconnect' && r.body.includes(CONTROL_USER)) return true;
        requests++;
        const sentAt = Date.now();
        const reply = await send(base, agent, r);
        waitedMs += Date.now() - sentAt;
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        recordAcknowledged(r, reply, ledger);
        const problem = answerProblem(r, reply);
        if (problem !== undefined) throw new Error(problem);
        return true;
      }),
      { numRuns: FUZZ_RUNS, seed: SEED, endOnFailure: false, interruptAfterTimeLimit: 45_000 },
    );
    const ms = Date.now() - started;
    console.log(
      `HTTP API fuzz over ${transport}: ${requests} requests in ${ms} ms (${waitedMs} ms of it waiting for answers, seed ${SEED}), ${ledger.size} publications acknowledged on ${CONTROL}; ` +
        `statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`,
    );
    if (result.failed) {
      const counterexample = result.counterexample?.[0];
      console.log(`counterexample: ${counterexample === undefined ? '?' : describeRequest(counterexample)}`);
      throw new Error(`${fc.defaultReportMessage(result)}`);
    }
    expect(result.numRuns).toBeGreaterThan(FUZZ_RUNS / 2);

    // After the run: the node is alive and a valid publication still reaches the subscriber.
    const health = await send(base, agent, { method: 'GET', path: '/health', query: '', headers: {}, body: Buffer.alloc(0) });
    expect(health).toEqual({ status: 200, text: '{"status":"ok"}' });
    const last: FuzzRequest = {
      method: 'POST',
      path: '/api/publish',
      query: '',
      headers: { authorization: `Bearer ${KEY}` },
      body: Buffer.from(JSON.stringify({ channel: CONTROL, data: { last: true } })),
    };
    const lastReply = await send(base, agent, last);
    expect(lastReply.status).toBe(200);
    recordAcknowledged(last, lastReply, ledger);

    // Every acknowledged publication, once each, in order, with the data that was sent.
    const expected = [...ledger.entries()].sort(([a], [b]) => a - b);
    expect(expected.map(([offset]) => offset)).toEqual(expected.map((_, i) => i + 1));
    await control.until(() => control.pushesOf('pub', CONTROL).length >= expected.length, 10_000, 'every publication');
    const seen = control.pushesOf('pub', CONTROL).map((p) => [p.offset as number, JSON.stringify(p.data)]);
    expect(seen).toEqual(expected);
    expect(control.ws.readyState).toBe(control.ws.OPEN);
  });

  it('refuses a request line over the transport limit without a 5xx, and still answers after', async () => {
    const long = await send(base, agent, { method: 'GET', path: '/api/stats', query: `x=${'x'.repeat(20_000)}`, headers: { authorization: `Bearer ${KEY}` }, body: Buffer.alloc(0) }).catch(
      () => ({ status: 0, text: '' }),
    );
    // 431 from the transport itself (or a dropped connection); never the API's 500.
    expect(long.status === 0 || (long.status >= 400 && long.status < 500)).toBe(true);
    const health = await send(base, new Agent(), { method: 'GET', path: '/health', query: '', headers: {}, body: Buffer.alloc(0) });
    expect(health.status).toBe(200);
  });
});

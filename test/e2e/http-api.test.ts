// The HTTP API for backends over real HTTP, on both transports: what a backend gets back from
// every route, and what WebSocket clients see as a result (publications, board pushes, closes).

import { Agent, request } from 'node:http';
import { SignJWT } from 'jose';
import { type Logger, pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpApi } from '../../src/api/index.js';
import { type ConfigInput, parseConfig } from '../../src/config/index.js';
import type { Engine } from '../../src/engine/types.js';
import { HubError } from '../../src/protocol/index.js';
import { HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub, type TransportName } from '../helpers/hub-server.js';

const KEY = 'test-key-0123456789abcdef';
const OTHER_KEY = 'other-key-0123456789abcdef';
const SECRET = 'http-api-test-secret-0123456789abcdef';

const namespaces: ConfigInput['namespaces'] = {
  chat: { history: { size: 100, ttlMs: 0 }, presence: true },
  quiet: {},
  scores: { leaderboard: { top: 3, updateIntervalMs: 20 } },
  capped: { leaderboard: { maxMembers: 2 } },
};

const transports: TransportName[] = ['ws', 'uws'];

type Json = { [key: string]: unknown };

interface Answer {
  status: number;
  headers: Headers;
  body: Json;
}

interface ApiHub extends TestHub {
  base: string;
}

async function startApiHub(transport: TransportName, config: ConfigInput): Promise<ApiHub> {
  const running = await startTestHub(transport, config);
  return Object.assign(running, { base: `http://127.0.0.1:${running.port}` });
}

/** One HTTP API call: JSON in (a string is sent as is), JSON out. `key: null` sends no Authorization. */
async function call(
  hub: ApiHub,
  method: string,
  path: string,
  body?: unknown,
  key: string | null = KEY,
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`${hub.base}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Json) };
}

const post = (hub: ApiHub, path: string, body: unknown, key?: string | null) => call(hub, 'POST', path, body, key);
const get = (hub: ApiHub, path: string, key?: string | null) => call(hub, 'GET', path, undefined, key);

function errorOf(answer: Answer): { code: string; message: string; details?: Json } {
  return answer.body.error as { code: string; message: string; details?: Json };
}

/** A POST with a body that never reaches the API: node:http, which keeps reading the 413 the hub sends. */
function rawPost(hub: ApiHub, path: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${hub.base}${path}`,
      { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe.each(transports)('HTTP API over %s', (transport) => {
  let hub: ApiHub;
  const clients: HubTestClient[] = [];

  async function client(url = hub.url): Promise<HubTestClient> {
    const c = await HubTestClient.open(url);
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    hub = await startApiHub(transport, {
      namespaces,
      api: { keys: [KEY, OTHER_KEY], maxBroadcastChannels: 4 },
      server: { maxHttpBodyBytes: 4096 },
    });
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
  });

  afterAll(async () => {
    await hub.close();
  });

  describe('publish and broadcast', () => {
    it('delivers a publication to WebSocket subscribers with the offset and epoch it returns', async () => {
      const sub = await client();
      const { epoch } = (await sub.call('subscribe', { channel: 'chat:pub' })) as { epoch: string };
      const answer = await post(hub, '/api/publish', { channel: 'chat:pub', data: { text: 'hi' } });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      expect(answer.body).toEqual({ offset: 1, epoch });
      await sub.until(() => sub.pushesOf('pub', 'chat:pub').length === 1, 5000, 'the publication');
      // A backend's publication carries no `from`: no client sent it.
      expect(sub.pushesOf('pub', 'chat:pub')).toEqual([{ push: 'pub', channel: 'chat:pub', offset: 1, epoch, data: { text: 'hi' } }]);
    });

    it('returns the same offset for a repeated idempotency key and delivers the publication once', async () => {
      const sub = await client();
      await sub.call('subscribe', { channel: 'chat:idem' });
      const body = { channel: 'chat:idem', data: 'once', idempotencyKey: 'order-17' };
      const first = await post(hub, '/api/publish', body);
      const again = await post(hub, '/api/publish', body);
      expect(first.status).toBe(200);
      expect(again.body).toEqual(first.body);
      const marker = await post(hub, '/api/publish', { channel: 'chat:idem', data: 'marker' });
      expect(marker.body.offset).toBe((first.body.offset as number) + 1);
      await sub.until(() => sub.pushesOf('pub', 'chat:idem').some((p) => p.data === 'marker'), 5000, 'the marker');
      expect(sub.pushesOf('pub', 'chat:idem').map((p) => p.data)).toEqual(['once', 'marker']);
    });

    it('broadcasts to the subscribers of several channels and answers for each channel on its own', async () => {
      const a = await client();
      const b = await client();
      await a.call('subscribe', { channel: 'chat:b1' });
      await b.call('subscribe', { channel: 'chat:b2' });
      const answer = await post(hub, '/api/broadcast', {
        channels: ['chat:b1', 'chat:b2', 'not a channel', 'nope:x'],
        data: { n: 1 },
      });
      expect(answer.status).toBe(200);
      expect(answer.body.results).toEqual([
        { channel: 'chat:b1', offset: 1, epoch: expect.any(String) },
        { channel: 'chat:b2', offset: 1, epoch: expect.any(String) },
        { channel: 'not a channel', error: { code: 'invalid_channel', message: expect.any(String) } },
        { channel: 'nope:x', error: { code: 'unknown_namespace', message: expect.any(String) } },
      ]);
      await a.until(() => a.pushesOf('pub', 'chat:b1').length === 1, 5000, 'b1');
      await b.until(() => b.pushesOf('pub', 'chat:b2').length === 1, 5000, 'b2');
      expect(a.pushesOf('pub', 'chat:b1')[0]?.data).toEqual({ n: 1 });
      expect(b.pushesOf('pub', 'chat:b2')[0]?.data).toEqual({ n: 1 });
    });

    it('keeps a broadcast idempotent per channel', async () => {
      const body = { channels: ['chat:bi1', 'chat:bi2'], data: 'x', idempotencyKey: 'batch-1' };
      const first = await post(hub, '/api/broadcast', body);
      const again = await post(hub, '/api/broadcast', body);
      expect(again.body).toEqual(first.body);
      const one = await post(hub, '/api/publish', { channel: 'chat:bi1', data: 'x', idempotencyKey: 'batch-1:chat:bi1' });
      expect(one.body.offset).toBe(1);
    });

    it('refuses a broadcast naming too many channels, or one channel twice', async () => {
      const many = await post(hub, '/api/broadcast', { channels: ['chat:1', 'chat:2', 'chat:3', 'chat:4', 'chat:5'], data: 1 });
      expect(many.status).toBe(400);
      expect(errorOf(many)).toMatchObject({ code: 'bad_request', details: { field: 'channels' } });
      const twice = await post(hub, '/api/broadcast', { channels: ['chat:1', 'chat:1'], data: 1 });
      expect(twice.status).toBe(400);
      expect(errorOf(twice).message).toMatch(/named twice/);
      const none = await post(hub, '/api/broadcast', { channels: [], data: 1 });
      expect(none.status).toBe(400);
    });
  });

  describe('history and presence', () => {
    it('returns history after publishes: forward, reverse, limited, and since a position', async () => {
      const channel = 'chat:hist';
      let epoch = '';
      for (const n of [1, 2, 3]) epoch = (await post(hub, '/api/publish', { channel, data: { n } })).body.epoch as string;
      const all = await get(hub, `/api/history?channel=${channel}`);
      expect(all.status).toBe(200);
      expect(all.body).toEqual({
        publications: [1, 2, 3].map((n) => ({ offset: n, data: { n }, time: expect.any(Number) })),
        offset: 3,
        epoch,
      });
      const newest = await get(hub, `/api/history?channel=${channel}&limit=2&reverse=true`);
      expect((newest.body.publications as Json[]).map((p) => p.offset)).toEqual([3, 2]);
      const since = await get(hub, `/api/history?channel=${channel}&since_offset=1&since_epoch=${epoch}`);
      expect((since.body.publications as Json[]).map((p) => p.offset)).toEqual([2, 3]);
      const top = await get(hub, `/api/history?channel=${channel}&limit=0`);
      expect(top.body).toEqual({ publications: [], offset: 3, epoch });
    });

    it('answers 409 for a position the stream cannot resume from, and not_available without history', async () => {
      await post(hub, '/api/publish', { channel: 'chat:gone', data: 1 });
      const lost = await get(hub, '/api/history?channel=chat:gone&since_offset=0&since_epoch=another-epoch');
      expect(lost.status).toBe(409);
      expect(errorOf(lost).code).toBe('unrecoverable_position');
      const none = await get(hub, '/api/history?channel=quiet:x');
      expect(none.status).toBe(400);
      expect(errorOf(none).code).toBe('not_available');
      const half = await get(hub, '/api/history?channel=chat:gone&since_offset=1');
      expect(half.status).toBe(400);
      expect(errorOf(half).details).toEqual({ field: 'since_epoch' });
    });

    it('lists a connected subscriber in presence and presence-stats', async () => {
      const sub = await client();
      await sub.call('subscribe', { channel: 'chat:room' });
      const presence = await get(hub, '/api/presence?channel=chat:room');
      expect(presence.status).toBe(200);
      expect(presence.body).toEqual({ members: [{ client: expect.any(String), user: '' }] });
      expect((await get(hub, '/api/presence-stats?channel=chat:room')).body).toEqual({ clients: 1, users: 1 });
      const none = await get(hub, '/api/presence?channel=quiet:x');
      expect(none.status).toBe(400);
      expect(errorOf(none).code).toBe('not_available');
      expect(errorOf(await get(hub, '/api/presence-stats?channel=quiet:x')).code).toBe('not_available');
    });
  });

  describe('leaderboards', () => {
    it('changes a board, reads it back, and pushes the live top to its subscribers', async () => {
      const board = 'scores:game';
      const watcher = await client();
      expect(await watcher.call('subscribe', { channel: board })).toMatchObject({ entries: [] });
      expect((await post(hub, '/api/leaderboard/incr', { channel: board, member: 'alice', by: 5 })).body).toEqual({ score: 5 });
      expect((await post(hub, '/api/leaderboard/incr', { channel: board, member: 'alice', by: 2 })).body).toEqual({ score: 7 });
      expect((await post(hub, '/api/leaderboard/set', { channel: board, member: 'bob', score: 10 })).body).toEqual({ updated: true });
      const lower = await post(hub, '/api/leaderboard/set', { channel: board, member: 'bob', score: 3, mode: 'gt' });
      expect(lower.body).toEqual({ updated: false });
      await post(hub, '/api/leaderboard/set', { channel: board, member: 'carol', score: 1 });
      expect((await get(hub, `/api/leaderboard/top?channel=${board}`)).body).toEqual({
        entries: [
          { member: 'bob', score: 10, rank: 0 },
          { member: 'alice', score: 7, rank: 1 },
          { member: 'carol', score: 1, rank: 2 },
        ],
      });
      expect((await get(hub, `/api/leaderboard/top?channel=${board}&limit=1&offset=1`)).body).toEqual({
        entries: [{ member: 'alice', score: 7, rank: 1 }],
      });
      expect((await get(hub, `/api/leaderboard/rank?channel=${board}&member=alice`)).body).toEqual({ rank: 1, score: 7 });
      expect((await get(hub, `/api/leaderboard/rank?channel=${board}&member=nobody`)).body).toEqual({ rank: null, score: null });
      expect((await get(hub, `/api/leaderboard/around?channel=${board}&member=alice&n=1`)).body).toEqual({
        entries: [
          { member: 'bob', score: 10, rank: 0 },
          { member: 'alice', score: 7, rank: 1 },
          { member: 'carol', score: 1, rank: 2 },
        ],
      });
      expect((await post(hub, '/api/leaderboard/remove', { channel: board, member: 'bob' })).body).toEqual({ removed: true });
      expect((await post(hub, '/api/leaderboard/remove', { channel: board, member: 'bob' })).body).toEqual({ removed: false });
      const finalTop = [
        { member: 'alice', score: 7, rank: 0 },
        { member: 'carol', score: 1, rank: 1 },
      ];
      await watcher.until(
        () => JSON.stringify(watcher.pushesOf('board', board).at(-1)?.entries) === JSON.stringify(finalTop),
        5000,
        'the final board push',
      );
    });

    it("keeps only the namespace's maxMembers best members", async () => {
      for (const [member, score] of [['a', 1], ['b', 2], ['c', 3]] as const) {
        await post(hub, '/api/leaderboard/set', { channel: 'capped:x', member, score });
      }
      await post(hub, '/api/leaderboard/incr', { channel: 'capped:x', member: 'd', by: 0.5 });
      expect(((await get(hub, '/api/leaderboard/top?channel=capped:x')).body.entries as Json[]).map((e) => e.member)).toEqual([
        'c',
        'b',
      ]);
    });

    it('answers not_available for a namespace without boards', async () => {
      for (const answer of [
        await post(hub, '/api/leaderboard/incr', { channel: 'chat:x', member: 'a', by: 1 }),
        await post(hub, '/api/leaderboard/set', { channel: 'chat:x', member: 'a', score: 1 }),
        await post(hub, '/api/leaderboard/remove', { channel: 'chat:x', member: 'a' }),
        await get(hub, '/api/leaderboard/top?channel=chat:x'),
        await get(hub, '/api/leaderboard/rank?channel=chat:x&member=a'),
      ]) {
        expect(answer.status).toBe(400);
        expect(errorOf(answer).code).toBe('not_available');
      }
    });
  });

  describe('validation', () => {
    it.each([
      ['a missing field', { data: 1 }, 'channel', /"channel" is required/],
      ['a missing data', { channel: 'chat:x' }, 'data', /"data" is required/],
      ['a wrong type', { channel: 5, data: 1 }, 'channel', /expected string/],
      ['an unknown field', { channel: 'chat:x', data: 1, colour: 'red' }, 'colour', /unknown field "colour"/],
      ['a too long idempotency key', { channel: 'chat:x', data: 1, idempotencyKey: 'k'.repeat(129) }, 'idempotencyKey', /idempotencyKey/],
    ])('refuses %s with 400 naming the field', async (_what, body, field, message) => {
      const answer = await post(hub, '/api/publish', body);
      expect(answer.status).toBe(400);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      expect(errorOf(answer)).toEqual({ code: 'bad_request', message: expect.stringMatching(message), details: { field } });
    });

    it('refuses an invalid channel (400) and an unknown namespace (404)', async () => {
      const invalid = await post(hub, '/api/publish', { channel: 'no-namespace', data: 1 });
      expect(invalid.status).toBe(400);
      expect(errorOf(invalid).code).toBe('invalid_channel');
      const unknown = await post(hub, '/api/publish', { channel: 'nope:x', data: 1 });
      expect(unknown.status).toBe(404);
      expect(errorOf(unknown).code).toBe('unknown_namespace');
      expect((await get(hub, '/api/presence?channel=nope:x')).status).toBe(404);
    });

    it.each([
      ['bad JSON', '{"channel":', /not valid JSON/],
      ['an empty body', '', /JSON object/],
      ['an array', '[1,2]', /JSON object/],
      ['a string', '"hi"', /JSON object/],
    ])('refuses %s with 400', async (_what, body, message) => {
      const answer = await post(hub, '/api/publish', body);
      expect(answer.status).toBe(400);
      expect(errorOf(answer)).toMatchObject({ code: 'bad_request', message: expect.stringMatching(message) });
    });

    it.each([
      ['a non-number', '/api/history?channel=chat:x&limit=ten', 'limit'],
      ['a number over the limit', '/api/history?channel=chat:x&limit=5000', 'limit'],
      ['a bad flag', '/api/history?channel=chat:x&reverse=maybe', 'reverse'],
      ['an unknown parameter', '/api/history?channel=chat:x&colour=red', 'colour'],
      ['a repeated parameter', '/api/history?channel=chat:x&channel=chat:y', 'channel'],
      ['a missing parameter', '/api/presence', 'channel'],
      ['an empty member', '/api/leaderboard/rank?channel=scores:x&member=', 'member'],
      ['a bad cursor', '/api/channels?cursor=!!', 'cursor'],
      ['a zero page size', '/api/channels?limit=0', 'limit'],
    ])('refuses %s in a query with 400 naming it', async (_what, path, field) => {
      const answer = await get(hub, path);
      expect(answer.status).toBe(400);
      expect(errorOf(answer)).toMatchObject({ code: 'bad_request', details: { field } });
    });

    it('refuses a bad score mode and a query string on a POST route', async () => {
      const mode = await post(hub, '/api/leaderboard/set', { channel: 'scores:x', member: 'a', score: 1, mode: 'sometimes' });
      expect(errorOf(mode)).toMatchObject({ code: 'bad_request', details: { field: 'mode' } });
      const query = await post(hub, '/api/publish?channel=chat:x', { channel: 'chat:x', data: 1 });
      expect(errorOf(query)).toMatchObject({ code: 'bad_request', details: { field: 'channel' } });
      const user = await post(hub, '/api/disconnect', { user: 'u', reconnect: 'yes' });
      expect(errorOf(user)).toMatchObject({ code: 'bad_request', details: { field: 'reconnect' } });
    });

    it('answers 404 for an unknown route and 405 for a known route with the wrong method', async () => {
      const unknown = await get(hub, '/api/teleport');
      expect(unknown.status).toBe(404);
      expect(errorOf(unknown).code).toBe('not_found');
      const wrong = await get(hub, '/api/publish');
      expect(wrong.status).toBe(405);
      expect(wrong.headers.get('allow')).toBe('POST');
      expect(errorOf(wrong).code).toBe('bad_request');
      const wrongGet = await post(hub, '/api/stats', {});
      expect(wrongGet.status).toBe(405);
      expect(wrongGet.headers.get('allow')).toBe('GET');
    });

    it('refuses a body over server.maxHttpBodyBytes with 413 before it reaches the API', async () => {
      const big = Buffer.from(JSON.stringify({ channel: 'chat:big', data: 'x'.repeat(8192) }));
      expect(await rawPost(hub, '/api/publish', big)).toBe(413);
      expect((await get(hub, '/api/history?channel=chat:big')).body.offset).toBe(0);
    });
  });

  describe('auth', () => {
    it('answers 401 with WWW-Authenticate for a missing, malformed or wrong key', async () => {
      for (const key of [null, 'wrong-key-0123456789abcdef', '']) {
        const answer = await get(hub, '/api/stats', key);
        expect(answer.status).toBe(401);
        expect(answer.headers.get('www-authenticate')).toBe('Bearer');
        expect(errorOf(answer).code).toBe('unauthorized');
      }
      const basic = await fetch(`${hub.base}/api/stats`, { headers: { authorization: `Basic ${KEY}` } });
      expect(basic.status).toBe(401);
      // Unknown routes are not revealed without a key either.
      expect((await get(hub, '/api/teleport', null)).status).toBe(401);
    });

    it('accepts every configured key', async () => {
      expect((await get(hub, '/api/stats', KEY)).status).toBe(200);
      expect((await get(hub, '/api/stats', OTHER_KEY)).status).toBe(200);
    });

    it('makes a key at start when none is configured, and accepts it', async () => {
      const keyless = await startApiHub(transport, { namespaces });
      try {
        const key = keyless.api.generatedKey;
        expect(key).toMatch(/^[A-Za-z0-9_-]{32}$/);
        expect((await get(keyless, '/api/stats', key)).status).toBe(200);
        expect((await get(keyless, '/api/stats', KEY)).status).toBe(401);
        expect(hub.api.generatedKey).toBeUndefined();
      } finally {
        await keyless.close();
      }
    });

    it('leaves paths outside /api/ to the hub', async () => {
      expect((await fetch(`${hub.base}/health`)).status).toBe(200);
    });
  });

  describe('disconnect', () => {
    let authHub: ApiHub;

    beforeAll(async () => {
      authHub = await startApiHub(transport, {
        namespaces,
        api: { keys: [KEY] },
        auth: { hmacSecret: SECRET },
      });
    });

    afterAll(async () => {
      await authHub.close();
    });

    async function userClient(user: string): Promise<HubTestClient> {
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(user)
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(SECRET));
      const c = await HubTestClient.open(authHub.url, { connect: false });
      clients.push(c);
      await c.call('connect', { token });
      return c;
    }

    it("closes every socket of the user with 4103, and leaves other users' alone", async () => {
      const tab1 = await userClient('alice');
      const tab2 = await userClient('alice');
      const bob = await userClient('bob');
      const answer = await post(authHub, '/api/disconnect', { user: 'alice', reason: 'banned' });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ disconnected: 2 });
      expect(await tab1.closed).toEqual({ code: 4103, reason: 'banned' });
      expect(await tab2.closed).toEqual({ code: 4103, reason: 'banned' });
      expect(await bob.call('ping')).toEqual({});
      expect((await post(authHub, '/api/disconnect', { user: 'alice' })).body).toEqual({ disconnected: 0 });
    });

    it('closes with 4006 (reconnect) when asked to', async () => {
      const carol = await userClient('carol');
      expect((await post(authHub, '/api/disconnect', { user: 'carol', reconnect: true })).body).toEqual({ disconnected: 1 });
      expect(await carol.closed).toEqual({ code: 4006, reason: 'disconnected by the server' });
    });
  });

  describe('channels and stats on a fresh hub', () => {
    let fresh: ApiHub;

    beforeAll(async () => {
      fresh = await startApiHub(transport, { namespaces, api: { keys: [KEY] } });
    });

    afterAll(async () => {
      await fresh.close();
    });

    it('pages through the channels with a cursor', async () => {
      const a = await client(fresh.url);
      const b = await client(fresh.url);
      for (const channel of ['chat:d', 'chat:a', 'chat:c', 'chat:b', 'chat:e']) await a.call('subscribe', { channel });
      await b.call('subscribe', { channel: 'chat:c' });
      const first = await get(fresh, '/api/channels?limit=2');
      expect(first.body.channels).toEqual([
        { channel: 'chat:a', subscribers: 1 },
        { channel: 'chat:b', subscribers: 1 },
      ]);
      expect(first.body.next).toEqual(expect.any(String));
      const second = await get(fresh, `/api/channels?limit=2&cursor=${first.body.next as string}`);
      expect(second.body.channels).toEqual([
        { channel: 'chat:c', subscribers: 2 },
        { channel: 'chat:d', subscribers: 1 },
      ]);
      const last = await get(fresh, `/api/channels?limit=2&cursor=${second.body.next as string}`);
      expect(last.body).toEqual({ channels: [{ channel: 'chat:e', subscribers: 1 }] });
      expect((await get(fresh, '/api/channels')).body.channels).toHaveLength(5);
    });

    it('reports node and engine counts', async () => {
      const a = await client(fresh.url);
      await client(fresh.url);
      await a.call('subscribe', { channel: 'chat:stats' });
      await post(fresh, '/api/publish', { channel: 'chat:stats', data: 1 });
      const stats = await get(fresh, '/api/stats');
      expect(stats.status).toBe(200);
      // The previous test's sockets may still be closing on the server: count this test's at least.
      expect(stats.body.node).toMatchObject({ uptimeMs: expect.any(Number) });
      const node = stats.body.node as { connections: number; channels: number; subscriptions: number };
      expect(node.connections).toBeGreaterThanOrEqual(2);
      expect(node.channels).toBeGreaterThanOrEqual(1);
      expect(node.subscriptions).toBeGreaterThanOrEqual(1);
      expect(stats.body.engine).toMatchObject({ streams: expect.any(Number), historyEntries: expect.any(Number) });
      expect((stats.body.engine as { historyEntries: number }).historyEntries).toBeGreaterThanOrEqual(1);
    });
  });

  describe('rate limit and insecure mode', () => {
    let limited: ApiHub;
    let open: ApiHub;

    beforeAll(async () => {
      // A minute per token: the third request is refused however slow the machine.
      limited = await startApiHub(transport, {
        namespaces,
        api: { keys: [KEY, OTHER_KEY], rateLimit: { rate: 1, periodMs: 60_000, burst: 2 } },
      });
      open = await startApiHub(transport, { namespaces, api: { insecure: true } });
    });

    afterAll(async () => {
      await Promise.all([limited.close(), open.close()]);
    });

    it('answers 429 with Retry-After once a key spends its burst, per key', async () => {
      expect((await get(limited, '/api/stats')).status).toBe(200);
      expect((await get(limited, '/api/stats')).status).toBe(200);
      const refused = await get(limited, '/api/stats');
      expect(refused.status).toBe(429);
      expect(errorOf(refused).code).toBe('rate_limited');
      const retryAfterMs = errorOf(refused).details?.retryAfterMs as number;
      expect(retryAfterMs).toBeGreaterThan(50_000);
      expect(retryAfterMs).toBeLessThanOrEqual(60_000);
      expect(refused.headers.get('retry-after')).toBe(String(Math.ceil(retryAfterMs / 1000)));
      expect((await get(limited, '/api/stats', OTHER_KEY)).status).toBe(200);
    });

    it('limits requests with a missing or wrong key per address, so keys cannot be guessed quickly', async () => {
      expect((await get(limited, '/api/stats', 'guess-1-0123456789abcdef')).status).toBe(401);
      expect((await get(limited, '/api/stats', null)).status).toBe(401);
      const refused = await get(limited, '/api/stats', 'guess-3-0123456789abcdef');
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    });

    it('serves without any key in insecure mode', async () => {
      const answer = await post(open, '/api/publish', { channel: 'chat:open', data: 1 }, null);
      expect(answer.status).toBe(200);
      expect(answer.body.offset).toBe(1);
    });
  });
});

// Hostile input found by review and by test/e2e/http-api.fuzz.test.ts: each case answered 500 or
// stored something other than what was sent before it was fixed.
describe.each(transports)('HTTP API regressions over %s', (transport) => {
  let hub: ApiHub;
  const clients: HubTestClient[] = [];

  beforeAll(async () => {
    hub = await startApiHub(transport, { namespaces, api: { keys: [KEY] }, limits: { maxDepth: 8 } });
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
  });

  afterAll(async () => {
    await hub.close();
  });

  const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

  it('answers 400 naming "data", not 500, for data nested a few thousand levels deep (publish and broadcast)', async () => {
    const deep = nested(5000);
    const publish = await post(hub, '/api/publish', `{"channel":"chat:deep","data":${deep}}`);
    expect(publish.status).toBe(400);
    expect(errorOf(publish)).toEqual({
      code: 'bad_request',
      message: expect.stringMatching(/^field "data": .*deeper than 8/),
      details: { field: 'data' },
    });
    const broadcast = await post(hub, '/api/broadcast', `{"channels":["chat:deep"],"data":${deep}}`);
    expect(broadcast.status).toBe(400);
    expect(errorOf(broadcast)).toMatchObject({ code: 'bad_request', details: { field: 'data' } });
    expect((await get(hub, '/api/history?channel=chat:deep')).body.offset).toBe(0);
  });

  it('takes the depth limit from limits.maxDepth', async () => {
    expect((await post(hub, '/api/publish', `{"channel":"chat:depth","data":${nested(8)}}`)).status).toBe(200);
    const over = await post(hub, '/api/publish', `{"channel":"chat:depth","data":${nested(9)}}`);
    expect(over.status).toBe(400);
    expect(errorOf(over).details).toEqual({ field: 'data' });
  });

  it('delivers data with a "__proto__" key exactly as sent, to history and to subscribers', async () => {
    const data = '{"__proto__":{"x":1},"a":1}';
    const sub = await HubTestClient.open(hub.url);
    clients.push(sub);
    await sub.call('subscribe', { channel: 'chat:proto' });
    const answer = await post(hub, '/api/publish', `{"channel":"chat:proto","data":${data}}`);
    expect(answer.status).toBe(200);
    const history = await fetch(`${hub.base}/api/history?channel=chat:proto`, { headers: { authorization: `Bearer ${KEY}` } });
    const text = await history.text();
    expect(text).toContain(`"data":${data}`);
    await sub.until(() => sub.pushesOf('pub', 'chat:proto').length === 1, 5000, 'the publication');
    // JSON.parse keeps "__proto__" as an own key, so encoding it again shows what arrived.
    expect(JSON.stringify(sub.pushesOf('pub', 'chat:proto')[0]?.data)).toBe(data);
  });

  it.each([
    ['incr', { channel: 'scores:lone', member: '\ud800', by: 1 }],
    ['set', { channel: 'scores:lone', member: '\udfff', score: 1 }],
    ['remove', { channel: 'scores:lone', member: 'a\ud800b' }],
  ])('refuses a member with a lone surrogate on %s', async (route, body) => {
    const answer = await post(hub, `/api/leaderboard/${route}`, body);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: 'bad_request', details: { field: 'member' } });
    expect((await get(hub, '/api/leaderboard/top?channel=scores:lone')).body).toEqual({ entries: [] });
  });

  it.each([
    ['rank', '/api/leaderboard/rank?channel=scores:lone&member=%ED%A0%80'],
    ['around', '/api/leaderboard/around?channel=scores:lone&member=%ED%BF%BF'],
  ])('refuses a member percent-encoding a lone surrogate (not valid UTF-8) on %s', async (_route, path) => {
    // Decoded leniently this would be "\ufffd\ufffd\ufffd": another member's rank, silently.
    const answer = await get(hub, path);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: 'bad_request', details: { field: 'member' } });
  });

  it('keeps U+FFFD as a member of its own: it is valid text', async () => {
    const answer = await post(hub, '/api/leaderboard/set', { channel: 'scores:fffd', member: '\ufffd', score: 2 });
    expect(answer.body).toEqual({ updated: true });
    const rank = await get(hub, '/api/leaderboard/rank?channel=scores:fffd&member=%EF%BF%BD');
    expect(rank.body).toEqual({ rank: 0, score: 2 });
  });

  it.each([
    ['an idempotency key on publish', '/api/publish', { channel: 'chat:lone', data: 1, idempotencyKey: 'k\ud800' }, 'idempotencyKey'],
    ['an idempotency key on broadcast', '/api/broadcast', { channels: ['chat:lone'], data: 1, idempotencyKey: '\udc00' }, 'idempotencyKey'],
    ['a user on disconnect', '/api/disconnect', { user: '\ud800' }, 'user'],
    ['a reason on disconnect', '/api/disconnect', { user: 'u', reason: 'bye\udfff' }, 'reason'],
  ])('refuses a lone surrogate in %s', async (_what, path, body, field) => {
    const answer = await post(hub, path, body);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: 'bad_request', details: { field } });
    expect((await get(hub, '/api/history?channel=chat:lone')).body.offset).toBe(0);
  });

  it('answers HEAD like GET but without a body, and the keep-alive connection stays usable after', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ask = (method: string, path: string, key?: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
          const req = request(`${hub.base}${path}`, { method, agent, headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
          });
          req.on('error', reject);
          req.end();
        });
      expect(await ask('HEAD', '/health')).toEqual({ status: 200, body: '' });
      expect(await ask('HEAD', '/ready')).toEqual({ status: 200, body: '' });
      expect(await ask('HEAD', '/api/stats', KEY)).toEqual({ status: 200, body: '' });
      expect(await ask('HEAD', '/api/publish', KEY)).toEqual({ status: 405, body: '' });
      expect(await ask('HEAD', '/nowhere')).toEqual({ status: 404, body: '' });
      // On the same socket: a body sent after a HEAD answer would be read as the next response.
      expect(await ask('GET', '/health')).toEqual({ status: 200, body: '{"status":"ok"}' });
    } finally {
      agent.destroy();
    }
  });

  it.each([
    ['publish data', '/api/publish', '{"channel":"chat:inf","data":{"n":1e400}}', 'data'],
    ['broadcast data', '/api/broadcast', '{"channels":["chat:inf"],"data":[-1e400]}', 'data'],
    ['an increment', '/api/leaderboard/incr', '{"channel":"scores:inf","member":"a","by":1e400}', 'by'],
    ['a score', '/api/leaderboard/set', '{"channel":"scores:inf","member":"a","score":-1e400}', 'score'],
  ])('refuses 1e400 (Infinity once parsed) in %s', async (_what, path, body, field) => {
    const answer = await post(hub, path, body);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatchObject({ code: 'bad_request', details: { field } });
    expect((await get(hub, '/api/history?channel=chat:inf')).body.offset).toBe(0);
  });
});

describe('HttpApi in process', () => {
  let hub: TestHub;

  beforeAll(async () => {
    hub = await startTestHub('ws', { namespaces });
  });

  afterAll(async () => {
    await hub.close();
  });

  function capture(): { lines: Json[]; log: Logger } {
    const lines: Json[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Json) });
    return { lines, log };
  }

  const request = (api: HttpApi, method: string, url: string, body = '', key?: string) =>
    api.handle({
      method,
      url,
      headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
      body: Buffer.from(body),
      remoteAddress: '127.0.0.1',
    });

  it('makes a key when none is configured, logs it once, and accepts only it', async () => {
    const { lines, log } = capture();
    const api = new HttpApi(parseConfig({ namespaces }), hub.hub, hub.engine, log);
    const key = api.generatedKey;
    expect(key).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const warned = lines.filter((l) => String(l.msg).includes(key as string));
    expect(warned).toHaveLength(1);
    expect(warned[0]?.level).toBe(40);
    expect((await request(api, 'GET', '/api/stats', '', key))?.status).toBe(200);
    expect((await request(api, 'GET', '/api/stats', '', KEY))?.status).toBe(401);
    expect(new HttpApi(parseConfig({ api: { keys: [KEY] } }), hub.hub, hub.engine, log).generatedKey).toBeUndefined();
    expect(lines.filter((l) => String(l.msg).includes(KEY))).toEqual([]);
  });

  it('warns that insecure mode is on', () => {
    const { lines, log } = capture();
    const api = new HttpApi(parseConfig({ api: { insecure: true } }), hub.hub, hub.engine, log);
    expect(api.generatedKey).toBeUndefined();
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringMatching(/insecure/) }));
  });

  it('resolves undefined outside /api/', async () => {
    const api = new HttpApi(parseConfig({ api: { keys: [KEY] } }), hub.hub, hub.engine, capture().log);
    expect(await request(api, 'GET', '/health')).toBeUndefined();
    expect(await request(api, 'GET', '/apis/x')).toBeUndefined();
  });

  it('refuses a query string holding a lone surrogate, which only an in-process caller can send', async () => {
    const api = new HttpApi(parseConfig({ namespaces, api: { keys: [KEY] } }), hub.hub, hub.engine, capture().log);
    const answer = await request(api, 'GET', '/api/leaderboard/rank?channel=scores:x&member=a\ud800', '', KEY);
    expect(answer?.status).toBe(400);
    expect(JSON.parse(String(answer?.body))).toMatchObject({ error: { code: 'bad_request', details: { field: 'member' } } });
  });

  it('answers 413 JSON for a body over the limit that a transport let through', async () => {
    const config = parseConfig({ namespaces, api: { keys: [KEY] }, server: { maxHttpBodyBytes: 16 } });
    const api = new HttpApi(config, hub.hub, hub.engine, capture().log);
    const answer = await request(api, 'POST', '/api/publish', JSON.stringify({ channel: 'chat:x', data: 'long enough' }), KEY);
    expect(answer?.status).toBe(413);
    expect(JSON.parse(String(answer?.body))).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  it('passes engine errors through with their status, and answers anything else with 500 internal', async () => {
    const { lines, log } = capture();
    const failing: Engine = Object.create(hub.engine) as Engine;
    failing.stats = () => Promise.reject(new Error('socket hang up'));
    failing.presence = () => Promise.reject(new HubError('engine_closed', 'the engine is closed'));
    const api = new HttpApi(parseConfig({ namespaces, api: { keys: [KEY] } }), hub.hub, failing, log);
    const stats = await request(api, 'GET', '/api/stats', '', KEY);
    expect(stats?.status).toBe(500);
    expect(JSON.parse(String(stats?.body))).toEqual({
      error: { code: 'internal', message: expect.any(String) },
    });
    expect(lines).toContainEqual(expect.objectContaining({ level: 50, route: 'GET /api/stats' }));
    const closed = await request(api, 'GET', '/api/presence?channel=chat:x', '', KEY);
    expect(closed?.status).toBe(503);
    expect(JSON.parse(String(closed?.body))).toMatchObject({ error: { code: 'unavailable' } });
  });
});

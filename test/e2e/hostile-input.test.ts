// Regression tests for what an attacker found against a hub built from main, each named after the
// behaviour a user now sees, over real sockets on both transports.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/index.js';
import { expectCode, type Frame, HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub, type TransportName } from '../helpers/hub-server.js';

const namespaces: ConfigInput['namespaces'] = {
  chat: { history: { size: 100, ttlMs: 0 }, presence: true, clientPublish: true },
  limited: { clientPublish: true, publishRate: { rate: 1, periodMs: 60_000, burst: 1 } },
  scores: { leaderboard: { clientIncr: true } },
};

const transports: TransportName[] = ['ws', 'uws'];
const API_KEY = 'hostile-input-test-key-0123456789';
const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

describe.each(transports)('hostile input over %s', (transport) => {
  let hub: TestHub;
  const clients: HubTestClient[] = [];

  async function client(options: { connect?: boolean } = {}, url = hub.url): Promise<HubTestClient> {
    const c = await HubTestClient.open(url, options);
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    hub = await startTestHub(transport, {
      namespaces,
      limits: {
        commands: { rate: 1, periodMs: 60_000, burst: 1000 },
        bytes: { rate: 1, periodMs: 60_000, burst: 200_000 },
        rejectionsBeforeClose: 5,
        maxDepth: 16,
      },
      server: { maxPayloadBytes: 64 * 1024 },
      api: { keys: [API_KEY] },
    });
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
  });

  afterAll(async () => {
    await hub.close();
  });

  it('answers deeply nested publication data with bad_request, before and after connect, and keeps serving', async () => {
    const watcher = await client();
    await watcher.call('subscribe', { channel: 'chat:deep' });
    const early = await client({ connect: false });
    early.sendRaw(`{"id":1,"method":"publish","channel":"chat:deep","data":${deep(5000)}}`);
    await early.until(() => early.frames.length > 0);
    expect(early.frames[0]).toMatchObject({ id: 1, error: { code: 'bad_request' } });
    const c = await client();
    const err = await expectCode(c.call('publish', { channel: 'chat:deep', data: JSON.parse(deep(17)) }), 'bad_request');
    expect(err.message).toContain('deeper than 16');
    // At the limit it is accepted and delivered as sent.
    await c.call('publish', { channel: 'chat:deep', data: JSON.parse(deep(16)) });
    await watcher.until(() => watcher.pushesOf('pub', 'chat:deep').length === 1);
    expect(JSON.stringify(watcher.pushesOf('pub', 'chat:deep')[0]?.data)).toBe(deep(16));
  });

  it('delivers __proto__ and constructor keys in data exactly as sent', async () => {
    const watcher = await client();
    await watcher.call('subscribe', { channel: 'chat:proto' });
    const c = await client();
    const text = '{"__proto__":{"polluted":true},"constructor":{"prototype":1},"a":[{"__proto__":null}]}';
    c.sendRaw(`{"id":99,"method":"publish","channel":"chat:proto","data":${text}}`);
    await watcher.until(() => watcher.frames.some((f) => f.push === 'pub'));
    const raw = watcher.frames.find((f) => f.push === 'pub') as Frame;
    expect(JSON.stringify(raw.data)).toBe(text);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const history = await c.call('history', { channel: 'chat:proto' });
    expect(JSON.stringify((history.publications as Frame[])[0]?.data)).toBe(text);
  });

  it('refuses numbers JSON cannot carry back (1e400) instead of delivering null', async () => {
    const c = await client();
    c.sendRaw('{"id":7,"method":"publish","channel":"chat:big","data":{"n":1e400}}');
    await c.until(() => c.frames.some((f) => f.id === 7));
    expect(c.frames.find((f) => f.id === 7)).toMatchObject({ error: { code: 'bad_request' } });
  });

  it('refuses member names and idempotency keys with lone surrogates', async () => {
    const c = await client();
    for (const member of ['\ud800', '\udfff', 'a\ud83d']) {
      await expectCode(c.call('incr', { channel: 'scores:s', member, by: 1 }), 'bad_request');
    }
    // A surrogate pair (an emoji) and U+FFFD are valid text, and two different members.
    await c.call('incr', { channel: 'scores:s', member: '\ud83d\ude00', by: 1 });
    await c.call('incr', { channel: 'scores:s', member: '\ufffd', by: 2 });
    await c.call('subscribe', { channel: 'scores:s' });
    const top = await c.call('top', { channel: 'scores:s' });
    expect(top.entries).toEqual([
      { member: '\ufffd', score: 2, rank: 0 },
      { member: '\ud83d\ude00', score: 1, rank: 1 },
    ]);
    await expectCode(c.call('publish', { channel: 'chat:s', data: 1, idempotencyKey: 'k\udc00' }), 'bad_request');
  });

  it('charges invalid commands to the command limit, and closes a connection that keeps sending them', async () => {
    const c = await client();
    const watcher = await client();
    await watcher.call('subscribe', { channel: 'chat:flood' });
    // burst 1000 (one used by connect): 999 unknown methods are answered unknown_method, then rate_limited.
    for (let i = 0; i < 1010; i++) c.sendRaw(`{"id":${i + 1},"method":"nope"}`);
    const { code } = await c.closed;
    expect(code).toBe(4002);
    const codes = c.frames.filter((f) => f.error !== undefined).map((f) => (f.error as Frame).code);
    expect(codes.slice(0, 999).every((x) => x === 'unknown_method')).toBe(true);
    // The fifth refusal in a row is answered by the close itself.
    expect(codes.slice(999)).toEqual(['rate_limited', 'rate_limited', 'rate_limited', 'rate_limited']);
    // Everyone else is still served.
    const other = await client();
    await other.call('publish', { channel: 'chat:flood', data: 'still here' });
    await watcher.until(() => watcher.pushesOf('pub', 'chat:flood').length === 1);
  });

  it('charges bytes of frames it refuses, with a retryAfterMs for the frame size', async () => {
    const c = await client();
    // 60,000 bytes each against a burst of 200,000 bytes: the fourth is over the limit.
    const big = `{"id":1,"method":"nope","pad":"${'x'.repeat(60_000)}"}`;
    for (let i = 0; i < 4; i++) c.sendRaw(big.replace('"id":1', `"id":${i + 10}`));
    await c.until(() => c.frames.filter((f) => f.error !== undefined).length === 4);
    const errors = c.frames.filter((f) => f.error !== undefined).map((f) => f.error as Frame);
    expect(errors.slice(0, 3).map((e) => e.code)).toEqual(['unknown_method', 'unknown_method', 'unknown_method']);
    expect(errors[3]).toMatchObject({ code: 'rate_limited' });
    // 1 byte a minute: the frame needs most of its 60,000 bytes refilled, not 1.
    const retry = (errors[3]?.details as { retryAfterMs: number }).retryAfterMs;
    expect(retry).toBeGreaterThan(60_000 * 1000);
  });

  it('counts publish-rate refusals toward rejectionsBeforeClose', async () => {
    const c = await client();
    await c.call('publish', { channel: 'limited:a', data: 1 });
    for (let i = 0; i < 5; i++) await expectCode(c.call('publish', { channel: 'limited:a', data: i }), 'rate_limited');
    expect((await c.closed).code).toBe(4002);
  });

  it("scopes idempotency keys to their publisher, so a client cannot swallow the backend's publish", async () => {
    const watcher = await client();
    await watcher.call('subscribe', { channel: 'chat:orders' });
    const c = await client();
    const mine = await c.call('publish', { channel: 'chat:orders', data: 'client', idempotencyKey: 'order-123' });
    const again = await c.call('publish', { channel: 'chat:orders', data: 'client', idempotencyKey: 'order-123' });
    expect(again.offset).toBe(mine.offset);
    const res = await fetch(`http://127.0.0.1:${hub.port}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'chat:orders', data: 'backend', idempotencyKey: 'order-123' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { offset: number };
    expect(body.offset).toBe((mine.offset as number) + 1);
    await watcher.until(() => watcher.pushesOf('pub', 'chat:orders').length === 2);
    expect(watcher.pushesOf('pub', 'chat:orders').map((p) => p.data)).toEqual(['client', 'backend']);
  });

  it('closes only the connection whose handling threw, with 1011, counts it, and keeps serving others', async () => {
    const c = await client();
    const watcher = await client();
    await watcher.call('subscribe', { channel: 'chat:ok' });
    // A bug outside every command's try/catch: the next frame's byte count throws, once.
    const counter = hub.hub.metrics.bytesIn;
    const inc = counter.inc.bind(counter);
    counter.inc = () => {
      counter.inc = inc;
      throw new TypeError('injected fault');
    };
    c.sendRaw('{"id":5,"method":"ping"}');
    expect((await c.closed).code).toBe(1011);
    const other = await client();
    await other.call('publish', { channel: 'chat:ok', data: 'fine' });
    await watcher.until(() => watcher.pushesOf('pub', 'chat:ok').length === 1);
    const metrics = await (await fetch(`http://127.0.0.1:${hub.port}/metrics`)).text();
    expect(metrics).toMatch(/^hubbub_connection_failures_total [1-9]/m);
  });

  it('lets a client subscribe to many fresh channel names without evicting other channels or creating streams', async () => {
    const c = await client();
    const first = await c.call('publish', { channel: 'chat:kept', data: 1 });
    const before = await hub.engine.stats();
    for (let i = 0; i < 200; i++) {
      await c.call('subscribe', { channel: `chat:fresh-${i}` });
      await c.call('unsubscribe', { channel: `chat:fresh-${i}` });
    }
    const after = await hub.engine.stats();
    expect(after.streams).toBe(before.streams);
    const h = await c.call('history', { channel: 'chat:kept' });
    expect(h.epoch).toBe(first.epoch);
  });
});

describe.each(transports)('connection limits behind a trusted proxy over %s', (transport) => {
  let hub: TestHub;
  const clients: HubTestClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await hub.close();
  });

  const from = async (forwardedFor: string) => {
    const c = await HubTestClient.open(hub.url, { connect: false, headers: { 'x-forwarded-for': forwardedFor } });
    clients.push(c);
    return c;
  };

  it('counts maxConnectionsPerIp by the client X-Forwarded-For names, from a trusted proxy only', async () => {
    hub = await startTestHub(transport, { server: { trustProxy: ['loopback'], maxConnectionsPerIp: 2 } });
    await from('203.0.113.5');
    await from('198.51.100.1, 203.0.113.5');
    // The third from the same client is refused; another client behind the same proxy is not.
    await expect(from('203.0.113.5')).rejects.toThrow(/429/);
    await from('203.0.113.6');
    await hub.close();
    // Not trusted: the header is the client's own words, and the proxy's address is what counts.
    hub = await startTestHub(transport, { server: { maxConnectionsPerIp: 2 } });
    await from('203.0.113.7');
    await from('203.0.113.8');
    await expect(from('203.0.113.9')).rejects.toThrow(/429/);
  });
});

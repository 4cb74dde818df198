// Server-side subscriptions and personal channels, on both transports: channels from the connect
// hook's answer and the token's `channels` claim, the personal channel a backend publishes to by
// user, POST /api/subscribe and /api/unsubscribe on live connections, recovery from the positions
// a client sends at connect, and the SDK's `publication` events and `rpc`.

import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type Message } from '../../client/src/index.js';
import type { ConfigInput } from '../../src/config/index.js';
import type { Hooks } from '../../src/hooks/index.js';
import { expectCode, type Frame, HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub, type TransportName } from '../helpers/hub-server.js';

const SECRET = 'server-subs-test-secret-of-32-chars';
const API_KEY = 'server-subs-test-api-key';

const config: ConfigInput = {
  namespaces: {
    news: { history: { size: 100 } },
    personal: { history: { size: 100 } },
    alerts: { history: { size: 100 } },
  },
  personalChannels: { enabled: true, namespace: 'personal' },
  auth: { hmacSecret: SECRET },
  api: { keys: [API_KEY] },
};

/** The backend: the user is the connect `name`; alice also follows news:alice. */
const hooks: Hooks = {
  connect: (req) => ({ result: { user: req.name ?? '', ...(req.name === 'alice' ? { channels: ['news:alice', 'news:bad channel'] } : {}) } }),
  rpc: (req) => (req.method === 'echo' ? { result: { data: req.data } } : { error: { code: 'not_found', message: `no ${req.method}` } }),
};

/** Resolves on the next `type` event of the SDK client. */
function next(sdk: HubClient, type: 'connected' | 'disconnected'): Promise<void> {
  return new Promise((resolve) => {
    const off = sdk.on(type, () => {
      off();
      resolve();
    });
  });
}

describe.each(['ws', 'uws'] as TransportName[])('server-side subscriptions over %s', (transport) => {
  let hub: TestHub;
  const clients: HubTestClient[] = [];
  const sdks: HubClient[] = [];

  beforeAll(async () => {
    hub = await startTestHub(transport, config, { hooks });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await Promise.all(sdks.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await hub.close();
  });

  async function open(): Promise<HubTestClient> {
    const c = await HubTestClient.open(hub.url, { connect: false });
    clients.push(c);
    return c;
  }

  async function api(path: string, body: unknown): Promise<Frame> {
    const res = await fetch(`http://127.0.0.1:${hub.port}/api/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Frame;
    if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  const dataOf = (c: HubTestClient, channel: string) => c.pushesOf('pub', channel).map((p) => p.data);

  it('subscribes to the channels the connect hook names, and recovers them from the positions sent at connect', async () => {
    const c = await open();
    const reply = await c.call('connect', { name: 'alice' });
    const subs = reply.subs as Record<string, { offset: number; epoch: string }>;
    // The channel the hub cannot serve is left out; the personal channel is there.
    expect(Object.keys(subs).sort()).toEqual(['news:alice', 'personal:alice']);
    await api('publish', { channel: 'news:alice', data: 1 });
    await c.until(() => dataOf(c, 'news:alice').length === 1);
    await expectCode(c.call('unsubscribe', { channel: 'news:alice' }), 'forbidden');
    c.terminate();
    await api('publish', { channel: 'news:alice', data: 2 });
    await api('publish', { channel: 'news:alice', data: 3 });
    const again = await open();
    const { epoch } = subs['news:alice'] as { epoch: string };
    const recovered = await again.call('connect', { name: 'alice', subs: { 'news:alice': { offset: 1, epoch } } });
    const news = (recovered.subs as Record<string, { recovered: boolean; publications: { data: unknown }[] }>)['news:alice'];
    expect(news?.recovered).toBe(true);
    expect(news?.publications.map((p) => p.data)).toEqual([2, 3]);
    await api('publish', { channel: 'news:alice', data: 4 });
    await again.until(() => dataOf(again, 'news:alice').length === 1);
    expect(dataOf(again, 'news:alice')).toEqual([4]);
  });

  it("subscribes to the token's channels claim", async () => {
    const token = await new SignJWT({ sub: 'bob', channels: ['alerts:ops'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    const c = await open();
    const reply = await c.call('connect', { token });
    expect(Object.keys(reply.subs as object).sort()).toEqual(['alerts:ops', 'personal:bob']);
    await api('publish', { channel: 'alerts:ops', data: 'disk full' });
    await c.until(() => dataOf(c, 'alerts:ops').length === 1);
  });

  it("POST /api/publish {user} reaches every connection of that user through the personal channel, and nobody else's", async () => {
    const tab1 = await open();
    const tab2 = await open();
    const other = await open();
    await Promise.all([tab1.call('connect', { name: 'carol' }), tab2.call('connect', { name: 'carol' }), other.call('connect', { name: 'dave' })]);
    const ack = await api('publish', { user: 'carol', data: { note: 'your order shipped' } });
    expect(ack).toMatchObject({ channel: 'personal:carol', offset: 1 });
    await tab1.until(() => dataOf(tab1, 'personal:carol').length === 1);
    await tab2.until(() => dataOf(tab2, 'personal:carol').length === 1);
    await other.call('ping');
    expect(other.pushesOf('pub')).toEqual([]);
  });

  it('POST /api/subscribe and /api/unsubscribe change the live connections of a user', async () => {
    const c = await open();
    await c.call('connect', { name: 'erin' });
    await api('subscribe', { user: 'erin', channel: 'news:live' });
    await c.until(() => c.pushesOf('subscribed', 'news:live').length === 1);
    expect(c.pushesOf('subscribed', 'news:live')[0]).toMatchObject({ offset: 0 });
    await api('publish', { channel: 'news:live', data: 'a' });
    await c.until(() => dataOf(c, 'news:live').length === 1);
    await api('unsubscribe', { user: 'erin', channel: 'news:live' });
    await c.until(() => c.pushesOf('unsubscribed', 'news:live').length === 1);
    await api('publish', { channel: 'news:live', data: 'b' });
    await c.call('ping');
    expect(dataOf(c, 'news:live')).toEqual(['a']);
    await expect(api('subscribe', { channel: 'news:x' })).rejects.toThrow(/400/);
  });

  it('the SDK emits server-side publications once each, in order, across a reconnect, and answers rpc', async () => {
    const sdk = new HubClient(hub.url, { WebSocket, name: 'frank', reconnect: { minDelayMs: 200, maxDelayMs: 300 } });
    sdks.push(sdk);
    const got: Message[] = [];
    sdk.on('publication', (m) => got.push(m));
    await next(sdk, 'connected');
    await api('publish', { user: 'frank', data: 1 });
    await expect.poll(() => got.length).toBe(1);
    const down = next(sdk, 'disconnected');
    await api('disconnect', { user: 'frank', reconnect: true });
    await down;
    await api('publish', { user: 'frank', data: 2 });
    await api('publish', { user: 'frank', data: 3 });
    await next(sdk, 'connected');
    await api('publish', { user: 'frank', data: 4 });
    await expect.poll(() => got.length).toBe(4);
    expect(got.map((m) => [m.channel, m.offset, m.data])).toEqual([1, 2, 3, 4].map((n) => ['personal:frank', n, n]));
    expect(await sdk.rpc('echo', { a: [1] })).toEqual({ a: [1] });
    await expect(sdk.rpc('nope')).rejects.toMatchObject({ code: 'not_found' });
  });
});

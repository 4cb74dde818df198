// The Pusher protocol with clients nobody here wrote: pusher-js connects to /app/<key>, an auth
// endpoint signs with the `pusher` server SDK, over both transports, against a hubbub process.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { API_KEY, APP, next, type PusherHub, startPusherHub, until } from '../helpers/pusher.js';

/** A bare WebSocket on the Pusher endpoint, with every message it got and how it closed. */
async function rawPusher(port: number, query = '?protocol=7&client=js&version=8.4.0') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${APP.key}${query}`);
  const messages: { event: string; data: unknown; channel?: string }[] = [];
  let closed: { code: number; reason: string } | undefined;
  ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString()) as { event: string; data: unknown }));
  ws.on('close', (code: number, reason: Buffer) => (closed = { code, reason: reason.toString() }));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return { ws, messages, closed: () => closed };
}

async function apiPublish(port: number, channel: string, data: unknown): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/api/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  expect(res.status).toBe(200);
}

describe.each(['ws', 'uws'] as const)('Pusher protocol over %s', (transport) => {
  let h: PusherHub;
  beforeAll(async () => {
    h = await startPusherHub(transport);
  }, 40_000);
  afterAll(async () => {
    await h?.close();
  });

  it('connects pusher-js with a socket id like 123.456', async () => {
    const p = await h.client();
    expect(p.connection.socket_id).toMatch(/^\d+\.\d+$/);
    p.disconnect();
  });

  it('answers pusher:ping with pusher:pong and announces its activity timeout', async () => {
    const c = await rawPusher(h.port);
    await until(() => c.messages.length === 1, 'connection_established');
    const established = c.messages[0] as { event: string; data: string };
    expect(established.event).toBe('pusher:connection_established');
    expect(JSON.parse(established.data)).toMatchObject({ socket_id: expect.stringMatching(/^\d+\.\d+$/), activity_timeout: 120 });
    c.ws.send(JSON.stringify({ event: 'pusher:ping', data: {} }));
    await until(() => c.messages.length === 2, 'pong');
    expect(c.messages[1]?.event).toBe('pusher:pong');
    c.ws.close();
  });

  it('answers a broken message with pusher:error and keeps the connection; closes on a binary frame with 4009', async () => {
    const c = await rawPusher(h.port);
    c.ws.send('{not json');
    await until(() => c.messages.some((m) => m.event === 'pusher:error'), 'pusher:error');
    c.ws.send(JSON.stringify({ event: 'pusher:ping', data: {} }));
    await until(() => c.messages.some((m) => m.event === 'pusher:pong'), 'pong after the error');
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await until(() => c.closed() !== undefined, 'close');
    expect(c.closed()?.code).toBe(4009);
  });

  it('refuses a protocol version it does not speak with 4007', async () => {
    const c = await rawPusher(h.port, '?protocol=3');
    await until(() => c.closed() !== undefined, 'close');
    expect(c.closed()?.code).toBe(4007);
    expect(c.messages[0]).toMatchObject({ event: 'pusher:error', data: { code: 4007 } });
  });

  it('refuses an unknown app key with 4001, and pusher-js stops reconnecting', async () => {
    const p = h.raw('no-such-key');
    const states: string[] = [];
    p.connection.bind('state_change', (s: { current: string }) => states.push(s.current));
    const error = (await next(p.connection, 'error')) as { error?: { data?: { code?: number; message?: string } } };
    expect(error.error?.data?.code).toBe(4001);
    expect(error.error?.data?.message).toMatch(/no app with key/);
    // 4000-4099 mean "do not reconnect": pusher-js gives up instead of trying again.
    await until(() => states.includes('failed') || states.includes('disconnected'), `a final state (${states.join(',')})`);
    expect(states.filter((s) => s === 'connecting').length).toBeLessThanOrEqual(1);
    p.disconnect();
  });

  it('delivers a server event to a public channel subscriber, with its event name and data', async () => {
    const p = await h.client();
    const ch = p.subscribe('news');
    await next(ch, 'pusher:subscription_succeeded');
    const got = next(ch, 'headline');
    await apiPublish(h.port, 'pusher_app1:news', { event: 'headline', data: JSON.stringify({ title: 'hello' }) });
    expect(await got).toEqual({ title: 'hello' });
    p.disconnect();
  });

  it('keeps apps apart: a channel of the same name in another app hears nothing', async () => {
    const p = await h.client();
    const other = h.raw('app2-key');
    await until(() => other.connection.state === 'connected', 'app2 client connected');
    const mine = p.subscribe('shared');
    const theirs = other.subscribe('shared');
    await Promise.all([next(mine, 'pusher:subscription_succeeded'), next(theirs, 'pusher:subscription_succeeded')]);
    const heard: unknown[] = [];
    theirs.bind('ev', (d: unknown) => heard.push(d));
    const got = next(mine, 'ev');
    await apiPublish(h.port, 'pusher_app1:shared', { event: 'ev', data: '1' });
    expect(await got).toBe(1);
    // app2 published afterwards and app2's client heard only that one.
    await apiPublish(h.port, 'pusher_app2:shared', { event: 'ev', data: '2' });
    await until(() => heard.length > 0, 'app2 event');
    expect(heard).toEqual([2]);
    p.disconnect();
    other.disconnect();
  });

  it('subscribes to a private channel with a signature from the auth endpoint, and refuses a forged one', async () => {
    const p = await h.client();
    const ok = p.subscribe('private-room');
    await next(ok, 'pusher:subscription_succeeded');
    const forged = await h.client('mallory', {
      channelAuthorization: {
        endpoint: 'unused',
        transport: 'ajax',
        customHandler: (_params, callback) => callback(null, { auth: `app1-key:${'0'.repeat(64)}` }),
      },
    });
    const refused = forged.subscribe('private-room');
    const error = (await next(refused, 'pusher:subscription_error')) as { status?: number; type?: string };
    expect(error.status).toBe(401);
    p.disconnect();
    forged.disconnect();
  });

  it('relays client events on a private channel to the others, never back to the sender', async () => {
    const [a, b] = await Promise.all([h.client('alice'), h.client('bob')]);
    const chA = a.subscribe('private-chat');
    const chB = b.subscribe('private-chat');
    await Promise.all([next(chA, 'pusher:subscription_succeeded'), next(chB, 'pusher:subscription_succeeded')]);
    const echoed: unknown[] = [];
    chA.bind('client-typing', (d: unknown) => echoed.push(d));
    const got = next(chB, 'client-typing');
    expect(chA.trigger('client-typing', { who: 'alice' })).toBe(true);
    expect(await got).toEqual({ who: 'alice' });
    // A second event from bob reaches alice: by then alice's own event would have come back to her.
    const back = next(chA, 'client-typing');
    chB.trigger('client-typing', { who: 'bob' });
    expect(await back).toEqual({ who: 'bob' });
    expect(echoed).toEqual([{ who: 'bob' }]);
    a.disconnect();
    b.disconnect();
  });

  it('refuses client events on a public channel and past the rate limit with pusher:error', async () => {
    const p = await h.client();
    const pub = p.subscribe('lobby');
    await next(pub, 'pusher:subscription_succeeded');
    const errors: { code?: number | null; message?: string }[] = [];
    p.connection.bind('error', (e: { data?: { code?: number | null; message?: string } }) => {
      if (e.data !== undefined) errors.push(e.data);
    });
    pub.trigger('client-x', {});
    await until(() => errors.length === 1, 'an error for the public channel');
    expect(errors[0]?.message).toMatch(/private and presence/);
    const priv = p.subscribe('private-fast');
    await next(priv, 'pusher:subscription_succeeded');
    for (let i = 0; i < 15; i++) priv.trigger('client-burst', { i });
    await until(() => errors.some((e) => e.code === 4301), 'a 4301 rate-limit error');
    expect(p.connection.state).toBe('connected');
    p.disconnect();
  });

  it('tells presence members who is there, and who joins and leaves (by user, not by tab)', async () => {
    const alice = await h.client('alice');
    const chA = alice.subscribe('presence-team') as unknown as PresenceLike;
    const first = (await next(chA, 'pusher:subscription_succeeded')) as { count: number; me: { id: string } };
    expect(first.count).toBe(1);
    expect(first.me.id).toBe('alice');
    const added = next(chA, 'pusher:member_added');
    const bob = await h.client('bob');
    const chB = bob.subscribe('presence-team') as unknown as PresenceLike;
    const members = (await next(chB, 'pusher:subscription_succeeded')) as { count: number; each(cb: (m: { id: string; info: unknown }) => void): void };
    const seen: { id: string; info: unknown }[] = [];
    members.each((m) => seen.push(m));
    expect(seen.map((m) => m.id).sort()).toEqual(['alice', 'bob']);
    expect(seen.find((m) => m.id === 'alice')?.info).toEqual({ name: 'alice' });
    expect(await added).toMatchObject({ id: 'bob', info: { name: 'bob' } });
    // A second tab of bob's is no new member; closing one of two tabs removes nobody.
    const joins: unknown[] = [];
    chA.bind('pusher:member_added', (m: unknown) => joins.push(m));
    const bob2 = await h.client('bob');
    await next(bob2.subscribe('presence-team'), 'pusher:subscription_succeeded');
    const removed = next(chA, 'pusher:member_removed');
    bob2.disconnect();
    bob.disconnect();
    expect(await removed).toMatchObject({ id: 'bob' });
    expect(joins).toEqual([]);
    expect(chA.members.count).toBe(1);
    alice.disconnect();
  });

  it('stops delivering after pusher:unsubscribe', async () => {
    const p = await h.client();
    const watcher = await h.client('watcher');
    const ch = p.subscribe('ticker');
    const wch = watcher.subscribe('ticker');
    await Promise.all([next(ch, 'pusher:subscription_succeeded'), next(wch, 'pusher:subscription_succeeded')]);
    const heard: unknown[] = [];
    ch.bind('tick', (d: unknown) => heard.push(d));
    p.unsubscribe('ticker');
    // The hub runs a connection's messages in order: a later subscribe's answer means the unsubscribe is done.
    await next(p.subscribe('after-ticker'), 'pusher:subscription_succeeded');
    const wgot = next(wch, 'tick');
    await apiPublish(h.port, 'pusher_app1:ticker', { event: 'tick', data: '1' });
    await wgot;
    expect(heard).toEqual([]);
    p.disconnect();
    watcher.disconnect();
  });
});

interface PresenceLike {
  bind(event: string, cb: (data: unknown) => void): unknown;
  unbind(event: string, cb: (data: unknown) => void): unknown;
  members: { count: number };
}

// Pusher's HTTP API through the `pusher` server SDK, against a hubbub process, with pusher-js
// clients on the receiving end, over both transports.

import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, next, type PusherHub, startPusherHub, until } from '../helpers/pusher.js';

/** A POST signed as the SDKs sign it, with any body text (the SDK itself drops a null body). */
function signedPost(port: number, route: string, body: string): Promise<Response> {
  const path = `/apps/${APP.id}${route}`;
  const md5 = createHash('md5').update(body).digest('hex');
  const query = `auth_key=${APP.key}&auth_timestamp=${Math.floor(Date.now() / 1000)}&auth_version=1.0&body_md5=${md5}`;
  const signature = createHmac('sha256', APP.secret).update(`POST\n${path}\n${query}`).digest('hex');
  return fetch(`http://127.0.0.1:${port}${path}?${query}&auth_signature=${signature}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
}

describe.each(['ws', 'uws'] as const)('Pusher HTTP API over %s', (transport) => {
  let h: PusherHub;
  beforeAll(async () => {
    h = await startPusherHub(transport);
  }, 40_000);
  afterAll(async () => {
    await h?.close();
  });

  it('triggers an event on several channels at once', async () => {
    const p = await h.client();
    const a = p.subscribe('api-a');
    const b = p.subscribe('api-b');
    await Promise.all([next(a, 'pusher:subscription_succeeded'), next(b, 'pusher:subscription_succeeded')]);
    const got = Promise.all([next(a, 'greet'), next(b, 'greet')]);
    const res = await h.sdk().trigger(['api-a', 'api-b'], 'greet', { hello: 'world' });
    expect(res.status).toBe(200);
    expect(await got).toEqual([{ hello: 'world' }, { hello: 'world' }]);
    p.disconnect();
  });

  it('leaves out the socket named by socket_id, in trigger and in batches', async () => {
    const [a, b] = await Promise.all([h.client('a'), h.client('b')]);
    const chA = a.subscribe('excl');
    const chB = b.subscribe('excl');
    await Promise.all([next(chA, 'pusher:subscription_succeeded'), next(chB, 'pusher:subscription_succeeded')]);
    const heardA: unknown[] = [];
    chA.bind('e', (d: unknown) => heardA.push(d));
    const heardB: unknown[] = [];
    chB.bind('e', (d: unknown) => heardB.push(d));
    await h.sdk().trigger('excl', 'e', 1, { socket_id: a.connection.socket_id });
    await h.sdk().triggerBatch([{ channel: 'excl', name: 'e', data: 2, socket_id: a.connection.socket_id }]);
    await h.sdk().trigger('excl', 'e', 3);
    await until(() => heardB.length === 3 && heardA.length === 1, `B all three, A the last (A ${heardA.length}, B ${heardB.length})`);
    expect(heardA).toEqual([3]);
    expect(heardB).toEqual([1, 2, 3]);
    a.disconnect();
    b.disconnect();
  });

  it('lists occupied channels, one channel, and the users of a presence channel', async () => {
    const [alice, bob, bob2] = await Promise.all([h.client('alice'), h.client('bob'), h.client('bob')]);
    await Promise.all([
      next(alice.subscribe('presence-room'), 'pusher:subscription_succeeded'),
      next(bob.subscribe('presence-room'), 'pusher:subscription_succeeded'),
      next(bob2.subscribe('presence-room'), 'pusher:subscription_succeeded'),
      next(alice.subscribe('listed'), 'pusher:subscription_succeeded'),
    ]);
    const sdk = h.sdk();
    const all = (await (await sdk.get({ path: '/channels' })).json()) as { channels: Record<string, unknown> };
    expect(Object.keys(all.channels)).toEqual(expect.arrayContaining(['presence-room', 'listed']));
    const presence = await (await sdk.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json();
    expect(presence).toEqual({ channels: { 'presence-room': { user_count: 2 } } });
    const one = await (await sdk.get({ path: '/channels/presence-room', params: { info: 'user_count,subscription_count' } })).json();
    expect(one).toEqual({ occupied: true, user_count: 2, subscription_count: 3 });
    const empty = await (await sdk.get({ path: '/channels/nobody-here' })).json();
    expect(empty).toEqual({ occupied: false });
    const users = (await (await sdk.get({ path: '/channels/presence-room/users' })).json()) as { users: { id: string }[] };
    expect(users.users.map((u) => u.id).sort()).toEqual(['alice', 'bob']);
    alice.disconnect();
    bob.disconnect();
    bob2.disconnect();
  });

  it('refuses a wrong secret, a stale timestamp and a changed body with 401, bad input with 400 and big data with 413', async () => {
    const wrong = h.sdk({ ...APP, secret: 'not-the-secret-0123456789' });
    await expect(wrong.trigger('x', 'e', {})).rejects.toMatchObject({ status: 401 });
    await expect(wrong.get({ path: '/channels' })).rejects.toMatchObject({ status: 401 });
    const sdk = h.sdk();
    // The SDK's types say a string, but it JSON-encodes whatever it is given: an object is what it sends as is.
    const body = (b: unknown) => b as string;
    await expect(sdk.post({ path: '/events', body: body({ name: 'e', data: '{}', channels: ['bad channel!'] }) })).rejects.toMatchObject({ status: 400 });
    await expect(sdk.post({ path: '/batch_events', body: body({ batch: [] }) })).rejects.toMatchObject({ status: 400 });
    // Regression (found by the fuzz): a body of JSON null was read as an object and answered 500.
    expect((await signedPost(h.port, '/batch_events', 'null')).status).toBe(400);
    expect((await signedPost(h.port, '/events', 'null')).status).toBe(400);
    await expect(sdk.trigger('x', 'e', 'y'.repeat(11 * 1024))).rejects.toMatchObject({ status: 413 });
    await expect(sdk.get({ path: '/channels/news/users' })).rejects.toMatchObject({ status: 400 });
    // An old timestamp is refused even with a right signature: a captured request cannot be replayed later.
    const stale = await fetch(`http://127.0.0.1:${h.port}/apps/${APP.id}/channels?auth_key=${APP.key}&auth_timestamp=1&auth_version=1.0&auth_signature=x`);
    expect(stale.status).toBe(401);
    const unknownApp = await fetch(`http://127.0.0.1:${h.port}/apps/nope/channels`);
    expect(unknownApp.status).toBe(404);
    // A body changed after signing: the signature still matches its query, but body_md5 does not.
    const signed = '{"name":"e","data":"1","channels":["news"]}';
    const path = `/apps/${APP.id}/events`;
    const query = `auth_key=${APP.key}&auth_timestamp=${Math.floor(Date.now() / 1000)}&auth_version=1.0&body_md5=${createHash('md5').update(signed).digest('hex')}`;
    const signature = createHmac('sha256', APP.secret).update(`POST\n${path}\n${query}`).digest('hex');
    const url = `http://127.0.0.1:${h.port}${path}?${query}&auth_signature=${signature}`;
    const post = (body: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect((await post(signed)).status).toBe(200);
    expect((await post(signed.replace('"1"', '"2"'))).status).toBe(401);
  });

  it('terminates every connection of a user, and pusher-js does not reconnect', async () => {
    const carol = await h.client('carol');
    const other = await h.client('dave');
    await Promise.all([
      next(carol.subscribe('presence-lounge'), 'pusher:subscription_succeeded'),
      next(other.subscribe('presence-lounge'), 'pusher:subscription_succeeded'),
    ]);
    const states: string[] = [];
    carol.connection.bind('state_change', (s: { current: string }) => states.push(s.current));
    const res = await h.sdk().terminateUserConnections('carol');
    expect(res.status).toBe(200);
    await until(() => states.includes('disconnected') || states.includes('failed'), `carol closed (${states.join(',')})`);
    expect(states).not.toContain('connected');
    expect(other.connection.state).toBe('connected');
    carol.disconnect();
    other.disconnect();
  });
});

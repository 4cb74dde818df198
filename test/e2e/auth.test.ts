// The security matrix over real sockets: every way a token can be wrong gets its exact code and
// close code, capabilities decide what a connection may do by channel pattern, anonymous access
// only where configured, origins checked at the upgrade; and nothing reaches a party that may not
// see it.

import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ConfigInput } from '../../src/config/index.js';
import { expectCode, HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub, type TransportName } from '../helpers/hub-server.js';

const SECRET = 'a-test-secret-that-is-32-chars-long!';
const secretKey = new TextEncoder().encode(SECRET);
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPublicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();

const namespaces: ConfigInput['namespaces'] = {
  chat: { clientPublish: true, presence: true, history: { size: 10 } },
  news: { clientPublish: true },
  open: { public: true, history: { size: 10 }, presence: true },
};

const now = () => Math.floor(Date.now() / 1000);

interface Claims {
  sub?: string;
  caps?: Record<string, string[]>;
  info?: unknown;
  exp?: number;
  nbf?: number;
  aud?: string;
}

async function hs256(claims: Claims, key: Uint8Array = secretKey): Promise<string> {
  const { exp = now() + 3600, nbf, aud, ...rest } = claims;
  let jwt = new SignJWT({ sub: 'alice', ...rest }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(exp);
  if (nbf !== undefined) jwt = jwt.setNotBefore(nbf);
  if (aud !== undefined) jwt = jwt.setAudience(aud);
  return jwt.sign(key);
}

const hubs: TestHub[] = [];
const clients: HubTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const h of hubs.splice(0)) await h.close();
});

async function hub(transport: TransportName, config: ConfigInput = {}): Promise<TestHub> {
  const h = await startTestHub(transport, { namespaces, ...config, auth: { hmacSecret: SECRET, ...config.auth } });
  hubs.push(h);
  return h;
}

async function open(h: TestHub, headers: Record<string, string> = {}): Promise<HubTestClient> {
  const c = await HubTestClient.open(h.url, { connect: false, headers });
  clients.push(c);
  return c;
}

/** Connects with `token`; resolves with the client, connected. */
async function connectAs(h: TestHub, token: string | undefined): Promise<HubTestClient> {
  const c = await open(h);
  await c.call('connect', token === undefined ? {} : { token });
  return c;
}

/** Connect must fail with `code`, and the server must then close with `closeCode`. */
async function refused(h: TestHub, token: string | undefined, code: string, closeCode: number): Promise<void> {
  const c = await open(h);
  await expectCode(c.call('connect', token === undefined ? {} : { token }), code);
  expect((await c.closed).code).toBe(closeCode);
}

describe.each(['ws', 'uws'] as const)('auth over %s', (transport) => {
  it('refuses each kind of bad token with its code and close code', async () => {
    const h = await hub(transport, { auth: { clockToleranceSec: 0, audience: 'hubbub' } });
    const valid = await hs256({ aud: 'hubbub' });
    await connectAs(h, valid);
    await refused(h, undefined, 'unauthorized', 4102);
    await refused(h, await hs256({ aud: 'hubbub' }, new TextEncoder().encode('another-secret-of-32-characters!!')), 'unauthorized', 4102);
    await refused(h, new UnsecuredJWT({ sub: 'alice' }).setExpirationTime('1h').setAudience('hubbub').encode(), 'unauthorized', 4102);
    await refused(h, await hs256({ aud: 'hubbub', exp: now() - 60 }), 'token_expired', 4005);
    await refused(h, await hs256({ aud: 'hubbub', nbf: now() + 600 }), 'unauthorized', 4102);
    await refused(h, await hs256({ aud: 'someone-else' }), 'unauthorized', 4102);
    await refused(h, 'not.a.jwt', 'unauthorized', 4102);
    await refused(h, await hs256({ aud: 'hubbub', caps: { 'chat:*': ['fly'] } }), 'unauthorized', 4102);
    const noExp = await new SignJWT({ sub: 'alice', aud: 'hubbub' }).setProtectedHeader({ alg: 'HS256' }).sign(secretKey);
    await refused(h, noExp, 'unauthorized', 4102);
  });

  it('with a public key, refuses an HS256 token signed with that public key as the secret', async () => {
    const h = await startTestHub(transport, { namespaces, auth: { publicKey: rsaPublicPem } });
    hubs.push(h);
    const rs256 = await new SignJWT({ sub: 'bob' })
      .setProtectedHeader({ alg: 'RS256' })
      .setExpirationTime('1h')
      .sign(rsa.privateKey);
    expect(await (await connectAs(h, rs256)).call('ping')).toEqual({});
    const confused = await hs256({ sub: 'mallory' }, new TextEncoder().encode(rsaPublicPem));
    await refused(h, confused, 'unauthorized', 4102);
  });

  it('grants what capabilities name, by pattern, and delivers nothing to a connection without them', async () => {
    const h = await hub(transport);
    const writer = await connectAs(h, await hs256({ sub: 'w', caps: { 'chat:*': ['subscribe', 'publish', 'presence', 'history'] } }));
    const reader = await connectAs(h, await hs256({ sub: 'r', caps: { 'chat:lobby': ['subscribe'] } }));
    const stranger = await connectAs(h, await hs256({ sub: 's', caps: { 'news:*': ['subscribe'] } }));

    await writer.call('subscribe', { channel: 'chat:secret' });
    await reader.call('subscribe', { channel: 'chat:lobby' });
    await expectCode(reader.call('subscribe', { channel: 'chat:secret' }), 'forbidden');
    await expectCode(stranger.call('subscribe', { channel: 'chat:lobby' }), 'forbidden');
    await expectCode(writer.call('subscribe', { channel: 'news:today' }), 'forbidden');
    await expectCode(reader.call('publish', { channel: 'chat:lobby', data: 'hi' }), 'forbidden');
    await expectCode(reader.call('history', { channel: 'chat:lobby' }), 'forbidden');
    await expectCode(reader.call('presence', { channel: 'chat:lobby' }), 'forbidden');

    await writer.call('publish', { channel: 'chat:secret', data: 'for w only' });
    await writer.call('publish', { channel: 'chat:lobby', data: 'for everyone in lobby' });
    await reader.until(() => reader.pushesOf('pub').length === 1);
    await writer.until(() => writer.pushesOf('pub').length === 1);
    expect(reader.pushesOf('pub').map((p) => p.data)).toEqual(['for everyone in lobby']);
    expect(writer.pushesOf('pub').map((p) => p.data)).toEqual(['for w only']);
    // The stranger got nothing at all but its replies.
    await stranger.call('ping');
    expect(stranger.pushes).toEqual([]);

    const { members } = await writer.call('presence', { channel: 'chat:secret' });
    expect(members).toEqual([expect.objectContaining({ user: 'w' })]);
    const metrics = await (await fetch(`http://127.0.0.1:${h.port}/metrics`)).text();
    expect(metrics).toMatch(/hubbub_forbidden_total\{action="subscribe"\} 3/);
  });

  it('lets anyone read a public namespace but publish only with a capability', async () => {
    const h = await hub(transport, { auth: { anonymous: { allowed: true } } });
    const anon = await connectAs(h, undefined);
    expect(await anon.call('subscribe', { channel: 'open:board' })).toMatchObject({ offset: 0 });
    expect(await anon.call('history', { channel: 'open:board' })).toMatchObject({ publications: [] });
    await expectCode(anon.call('publish', { channel: 'open:board', data: 1 }), 'forbidden');
    await expectCode(anon.call('subscribe', { channel: 'chat:lobby' }), 'forbidden');
  });

  it('gives anonymous connections their own capabilities where allowed, and refuses them where not', async () => {
    const allowing = await hub(transport, { auth: { anonymous: { allowed: true, caps: { 'news:*': ['subscribe', 'publish'] } } } });
    const anon = await connectAs(allowing, undefined);
    const result = await anon.call('publish', { channel: 'news:today', data: 'extra' });
    expect(result).toMatchObject({ offset: 1 });
    await expectCode(anon.call('subscribe', { channel: 'chat:lobby' }), 'forbidden');

    const strict = await hub(transport);
    await refused(strict, undefined, 'unauthorized', 4102);
  });

  it('shows the token user and info in presence and on publications', async () => {
    const h = await hub(transport);
    const caps = { 'chat:*': ['subscribe', 'publish', 'presence'] };
    const a = await connectAs(h, await hs256({ sub: 'ann', caps, info: { name: 'Ann' } }));
    const connect = await (await open(h)).call('connect', { token: await hs256({ sub: 'ann', caps }) });
    expect(connect).toMatchObject({ user: 'ann', expiresAt: expect.any(Number) });
    await a.call('subscribe', { channel: 'chat:room' });
    expect((await a.call('presence', { channel: 'chat:room' })).members).toEqual([
      { client: expect.any(String), user: 'ann', info: { name: 'Ann' } },
    ]);
    await a.call('publish', { channel: 'chat:room', data: 'x' });
    await a.until(() => a.pushesOf('pub').length === 1);
    expect(a.pushesOf('pub')[0]?.from).toMatchObject({ user: 'ann' });
  });

  it('warns before expiry, accepts a refreshed token for the same user, and closes with 4005 when none comes', async () => {
    const h = await hub(transport, { auth: { clockToleranceSec: 0, refreshBeforeMs: 1500 } });
    const caps = { 'chat:*': ['subscribe'] };
    const soon = () => hs256({ sub: 'ann', caps, exp: now() + 2 });
    const refreshing = await connectAs(h, await soon());
    const lapsing = await connectAs(h, await soon());
    const refused = await connectAs(h, await soon());
    await refreshing.until(() => refreshing.pushesOf('expiring').length === 1, 5000, 'expiring push');
    // A refresh for another user is refused, and the connection closed with 4102 as documented.
    await expectCode(refused.call('refresh', { token: await hs256({ sub: 'bob', caps }) }), 'unauthorized');
    expect((await refused.closed).code).toBe(4102);
    const later = await hs256({ sub: 'ann', caps, exp: now() + 3600 });
    expect(await refreshing.call('refresh', { token: later })).toMatchObject({ expiresAt: expect.any(Number) });
    expect((await lapsing.closed).code).toBe(4005);
    // Still open well past the first token's expiry.
    expect(await refreshing.call('subscribe', { channel: 'chat:x' })).toMatchObject({ offset: 0 });
  });

  it('drops subscriptions a refreshed token no longer allows, and delivers nothing more on them', async () => {
    const h = await hub(transport);
    const both = { 'chat:a': ['subscribe'], 'chat:b': ['subscribe'] };
    const c = await connectAs(h, await hs256({ sub: 'ann', caps: both }));
    const writer = await connectAs(h, await hs256({ sub: 'w', caps: { 'chat:*': ['publish'] } }));
    await c.call('subscribe', { channel: 'chat:a' });
    await c.call('subscribe', { channel: 'chat:b' });
    await c.call('refresh', { token: await hs256({ sub: 'ann', caps: { 'chat:a': ['subscribe'] } }) });
    expect(c.pushesOf('resubscribe')).toEqual([expect.objectContaining({ channel: 'chat:b' })]);
    await expectCode(c.call('subscribe', { channel: 'chat:b' }), 'forbidden');
    await writer.call('publish', { channel: 'chat:b', data: 'revoked' });
    await writer.call('publish', { channel: 'chat:a', data: 'kept' });
    await c.until(() => c.pushesOf('pub').length === 1);
    await c.call('ping');
    expect(c.pushesOf('pub').map((p) => p.data)).toEqual(['kept']);
  });

  it('refuses a browser from a foreign origin at the upgrade with 403, and lets listed ones and non-browsers in', async () => {
    const h = await startTestHub(transport, {
      namespaces,
      server: { allowedOrigins: ['https://app.example.com', 'https://*.example.org'] },
    });
    hubs.push(h);
    const status = (origin: string) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(h.url, { headers: { origin } });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', reject);
      });
    expect(await status('https://evil.example.net')).toBe(403);
    expect(await status('https://app.example.com.evil.net')).toBe(403);
    expect(await status('https://app.example.com')).toBe(101);
    expect(await status('https://eu.example.org')).toBe(101);
    await (await open(h)).call('connect');
  });
});

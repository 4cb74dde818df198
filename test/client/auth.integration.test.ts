// The SDK's token handling against the real hub with JWT auth on (HS256): the token function
// before every connect, a refresh on the `expiring` push, a fresh token at once after an expiry
// (at connect, or 4005 on a live connection), and a stop on a refused or static expired token.

import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type DisconnectInfo, HubClient, type HubClientOptions, type HubError } from '../../client/src/index.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';
import { argsOf, Signal, watch } from './wait.js';

const SECRET = 'a-test-secret-of-at-least-32-characters';

/** A token for `sub` expiring `expiresInSec` from now (negative: already expired). */
function token(sub: string, expiresInSec: number, secret = SECRET): Promise<string> {
  return new SignJWT({ caps: { '*': ['subscribe', 'publish', 'presence', 'history', 'incr'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSec)
    .sign(new TextEncoder().encode(secret));
}

describe.each(['ws', 'uws'] as const)('HubClient with JWT auth over %s', (transport) => {
  let hub: TestHub;
  const clients: HubClient[] = [];
  const signal = new Signal();

  function client(options: HubClientOptions) {
    const c = new HubClient(hub.url, { WebSocket, reconnect: { minDelayMs: 20, maxDelayMs: 100 }, ...options });
    clients.push(c);
    const events = watch(signal, c, 'state', 'connected', 'disconnected', 'error');
    return { c, events };
  }

  beforeAll(async () => {
    hub = await startTestHub(transport, {
      // Tokens of a minute are told they expire within a second (exp is in whole seconds), so a
      // test sees renewals.
      auth: { hmacSecret: SECRET, clockToleranceSec: 0, refreshBeforeMs: 59_000 },
    });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await hub.close();
  });

  it('connects as the token subject and renews the token on the live connection when told it expires', async () => {
    let calls = 0;
    const { c, events } = client({
      token: () => {
        calls++;
        signal.notify();
        // Short-lived: the hub warns halfway through a token's life when that comes before
        // refreshBeforeMs ahead of its expiry.
        return token('alice', 3);
      },
    });
    await signal.until(() => c.state === 'connected');
    expect(c.info).toMatchObject({ user: 'alice' });
    const firstExpiry = c.info?.expiresAt ?? 0;
    expect(firstExpiry).toBeGreaterThan(Date.now());
    // The hub warns again only once a refresh was accepted (it sets the new expiry): a third call
    // of the token function means the second token was taken on the live connection.
    await signal.until(() => calls >= 3, 5000, 'a renewal');
    expect(c.info?.expiresAt).toBeGreaterThan(firstExpiry);
    const sub = c.subscribe('chat:auth');
    await sub.ready;
    expect(argsOf(events, 'disconnected')).toEqual([]);
    expect(argsOf(events, 'error')).toEqual([]);
    expect(argsOf(events, 'connected')).toHaveLength(1);
  });

  it('fetches a fresh token and reconnects at once when the token expired before connect', async () => {
    const tokens = [token('bob', -60), token('bob', 60)];
    const { c, events } = client({ token: () => tokens.shift() ?? token('bob', 60) });
    await signal.until(() => c.state === 'connected', 5000, 'connected with the fresh token');
    expect(argsOf<DisconnectInfo>(events, 'disconnected').map((d) => [d.code, d.delayMs])).toEqual([[4005, 0]]);
    expect(c.info?.user).toBe('bob');
  });

  it('reconnects with a fresh token when the live connection is closed for an expired token (4005)', async () => {
    // The first token lives a second or two and is handed out again when the hub warns: the SDK
    // does not send the same token as a refresh, so the hub ends the connection at its expiry;
    // the next token is good for a minute.
    const short = token('carol', 2);
    let calls = 0;
    const { c, events } = client({ token: () => (++calls <= 2 ? short : token('carol', 60)) });
    const sub = c.subscribe('chat:expiry');
    const subscribed = watch(signal, sub, 'subscribed');
    await sub.ready;
    await signal.until(() => argsOf(subscribed, 'subscribed').length === 2, 5000, 'resubscribed after the expiry');
    expect(argsOf<DisconnectInfo>(events, 'disconnected').map((d) => [d.code, d.reconnect, d.delayMs])).toEqual([[4005, true, 0]]);
    expect(c.state).toBe('connected');
  });

  it('stops for good on a token the hub refuses', async () => {
    const { c, events } = client({ token: () => token('mallory', 60, 'some-other-secret-of-32-characters!!') });
    await signal.until(() => c.state === 'closed');
    expect(argsOf<HubError>(events, 'error').map((e) => e.code)).toEqual(['unauthorized']);
    expect(argsOf<DisconnectInfo>(events, 'disconnected')).toMatchObject([{ code: 4102, reconnect: false }]);
  });

  it('stops when a static token has expired', async () => {
    const { c, events } = client({ token: await token('dave', -60) });
    await signal.until(() => c.state === 'closed');
    expect(argsOf<HubError>(events, 'error').map((e) => e.code)).toEqual(['token_expired']);
  });

  it('stops without a token when the hub requires one', async () => {
    const { c, events } = client({});
    await signal.until(() => c.state === 'closed');
    expect(argsOf<HubError>(events, 'error').map((e) => e.code)).toEqual(['unauthorized']);
  });
});

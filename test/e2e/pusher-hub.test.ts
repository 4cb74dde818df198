// The Pusher endpoint on an in-process hub, where a test can make the hub itself act: a
// subscription the hub drops (publications lost) is taken again for the Pusher client, which
// cannot be asked to resubscribe, and the hub's shutdown tells pusher-js to come back at once.

import PusherServer from 'pusher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, next, pusherClient, until } from '../helpers/pusher.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';

describe.each(['ws', 'uws'] as const)('Pusher sessions on the hub over %s', (transport) => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub(transport, { pusher: { apps: [APP] } });
  });
  afterAll(async () => {
    await hub?.close();
  });

  it('keeps a Pusher subscription the hub had to drop: later events still arrive', async () => {
    const p = pusherClient(hub.port, APP.key);
    const ch = p.subscribe('fragile');
    await next(ch, 'pusher:subscription_succeeded');
    hub.hub.onUnrecoverable('pusher_app1:fragile');
    await until(() => hub.hub.localSubscribers('pusher_app1:fragile') === 1, 'subscribed again');
    const got = next(ch, 'after');
    await hub.hub.serverPublish('pusher_app1:fragile', { event: 'after', data: '"still here"' });
    expect(await got).toBe('still here');
    p.disconnect();
  });

  it('rate-limits the HTTP API per app, and refused requests per address, with 429 and Retry-After', async () => {
    const limited = await startTestHub(transport, { pusher: { apps: [APP] }, api: { rateLimit: { rate: 1, periodMs: 60_000, burst: 3 } } });
    const sdk = new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(limited.port), useTLS: false });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push(await sdk.get({ path: '/channels' }).then((r) => r.status, (e: { status: number }) => e.status));
    expect(statuses).toEqual([200, 200, 200, 429]);
    const forged = `http://127.0.0.1:${limited.port}/apps/${APP.id}/channels?auth_key=${APP.key}&auth_timestamp=1&auth_version=1.0&auth_signature=x`;
    const refused: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 4; i++) {
      const res = await fetch(forged);
      refused.push(res.status);
      retryAfter = res.headers.get('retry-after');
    }
    expect(refused).toEqual([401, 401, 401, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    await limited.close();
  });

  it('closes Pusher clients at shutdown with 4200, so pusher-js reconnects at once', async () => {
    const own = await startTestHub(transport, { pusher: { apps: [APP] } });
    const p = pusherClient(own.port, APP.key);
    await until(() => p.connection.state === 'connected', 'connected');
    const errors: unknown[] = [];
    p.connection.bind('error', (e: unknown) => errors.push(e));
    const states: string[] = [];
    p.connection.bind('state_change', (s: { current: string }) => states.push(s.current));
    await own.close();
    await until(() => states.includes('connecting'), `pusher-js reconnecting (${states.join(',')})`);
    expect(JSON.stringify(errors)).toContain('4200');
    p.disconnect();
  });
});

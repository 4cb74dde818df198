// What operators scrape and probe: /metrics moves with traffic, /ready follows the engine, and the
// per-user publish limit holds across connections.

import { afterEach, describe, expect, it } from 'vitest';
import { expectCode, HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';

const hubs: TestHub[] = [];
afterEach(async () => {
  for (const h of hubs.splice(0)) await h.close();
});

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.each(['ws', 'uws'] as const)('operations over %s', (transport) => {
  it('counts connections, messages, bytes, publishes, errors and disconnects in /metrics', async () => {
    const h = await startTestHub(transport);
    hubs.push(h);
    const scrape = async () => (await fetch(`http://127.0.0.1:${h.port}/metrics`)).text();
    const before = await scrape();
    expect(metric(before, 'hubbub_connections')).toBe(0);
    const a = await HubTestClient.open(h.url);
    const b = await HubTestClient.open(h.url);
    await a.call('subscribe', { channel: 'chat:m' });
    await b.call('subscribe', { channel: 'chat:m' });
    await b.call('publish', { channel: 'chat:m', data: 'x' });
    await expectCode(b.call('subscribe', { channel: 'nope:x' }), 'unknown_namespace');
    await a.until(() => a.pushesOf('pub').length === 1);
    const during = await scrape();
    expect(metric(during, 'hubbub_connections')).toBe(2);
    expect(metric(during, 'hubbub_subscriptions')).toBe(2);
    expect(metric(during, 'hubbub_channels')).toBe(1);
    expect(metric(during, 'hubbub_messages_in_total')).toBe(6);
    expect(metric(during, 'hubbub_messages_out_total')).toBeGreaterThanOrEqual(11);
    expect(metric(during, 'hubbub_bytes_in_total')).toBeGreaterThan(100);
    expect(metric(during, 'hubbub_publish_duration_seconds_count{source="client"}')).toBe(1);
    expect(during).toContain('hubbub_errors_total{code="unknown_namespace"} 1');
    expect(metric(during, 'hubbub_engine{stat="streams"}')).toBe(1);
    a.close();
    await a.closed;
    await b.until(() => b.pushesOf('leave').length === 1);
    const after = await scrape();
    expect(metric(after, 'hubbub_connections')).toBe(1);
    expect(after).toContain('hubbub_disconnects_total{code="1005"} 1');
  });

  it('answers /ready while the engine serves, 503 once it is gone', async () => {
    const h = await startTestHub(transport);
    hubs.push(h);
    const ready = await fetch(`http://127.0.0.1:${h.port}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', engine: 'memory' });
    await h.engine.close();
    const gone = await fetch(`http://127.0.0.1:${h.port}/ready`);
    expect(gone.status).toBe(503);
    expect(await gone.json()).toMatchObject({ status: 'not ready' });
  });
});

describe('per-user publish limit', () => {
  it("is shared by all of a user's connections and leaves other users alone", async () => {
    const { SignJWT } = await import('jose');
    const secret = 'per-user-limit-secret-32-characters!';
    const h = await startTestHub('ws', {
      auth: { hmacSecret: secret },
      namespaces: { chat: { public: true, clientPublish: true, userPublishRate: { rate: 1, periodMs: 60_000, burst: 3 } } },
    });
    hubs.push(h);
    const token = (sub: string) =>
      new SignJWT({ sub, caps: { 'chat:*': ['publish'] } })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(secret));
    const open = async (sub: string) => {
      const c = await HubTestClient.open(h.url, { connect: false });
      await c.call('connect', { token: await token(sub) });
      return c;
    };
    const [tab1, tab2, other] = [await open('ann'), await open('ann'), await open('bob')];
    await tab1.call('publish', { channel: 'chat:x', data: 1 });
    await tab2.call('publish', { channel: 'chat:x', data: 2 });
    await tab1.call('publish', { channel: 'chat:x', data: 3 });
    const refused = await expectCode(tab2.call('publish', { channel: 'chat:x', data: 4 }), 'rate_limited');
    expect(refused.details?.retryAfterMs).toBeGreaterThan(0);
    expect(await other.call('publish', { channel: 'chat:x', data: 5 })).toMatchObject({ offset: 4 });
    for (const c of [tab1, tab2, other]) c.close();
  });
});

// Event webhooks against a real receiver (node:http on a free port) that checks every request
// with the verification snippet exactly as docs/hooks.md prints it: the events a client causes,
// retries after a 5xx and a timeout, a bounded outbox that drops instead of slowing clients, and
// channel_occupied / channel_vacated sent once for a cluster of three nodes on a real Redis.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/index.js';
import { HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';
import { type HookCall, HookServer, raw } from '../helpers/hook-server.js';
import { redisAvailable, RedisServer } from '../helpers/redis-server.js';

const SECRET = 'webhook-test-secret-0123456789';
const root = fileURLToPath(new URL('../..', import.meta.url));

type Verify = (secret: string, headers: Record<string, unknown>, body: string, now?: number) => boolean;
let verify: Verify;
const snippetFile = join(root, 'node_modules/.cache', `webhook-verify-${process.pid}.mjs`);

beforeAll(async () => {
  // The snippet as documented, run as a module of its own.
  const doc = readFileSync(join(root, 'docs/hooks.md'), 'utf8');
  const block = /<!-- webhook-verify:begin -->\n```js\n([\s\S]*?)```\n<!-- webhook-verify:end -->/.exec(doc)?.[1];
  if (block === undefined) throw new Error('docs/hooks.md lacks the webhook-verify snippet');
  mkdirSync(join(root, 'node_modules/.cache'), { recursive: true });
  writeFileSync(snippetFile, block);
  ({ verifyHubbubWebhook: verify } = (await import(pathToFileURL(snippetFile).href)) as { verifyHubbubWebhook: Verify });
});

afterAll(() => rmSync(snippetFile, { force: true }));

interface Event {
  id: string;
  event: string;
  time: number;
  channel?: string;
  [key: string]: unknown;
}

const hubs: TestHub[] = [];
const receivers: HookServer[] = [];
const clients: HubTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const r of receivers.splice(0)) await r.close();
  for (const h of hubs.splice(0)) await h.close();
});

async function receiver(): Promise<HookServer> {
  const r = await HookServer.start();
  receivers.push(r);
  return r;
}

async function hub(r: HookServer, webhooks: NonNullable<ConfigInput['webhooks']> = {}, extra: ConfigInput = {}): Promise<TestHub> {
  const h = await startTestHub('ws', {
    namespaces: { chat: { presence: true, clientPublish: true, history: { size: 10 } } },
    webhooks: { url: r.url('events'), secret: SECRET, batchWindowMs: 10, ...webhooks },
    ...extra,
  });
  hubs.push(h);
  return h;
}

async function client(h: TestHub): Promise<HubTestClient> {
  const c = await HubTestClient.open(h.url);
  clients.push(c);
  return c;
}

const eventsOf = (calls: HookCall[]) => calls.flatMap((c) => c.body.events as Event[]);

async function untilEvents(r: HookServer, check: (events: Event[]) => boolean, what: string): Promise<Event[]> {
  const deadline = Date.now() + 5000;
  for (let n = 1; ; n = r.callsOf('events').length + 1) {
    const events = eventsOf(r.callsOf('events'));
    if (check(events)) return events;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${events.map((e) => e.event).join(', ')}`);
    await r.until('events', n, deadline - Date.now()).catch(() => undefined);
  }
}

describe('webhooks', () => {
  it('sends what a client does as signed batches that the documented check accepts', async () => {
    const r = (await receiver()).on('events', () => raw(204, ''));
    const h = await hub(r);
    const c = await client(h);
    await c.call('subscribe', { channel: 'chat:a' });
    await c.call('unsubscribe', { channel: 'chat:a' });
    c.ws.close(1000, 'bye');
    const events = await untilEvents(r, (es) => es.some((e) => e.event === 'connection_closed'), 'connection_closed');
    expect(events.map((e) => e.event)).toEqual([
      'connection_opened',
      'channel_occupied',
      'member_added',
      'member_removed',
      'channel_vacated',
      'connection_closed',
    ]);
    const client0 = events[0]?.client;
    expect(events[0]).toMatchObject({ client: client0, user: '', remoteAddress: '127.0.0.1' });
    expect(events[2]).toMatchObject({ channel: 'chat:a', client: client0, user: '' });
    expect(events[5]).toMatchObject({ client: client0, code: 1000, reason: 'bye' });
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    for (const call of r.callsOf('events')) {
      expect(verify(SECRET, call.headers, call.text)).toBe(true);
      expect(verify(SECRET, call.headers, call.text.replace('"events"', '"Events"'))).toBe(false);
      expect(verify('another-secret-of-some-length', call.headers, call.text)).toBe(false);
      // A replayed request is refused once its timestamp is old.
      expect(verify(SECRET, call.headers, call.text, Date.now() + 10 * 60 * 1000)).toBe(false);
    }
  });

  it('retries a batch after a 5xx and after a timeout, under the same delivery id, until it is taken', async () => {
    let n = 0;
    const r = (await receiver()).on('events', () => {
      n++;
      if (n === 1) return raw(503, 'busy');
      if (n === 2) return new Promise(() => {}); // never answers: the hub's timeout
      return raw(200, 'ok');
    });
    const h = await hub(r, { timeoutMs: 300, retryBaseMs: 10 });
    await client(h);
    await r.until('events', 3);
    const calls = r.callsOf('events');
    expect(new Set(calls.map((c) => c.headers['x-hubbub-delivery'])).size).toBe(1);
    expect(calls.map((c) => (c.body.events as Event[]).map((e) => e.id))).toEqual([0, 1, 2].map(() => (calls[0]?.body.events as Event[]).map((e) => e.id)));
    for (const call of calls) expect(verify(SECRET, call.headers, call.text)).toBe(true);
    const metrics = async () => (await fetch(`http://127.0.0.1:${h.port}/metrics`)).text();
    await expect.poll(metrics).toMatch(/hubbub_webhook_events_total\{format="hubbub",outcome="sent"\} 1\b/);
    expect(await metrics()).toMatch(/hubbub_webhook_requests_total\{format="hubbub",result="retry"\} 2\b/);
  });

  it('drops events beyond maxQueued, counted, while clients keep being served by a hub whose receiver hangs', async () => {
    const r = (await receiver()).on('events', () => new Promise(() => {}));
    const h = await hub(r, { maxQueued: 2, batchWindowMs: 0, retries: 0, timeoutMs: 10_000 });
    const connected = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(() => client(h)));
    const pub = connected[0] as HubTestClient;
    await pub.call('subscribe', { channel: 'chat:busy' });
    expect(await pub.call('publish', { channel: 'chat:busy', data: 'served' })).toMatchObject({ offset: 1 });
    await pub.until(() => pub.pushesOf('pub', 'chat:busy').length === 1);
    const text = await (await fetch(`http://127.0.0.1:${h.port}/metrics`)).text();
    const dropped = Number(/hubbub_webhook_events_total\{format="hubbub",outcome="dropped_full"\} (\d+)/.exec(text)?.[1] ?? 0);
    // 10 events (8 opened, occupied, member added): one batch of at most 2 in flight, at most 2 queued.
    expect(dropped).toBeGreaterThanOrEqual(10 - 2 - 2);
    expect(text).toMatch(/hubbub_webhook_queued\{format="hubbub"\} [0-2]\b/);
    // The receiver goes away so that the shutdown's last send fails at once.
    await r.close();
    receivers.length = 0;
  });

  it('reports each stored publication with its position and data when `publication` is listed', async () => {
    const r = (await receiver()).on('events', () => raw(204, ''));
    const h = await hub(r, { events: ['publication'] });
    const c = await client(h);
    const ack = await c.call('publish', { channel: 'chat:p', data: { text: 'hi', n: [1, 2] } });
    const events = await untilEvents(r, (es) => es.length > 0, 'the publication event');
    expect(events).toEqual([
      expect.objectContaining({ event: 'publication', channel: 'chat:p', offset: 1, epoch: ack.epoch, data: { text: 'hi', n: [1, 2] }, from: expect.objectContaining({ user: '' }) }),
    ]);
  });
});

if (redisAvailable('the clustered webhook test')) {
  describe('webhooks on the Redis engine', () => {
    it('sends channel_occupied and channel_vacated once for a cluster of three nodes', async () => {
      const redis = await RedisServer.start();
      try {
        const r = (await receiver()).on('events', () => raw(204, ''));
        const engine = { type: 'redis', url: redis.url, keyPrefix: 'wh:' } as const;
        const nodes = [await hub(r, {}, { engine }), await hub(r, {}, { engine }), await hub(r, {}, { engine })];
        const subscribers = await Promise.all(nodes.flatMap((n) => [client(n), client(n)]));
        await Promise.all(subscribers.map((s) => s.call('subscribe', { channel: 'chat:room' })));
        await Promise.all(subscribers.map((s) => s.call('unsubscribe', { channel: 'chat:room' })));
        // A last event from each node: each node sends in order, so anything it sent about
        // chat:room has arrived once its sentinel has.
        await Promise.all(nodes.map((n) => client(n)));
        const events = await untilEvents(r, (es) => es.filter((e) => e.event === 'connection_opened').length === 9, 'the sentinels');
        const about = (name: string) => events.filter((e) => e.event === name && e.channel === 'chat:room');
        expect(about('channel_occupied')).toHaveLength(1);
        expect(about('channel_vacated')).toHaveLength(1);
        expect(about('member_added')).toHaveLength(6);
        expect(about('member_removed')).toHaveLength(6);
      } finally {
        for (const h of hubs.splice(0)) await h.close();
        await redis.stop();
      }
    });
  });
}

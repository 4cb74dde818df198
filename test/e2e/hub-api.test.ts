// HubApi, the typed backend client, against a real hub: each call as a backend uses it, and a
// publish whose answer is lost on the way back (a proxy answers 502 after the hub took it)
// retried under its idempotency key and delivered once.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubApi, HubApiError } from '../../src/index.js';
import { HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';

const KEY = 'hub-api-test-key-0123456789';

describe('HubApi', () => {
  let hub: TestHub;
  let proxy: Server;
  let proxyUrl: string;
  /** Requests through the proxy, by path; the first publish's answer is dropped. */
  const seen: string[] = [];
  let loseNextPublishAnswer = false;

  beforeAll(async () => {
    hub = await startTestHub('ws', {
      api: { keys: [KEY] },
      namespaces: { chat: { history: { size: 10 }, presence: true }, personal: { history: { size: 10 } } },
      personalChannels: { enabled: true },
    });
    proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push(req.url ?? '');
        const init: RequestInit = { method: req.method ?? 'GET', headers: req.headers as Record<string, string> };
        if (req.method === 'POST') init.body = Buffer.concat(chunks);
        void fetch(`http://127.0.0.1:${hub.port}${req.url ?? '/'}`, init).then(async (r) => {
          const text = await r.text();
          if (loseNextPublishAnswer && req.url === '/api/publish') {
            loseNextPublishAnswer = false;
            res.writeHead(502).end('bad gateway');
            return;
          }
          res.writeHead(r.status, { 'content-type': 'application/json' }).end(text);
        });
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
    await hub.close();
  });

  it('publishes, reads history and presence, subscribes a user on the server side and disconnects them', async () => {
    const api = new HubApi({ url: `http://127.0.0.1:${hub.port}`, apiKey: KEY });
    const c = await HubTestClient.open(hub.url);
    await c.call('subscribe', { channel: 'chat:api' });
    const first = await api.publish('chat:api', { text: 'one' });
    expect(first.offset).toBe(1);
    const history = await api.history('chat:api', { limit: 10 });
    expect(history.publications.map((p) => p.data)).toEqual([{ text: 'one' }]);
    expect((await api.presence('chat:api')).length).toBe(1);
    expect(await api.presenceStats('chat:api')).toEqual({ clients: 1, users: 1 });
    // The connect reply (the first frame) named the client.
    const { client } = c.frames[0]?.result as { client: string };
    await api.subscribe({ client }, 'chat:pushed');
    await c.until(() => c.pushesOf('subscribed', 'chat:pushed').length === 1);
    const results = await api.broadcast(['chat:api', 'chat:pushed', 'nope:x'], 'all');
    expect(results.map((r) => ('error' in r ? r.error.code : r.offset))).toEqual([2, 1, 'unknown_namespace']);
    await c.until(() => c.pushesOf('pub', 'chat:pushed').length === 1);
    expect(await api.disconnect('', { reconnect: true })).toBe(1);
    expect((await c.closed).code).toBe(4006);
  });

  it('retries a publish whose answer was lost under the same idempotency key: delivered once', async () => {
    const api = new HubApi({ url: proxyUrl, apiKey: KEY, retryBaseMs: 1 });
    const c = await HubTestClient.open(hub.url);
    await c.call('subscribe', { channel: 'chat:retry' });
    loseNextPublishAnswer = true;
    seen.length = 0;
    const ack = await api.publish('chat:retry', { text: 'once' });
    expect(seen.filter((u) => u === '/api/publish')).toHaveLength(2);
    expect(ack.offset).toBe(1);
    await api.publish('chat:retry', 'marker');
    await c.until(() => c.pushesOf('pub', 'chat:retry').length === 2);
    expect(c.pushesOf('pub', 'chat:retry').map((p) => p.data)).toEqual([{ text: 'once' }, 'marker']);
    c.terminate();
  });

  it('reports a refusal with its code and status, without retrying it', async () => {
    const api = new HubApi({ url: proxyUrl, apiKey: KEY, retryBaseMs: 1 });
    seen.length = 0;
    const err = await api.publish('nope:x', 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubApiError);
    expect(err).toMatchObject({ code: 'unknown_namespace', status: 404, temporary: false });
    expect(seen).toHaveLength(1);
    await expect(new HubApi({ url: proxyUrl, apiKey: 'wrong-key-wrong-key' }).stats()).rejects.toMatchObject({ code: 'unauthorized', status: 401 });
  });
});

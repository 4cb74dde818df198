// The hub serving its pages, on both transports: the right content types and cache headers, HEAD
// like GET, no way out of dist/web/ whatever the request path says, the demo and the console
// switched off by configuration, and the console's ticket door: a key to get in, never open
// with auth on, and its internal channel out of every ordinary client's reach.

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type HubError } from '../../client/src/index.js';
import { buildWeb } from '../../src/web/build.mjs';
import { startTestHub, type TestHub, type TransportName } from '../helpers/hub-server.js';

const KEY = 'static-test-key-0123456789';

/** One raw request, the path sent exactly as written (no client normalises `..` away). */
function raw(port: number, method: string, path: string): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const at = text.indexOf('\r\n\r\n');
      const head = text.slice(0, at);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head: head.toLowerCase(), body: text.slice(at + 4) });
    });
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

const TRAVERSALS = [
  '/web/../package.json',
  '/web/%2e%2e/package.json',
  '/web/..%2fpackage.json',
  '/web/%2e%2e%2f%2e%2e%2fpackage.json',
  '/web/..%5c..%5cpackage.json',
  '/../package.json',
  '/..%2f..%2fpackage.json',
  '/web/chat.js/../../../package.json',
  '/web//etc/passwd',
  '/web/CHAT.JS',
  '/web/chat.js%00.css',
  '/web/.chat.js',
  '/web/chat.html',
  '/web/chat.js.map',
  '/chat.html',
  '/index.html',
  '/web/',
  '/web',
  '/__proto__',
  '/constructor',
];

describe.each<TransportName>(['ws', 'uws'])('pages over %s', (transport) => {
  let hub: TestHub;
  beforeAll(async () => {
    await buildWeb();
    hub = await startTestHub(transport, { api: { keys: [KEY] } });
  });
  afterAll(() => hub?.close());

  it('serves the pages and their assets with their content types and cache headers', async () => {
    for (const path of ['/', '/chat', '/leaderboard', '/dashboard', '/console']) {
      const res = await raw(hub.port, 'GET', path);
      expect(res.status, path).toBe(200);
      expect(res.head).toContain('content-type: text/html; charset=utf-8');
      expect(res.head).toContain('cache-control: no-cache');
      expect(res.head).toContain("content-security-policy: default-src 'self'");
      expect(res.body).toContain('<!doctype html>');
      expect(res.body).not.toContain('%WS_PATH%');
    }
    const chat = await raw(hub.port, 'GET', '/chat');
    expect(chat.body).toContain('<meta name="hubbub-ws-path" content="/ws">');
    for (const [path, type] of [
      ['/web/chat.js', 'text/javascript; charset=utf-8'],
      ['/web/console.js', 'text/javascript; charset=utf-8'],
      ['/web/style.css', 'text/css; charset=utf-8'],
      ['/web/favicon.svg', 'image/svg+xml'],
    ] as const) {
      const res = await raw(hub.port, 'GET', path);
      expect(res.status, path).toBe(200);
      expect(res.head).toContain(`content-type: ${type}`);
      expect(res.head).toContain('cache-control: public, max-age=300');
      expect(res.body.length).toBeGreaterThan(100);
    }
    const head = await raw(hub.port, 'HEAD', '/chat');
    expect(head.status).toBe(200);
    expect(head.head).toContain('content-type: text/html');
    expect(head.body).toBe('');
  });

  it('refuses every path that is not a page or an asset name, traversal included', async () => {
    for (const path of TRAVERSALS) {
      const res = await raw(hub.port, 'GET', path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toContain('"devDependencies"');
      expect(res.body, path).not.toContain('root:');
    }
    expect((await raw(hub.port, 'POST', '/chat')).status).toBe(404);
  });

  it('lets the console in with a key only, on its own one-use ticket, to a channel no client can name', async () => {
    const refused = await fetch(`http://127.0.0.1:${hub.port}/api/console/ticket`, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(401);
    const ticket = async () => {
      const res = await fetch(`http://127.0.0.1:${hub.port}/api/console/ticket`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${KEY}` } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { ticket: string; namespaces: Record<string, unknown> };
      expect(body.namespaces.chat).toEqual({ history: true, presence: true, leaderboard: false });
      return body.ticket;
    };
    const first = await ticket();
    const operator = new HubClient(hub.url, { WebSocket, token: first, reconnect: false });
    const numbers = operator.subscribe('$hubbub:console');
    const got = await new Promise<unknown>((resolve) => numbers.on('message', (m) => resolve(m.data)));
    expect(got).toMatchObject({ connections: 1, engine: { kind: 'memory', ok: true } });

    // Auth is off here, so a used ticket is just an anonymous token: in, but not to the channel.
    const again = new HubClient(hub.url, { WebSocket, token: first, reconnect: false });
    const sneaky = again.subscribe('$hubbub:console');
    const denied = await new Promise<HubError>((resolve) => sneaky.on('error', resolve));
    expect(denied.code).toBe('invalid_channel');
    await Promise.all([operator.close(), again.close()]);
  });
});

describe('pages switched off', () => {
  it('serves no demo with demo.enabled off, and no console with console.enabled off', async () => {
    const noDemo = await startTestHub('ws', { demo: { enabled: false } });
    const noConsole = await startTestHub('ws', { console: { enabled: false }, api: { keys: [KEY] }, server: { path: '/live' } });
    try {
      for (const path of ['/', '/chat', '/leaderboard', '/dashboard']) expect((await raw(noDemo.port, 'GET', path)).status, path).toBe(404);
      expect((await raw(noDemo.port, 'GET', '/console')).status).toBe(200);
      // The demo's namespaces go with it.
      const client = new HubClient(noDemo.url, { WebSocket, reconnect: false });
      const sub = client.subscribe('demo-chat:lobby');
      expect((await new Promise<HubError>((resolve) => sub.on('error', resolve))).code).toBe('unknown_namespace');
      await client.close();

      expect((await raw(noConsole.port, 'GET', '/console')).status).toBe(404);
      expect((await raw(noConsole.port, 'GET', '/chat')).body).toContain('content="/live"');
      const res = await fetch(`http://127.0.0.1:${noConsole.port}/api/console/ticket`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${KEY}` } });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_available');
    } finally {
      await Promise.all([noDemo.close(), noConsole.close()]);
    }
  });

  it('never opens the console without a key when auth is on, even with api.insecure', async () => {
    const open = await startTestHub('ws', { api: { insecure: true } });
    const guarded = await startTestHub('ws', { api: { insecure: true }, auth: { hmacSecret: 's'.repeat(32) } });
    try {
      const ask = (hub: TestHub) => fetch(`http://127.0.0.1:${hub.port}/api/console/ticket`, { method: 'POST', body: '{}' });
      expect((await ask(open)).status).toBe(200);
      const refused = await ask(guarded);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    } finally {
      await Promise.all([open.close(), guarded.close()]);
    }
  });
});

// Proxy hooks against a real HTTP backend (node:http on a free port), on both transports: each
// hook's allow / refuse / modify path as a client sees it, the upgrade's cookies forwarded, a slow
// or broken backend answered with `backend_unavailable` while everyone else is served, and a
// refused publication reaching neither subscribers nor history.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/index.js';
import { expectCode, HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub, type TransportName } from '../helpers/hub-server.js';
import { HookServer, raw } from '../helpers/hook-server.js';

const transports: TransportName[] = ['ws', 'uws'];
/** The slow-hook test waits this long for its backend_unavailable. */
const PUBLISH_TIMEOUT_MS = 1500;

function userFromCookie(cookie: unknown): string | undefined {
  return typeof cookie === 'string' ? /sid=(\w+)/.exec(cookie)?.[1] : undefined;
}

describe.each(transports)('proxy hooks over %s', (transport) => {
  let backend: HookServer;
  let hub: TestHub;
  const clients: HubTestClient[] = [];

  /** Connects (through the connect hook) as the user its cookie names. */
  async function client(user = 'alice', connect = true): Promise<HubTestClient> {
    const c = await HubTestClient.open(hub.url, { connect, headers: { cookie: `theme=dark; sid=${user}`, authorization: 'Bearer app-session' } });
    clients.push(c);
    return c;
  }

  function defaultHandlers(): void {
    backend.handlers.clear();
    backend.on('connect', (_body, call) => {
      const user = userFromCookie(call.headers.cookie);
      if (user === undefined || user === 'mallory') return { error: { message: 'no session; log in first' } };
      return { result: { user, info: { name: user.toUpperCase() }, caps: { 'open:*': ['subscribe', 'publish', 'history'] } } };
    });
    backend.on('subscribe', () => ({ result: {} }));
    backend.on('publish', () => ({ result: {} }));
    backend.on('rpc', (body) => ({ result: { data: { echo: body.data, method: body.method } } }));
  }

  beforeAll(async () => {
    backend = await HookServer.start();
    defaultHandlers();
    const config: ConfigInput = {
      namespaces: {
        room: { clientPublish: true, history: { size: 10 }, presence: true, hooks: { subscribe: true, publish: true } },
        open: { clientPublish: true, history: { size: 10 }, presence: true },
      },
      hooks: {
        connect: { url: backend.url('connect') },
        subscribe: { url: backend.url('subscribe'), retries: 2 },
        publish: { url: backend.url('publish'), timeoutMs: PUBLISH_TIMEOUT_MS },
        rpc: { url: backend.url('rpc'), timeoutMs: 500 },
      },
      limits: { commands: { rate: 10_000, burst: 10_000 } },
    };
    hub = await startTestHub(transport, config);
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
    backend.calls.length = 0;
    defaultHandlers();
  });

  afterAll(async () => {
    await hub.close();
    await backend.close();
  });

  it('connect: the backend names the user from the forwarded session cookie', async () => {
    const c = await client('alice', false);
    const result = await c.call('connect', { name: 'web' });
    expect(result.user).toBe('alice');
    const [call] = backend.callsOf('connect');
    expect(call?.headers.cookie).toBe('theme=dark; sid=alice');
    expect(call?.headers.authorization).toBe('Bearer app-session');
    expect(call?.body).toMatchObject({ client: result.client, name: 'web', remoteAddress: '127.0.0.1' });
    expect(call?.body).not.toHaveProperty('token');
  });

  it('connect: a refusal reaches the client with its code and message, and the connection closes', async () => {
    const c = await client('mallory', false);
    const err = await expectCode(c.call('connect'), 'unauthorized');
    expect(err.message).toContain('no session; log in first');
    expect((await c.closed).code).toBe(4102);
  });

  it('connect: the capabilities the backend grants are the ones the connection has', async () => {
    const c = await client();
    await c.call('subscribe', { channel: 'open:lobby' });
    await c.call('publish', { channel: 'open:lobby', data: 1 });
    // No capability for presence was granted, and `open` is not public.
    await expectCode(c.call('presence', { channel: 'open:lobby' }), 'forbidden');
  });

  it('subscribe: allowed with per-subscription info that presence shows; the request names user and channel', async () => {
    backend.on('subscribe', (body) => ({ result: { info: { role: body.user === 'alice' ? 'host' : 'guest' } } }));
    const c = await client();
    await c.call('subscribe', { channel: 'room:1' });
    const { members } = (await c.call('presence', { channel: 'room:1' })) as { members: { user: string; info: unknown }[] };
    expect(members).toEqual([expect.objectContaining({ user: 'alice', info: { role: 'host' } })]);
    expect(backend.callsOf('subscribe')[0]?.body).toMatchObject({ user: 'alice', channel: 'room:1', info: { name: 'ALICE' } });
    expect(backend.callsOf('subscribe')[0]?.headers.cookie).toBe('theme=dark; sid=alice');
  });

  it('subscribe: a refusal is the backend code and message, and nothing is delivered to the refused client', async () => {
    backend.on('subscribe', (body) => (body.user === 'bob' ? { error: { code: 'forbidden', message: 'bob is banned from room:2' } } : { result: {} }));
    const bob = await client('bob');
    const err = await expectCode(bob.call('subscribe', { channel: 'room:2' }), 'forbidden');
    expect(err.message).toBe('forbidden: bob is banned from room:2');
    const alice = await client('alice');
    await alice.call('subscribe', { channel: 'room:2' });
    await alice.call('publish', { channel: 'room:2', data: 'hi' });
    await alice.until(() => alice.pushesOf('pub', 'room:2').length === 1);
    await bob.call('ping');
    expect(bob.pushesOf('pub')).toEqual([]);
  });

  it('subscribe: a 5xx is retried (an idempotent hook) and the second answer counts', async () => {
    let n = 0;
    backend.on('subscribe', () => (++n === 1 ? raw(503, 'busy') : { result: {} }));
    const c = await client();
    await c.call('subscribe', { channel: 'room:retry' });
    expect(backend.callsOf('subscribe')).toHaveLength(2);
  });

  it('publish: accepted as is, stored and delivered once the backend said yes', async () => {
    const sub = await client('bob');
    await sub.call('subscribe', { channel: 'room:3' });
    const pub = await client('alice');
    const ack = await pub.call('publish', { channel: 'room:3', data: { text: 'hello' } });
    expect(ack.offset).toBe(1);
    expect(backend.callsOf('publish')[0]?.body).toMatchObject({ user: 'alice', channel: 'room:3', data: { text: 'hello' } });
    await sub.until(() => sub.pushesOf('pub', 'room:3').length === 1);
    expect(sub.pushesOf('pub', 'room:3')[0]).toMatchObject({ data: { text: 'hello' }, from: { user: 'alice' } });
  });

  it('publish: data the backend replaces is what subscribers and history get', async () => {
    backend.on('publish', (body) => ({ result: { data: { text: String((body.data as { text: string }).text).replace('darn', '****'), id: 'db-17' } } }));
    const sub = await client('bob');
    await sub.call('subscribe', { channel: 'room:4' });
    const pub = await client('alice');
    await pub.call('publish', { channel: 'room:4', data: { text: 'oh darn' } });
    await sub.until(() => sub.pushesOf('pub', 'room:4').length === 1);
    expect(sub.pushesOf('pub', 'room:4')[0]?.data).toEqual({ text: 'oh ****', id: 'db-17' });
    const history = (await sub.call('history', { channel: 'room:4' })) as { publications: { data: unknown }[] };
    expect(history.publications.map((p) => p.data)).toEqual([{ text: 'oh ****', id: 'db-17' }]);
  });

  it('publish: a refused publication reaches no subscriber and no history', async () => {
    backend.on('publish', (body) => ((body.data as { text: string }).text.includes('spam') ? { error: { message: 'looks like spam' } } : { result: {} }));
    const sub = await client('bob');
    await sub.call('subscribe', { channel: 'room:5' });
    const pub = await client('alice');
    const err = await expectCode(pub.call('publish', { channel: 'room:5', data: { text: 'buy spam' } }), 'forbidden');
    expect(err.message).toBe('forbidden: looks like spam');
    await pub.call('publish', { channel: 'room:5', data: { text: 'after' } });
    await sub.until(() => sub.pushesOf('pub', 'room:5').length === 1);
    expect(sub.pushesOf('pub', 'room:5').map((p) => p.data)).toEqual([{ text: 'after' }]);
    const history = (await sub.call('history', { channel: 'room:5' })) as { publications: { data: unknown }[] };
    expect(history.publications.map((p) => p.data)).toEqual([{ text: 'after' }]);
  });

  it('publish: a slow backend gives backend_unavailable at the timeout while other clients keep being served', async () => {
    let release: () => void = () => {};
    backend.on('publish', () => new Promise((resolve) => (release = () => resolve({ result: {} }))));
    const slow = await client('alice');
    let settled = false;
    const slowReply = expectCode(slow.call('publish', { channel: 'room:6', data: 'x' }), 'backend_unavailable').finally(() => {
      settled = true;
    });
    await backend.until('publish', 1);
    const sub = await client('carol');
    await sub.call('subscribe', { channel: 'open:6' });
    const other = await client('bob');
    await other.call('publish', { channel: 'open:6', data: 'still served' });
    await sub.until(() => sub.pushesOf('pub', 'open:6').length === 1);
    expect(settled).toBe(false);
    const err = await slowReply;
    expect(err.message).toContain('did not answer');
    release();
    // Nothing was stored for the publication the hub gave up on.
    const history = (await sub.call('history', { channel: 'open:6' })) as { publications: unknown[] };
    expect(history.publications).toHaveLength(1);
  });

  it('publish: a 5xx is not retried (the backend may have stored it) and the client gets backend_unavailable', async () => {
    backend.on('publish', () => raw(500, 'oops'));
    const c = await client();
    await expectCode(c.call('publish', { channel: 'room:7', data: 1 }), 'backend_unavailable');
    expect(backend.callsOf('publish')).toHaveLength(1);
  });

  it.each([
    ['not JSON', raw(200, '<html>')],
    ['neither result nor error', { ok: true }],
    ['a result of the wrong shape', { result: { data: 1, extra: true } }],
    ['an unknown refusal code', { error: { code: 'teapot', message: 'no' } }],
  ])('publish: an answer that is %s gives backend_unavailable', async (_what, answer) => {
    backend.on('publish', () => answer);
    const c = await client();
    await expectCode(c.call('publish', { channel: 'room:8', data: 1 }), 'backend_unavailable');
    await c.call('ping');
  });

  it('rpc: the backend answer comes back on the same connection; refusals carry their code', async () => {
    const c = await client();
    expect(await c.call('rpc', { method_name: 'getProfile', data: { id: 7 } })).toEqual({ data: { echo: { id: 7 }, method: 'getProfile' } });
    expect(backend.callsOf('rpc')[0]?.body).toMatchObject({ user: 'alice', method: 'getProfile' });
    backend.on('rpc', () => ({ error: { code: 'not_found', message: 'no such profile' } }));
    await expectCode(c.call('rpc', { method_name: 'getProfile' }), 'not_found');
    await expectCode(c.call('rpc', { data: 1 }), 'bad_request');
  });

  it('counts each hook call by outcome with its latency in /metrics', async () => {
    backend.on('publish', (body) => (body.data === 'no' ? { error: { message: 'no' } } : { result: {} }));
    const c = await client();
    await c.call('publish', { channel: 'room:9', data: 'yes' });
    await expectCode(c.call('publish', { channel: 'room:9', data: 'no' }), 'forbidden');
    const text = await (await fetch(`http://127.0.0.1:${hub.port}/metrics`)).text();
    expect(text).toMatch(/hubbub_hook_calls_total\{hook="publish",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/hubbub_hook_calls_total\{hook="publish",outcome="refused"\} [1-9]/);
    expect(text).toMatch(/hubbub_hook_duration_seconds_count\{hook="connect"\} [1-9]/);
    expect(text).toMatch(/hubbub_hook_in_flight\{hook="publish"\} 0/);
  });
});

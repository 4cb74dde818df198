// hubbub embedded in an application's own process: `startHub(config, { hooks, logger })` from the
// package's entry point with in-process hooks (typed functions of the HTTP hooks' shape), the
// refresh hook renewing a proxied connection, the concurrency limit, and a backend that throws,
// hangs or answers nonsense.

import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Hooks, parseConfig, type RunningHub, startHub } from '../../src/index.js';
import { expectCode, HubTestClient } from '../helpers/hub-client.js';

const running: RunningHub[] = [];
const clients: HubTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  for (const h of running.splice(0)) await h.close();
});

/** The app: a message store and users by session cookie, and the hub it embeds. */
async function startApp(hooks: Hooks, hookConfig: Record<string, unknown> = {}): Promise<{ url: string; hub: RunningHub }> {
  const config = parseConfig({
    logLevel: 'silent',
    server: { host: '127.0.0.1', port: 0, transport: 'ws' },
    namespaces: {
      room: { clientPublish: true, history: { size: 10 }, hooks: { publish: hooks.publish !== undefined, subscribe: hooks.subscribe !== undefined } },
      open: { clientPublish: true },
    },
    hooks: hookConfig,
  });
  const hub = await startHub(config, { hooks, logger: createLogger('silent') });
  running.push(hub);
  return { url: `ws://127.0.0.1:${hub.port}/ws`, hub };
}

async function open(url: string, cookie = 'sid=alice'): Promise<HubTestClient> {
  const c = await HubTestClient.open(url, { connect: false, headers: { cookie } });
  clients.push(c);
  return c;
}

const byCookie = (cookie: string | undefined) => /sid=(\w+)/.exec(cookie ?? '')?.[1];

describe('embedding hubbub with in-process hooks', () => {
  it('runs an app whose hooks know users by cookie and persist chat before it is delivered', async () => {
    const stored: { id: number; user: string; text: string }[] = [];
    const { url } = await startApp({
      connect: (_req, ctx) => {
        const user = byCookie(ctx.headers.cookie);
        return user === undefined ? { error: { message: 'log in' } } : { result: { user, caps: { 'open:*': ['subscribe'] } } };
      },
      subscribe: () => ({ result: {} }),
      publish: (req) => {
        const text = String((req.data as { text?: unknown }).text ?? '');
        const row = { id: stored.length + 1, user: req.user, text };
        stored.push(row);
        return { result: { data: row } };
      },
    });
    const bob = await open(url, 'sid=bob');
    expect((await bob.call('connect')).user).toBe('bob');
    await bob.call('subscribe', { channel: 'room:general' });
    const alice = await open(url);
    await alice.call('connect');
    await alice.call('publish', { channel: 'room:general', data: { text: 'hi bob' } });
    await bob.until(() => bob.pushesOf('pub', 'room:general').length === 1);
    expect(bob.pushesOf('pub', 'room:general')[0]?.data).toEqual({ id: 1, user: 'alice', text: 'hi bob' });
    expect(stored).toEqual([{ id: 1, user: 'alice', text: 'hi bob' }]);
    const stranger = await open(url, 'theme=dark');
    await expectCode(stranger.call('connect'), 'unauthorized');
  });

  it('keeps startHub(config, logger, options) working for existing callers', async () => {
    const config = parseConfig({ logLevel: 'silent', server: { host: '127.0.0.1', port: 0, transport: 'ws' } });
    const hub = await startHub(config, createLogger('silent'), {});
    running.push(hub);
    const c = await HubTestClient.open(`ws://127.0.0.1:${hub.port}/ws`);
    clients.push(c);
    expect(await c.call('ping')).toEqual({});
  });

  it('renews a proxied connection with the refresh hook, applying the capabilities it answers', async () => {
    const refreshed: number[] = [];
    const { url } = await startApp({
      connect: () => ({ result: { user: 'alice', caps: { 'open:*': ['subscribe'] }, expiresAt: Date.now() + 1000 } }),
      refresh: (req) => {
        refreshed.push(req.expiresAt);
        // The backend no longer lets alice into open:*.
        return { result: { caps: {}, expiresAt: Date.now() + 60_000 } };
      },
    });
    const c = await open(url);
    const { expiresAt } = await c.call('connect');
    await c.call('subscribe', { channel: 'open:news' });
    await c.until(() => c.pushesOf('resubscribe', 'open:news').length === 1, 5000, 'the revoked subscription');
    expect(refreshed).toEqual([expiresAt]);
    // No `expiring` push: the client has no token to send for a proxied connection.
    expect(c.pushesOf('expiring')).toEqual([]);
    await expectCode(c.call('subscribe', { channel: 'open:news' }), 'forbidden');
  });

  it('closes a proxied connection with 4005 when the refresh hook refuses it', async () => {
    const { url } = await startApp({
      connect: () => ({ result: { user: 'alice', expiresAt: Date.now() + 1000 } }),
      refresh: () => ({ error: { message: 'logged out' } }),
    });
    const c = await open(url);
    await c.call('connect');
    const closed = await c.closed;
    expect(closed.code).toBe(4005);
    expect(closed.reason).toBe('logged out');
  });

  it('runs at most maxConcurrency calls of a hook at once; the others wait their turn and succeed', async () => {
    let inFlight = 0;
    let most = 0;
    const { url } = await startApp(
      {
        connect: () => ({ result: { user: 'u', caps: { '*': ['publish', 'subscribe'] } } }),
        publish: async () => {
          most = Math.max(most, ++inFlight);
          await new Promise((resolve) => setImmediate(resolve));
          inFlight--;
          return { result: {} };
        },
      },
      { publish: { maxConcurrency: 1, timeoutMs: 10_000 } },
    );
    const publishers = await Promise.all([0, 1, 2, 3].map(() => open(url)));
    await Promise.all(publishers.map((p) => p.call('connect')));
    const acks = await Promise.all(publishers.map((p, i) => p.call('publish', { channel: 'room:q', data: i })));
    expect(acks.map((a) => a.offset).sort()).toEqual([1, 2, 3, 4]);
    expect(most).toBe(1);
  });

  it.each([
    ['throws', () => Promise.reject(new Error('database down'))],
    ['hangs past its timeout', () => new Promise<never>(() => {})],
    ['answers nonsense', () => ({ result: { data: 1, surprise: true } }) as never],
  ])('gives backend_unavailable when an in-process hook %s, and keeps serving', async (_what, publish) => {
    const { url } = await startApp({ connect: () => ({ result: { user: 'u', caps: { '*': ['publish'] } } }), publish }, { publish: { timeoutMs: 200 } });
    const c = await open(url);
    await c.call('connect');
    await expectCode(c.call('publish', { channel: 'room:x', data: 1 }), 'backend_unavailable');
    expect(await c.call('publish', { channel: 'open:x', data: 1 })).toMatchObject({ offset: 1 });
  });

  it('logs why a hook answer was refused as malformed, naming the hook and the field', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0, transport: 'ws' },
      namespaces: { room: { clientPublish: true, hooks: { publish: true } } },
    });
    const hub = await startHub(config, {
      hooks: {
        connect: () => ({ result: { user: 'u', caps: { '*': ['publish'] } } }),
        publish: () => ({ result: { data: 1, surprise: true } }) as never,
      },
      logger: pino({ level: 'warn' }, sink),
    });
    running.push(hub);
    const c = await open(`ws://127.0.0.1:${hub.port}/ws`);
    await c.call('connect');
    await expectCode(c.call('publish', { channel: 'room:x', data: 1 }), 'backend_unavailable');
    expect(lines).toContainEqual(
      expect.objectContaining({ hook: 'publish', why: 'malformed', msg: 'hook gave no usable answer; the client gets backend_unavailable' }),
    );
    expect(String(lines.find((l) => l.hook === 'publish')?.reason)).toContain('surprise');
  });

  it('hands a token to the connect hook when the hub has no key to verify it', async () => {
    const tokens: (string | undefined)[] = [];
    const { url } = await startApp({
      connect: (req) => {
        tokens.push(req.token);
        return { error: { message: 'unknown token' } };
      },
    });
    const c = await open(url);
    await expectCode(c.call('connect', { token: 'made-up' }), 'unauthorized');
    expect(tokens).toEqual(['made-up']);
  });

  it('refuses to start when a namespace asks for a hook that is not configured, or one hook is given twice', async () => {
    const base = { logLevel: 'silent', server: { host: '127.0.0.1', port: 0, transport: 'ws' } } as const;
    const missing = parseConfig({ ...base, namespaces: { room: { hooks: { publish: true } } } });
    await expect(startHub(missing, {})).rejects.toThrow(/namespaces\.room\.hooks\.publish is on, but no publish hook is configured/);
    const twice = parseConfig({ ...base, hooks: { rpc: { url: 'http://127.0.0.1:9/rpc' } } });
    await expect(startHub(twice, { hooks: { rpc: () => ({ result: {} }) } })).rejects.toThrow(/hooks\.rpc: both a URL and an in-process rpc hook/);
  });
});

// "Lossless or told, never stuck": the SDK leaves `connecting` when a hub hangs mid-handshake,
// notices a silent connection after two ping intervals, and tells the app (and pending commands)
// when its token function fails. Timers are fake (sockets are real), so time moves only when a
// test advances it.

import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type HubClientOptions, type HubError, type DisconnectInfo } from '../../client/src/index.js';
import { FakeHub } from './fake-hub.js';
import { argsOf, type Recorded, Signal, watch } from './wait.js';

const hubs: FakeHub[] = [];
const clients: HubClient[] = [];

beforeEach(() => {
  // Sockets stay real; only the SDK's clock is fake (Date for the heartbeat's silence).
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  vi.useRealTimers();
  vi.restoreAllMocks();
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

const base = { WebSocket, _random: () => 0.5, reconnect: { minDelayMs: 20, maxDelayMs: 80 } } satisfies HubClientOptions;

async function start(
  options: HubClientOptions = {},
  prepare: (hub: FakeHub) => void = () => {},
): Promise<{ hub: FakeHub; client: HubClient; events: Recorded[] }> {
  const hub = await FakeHub.start();
  hubs.push(hub);
  prepare(hub);
  const client = new HubClient(hub.url, { ...base, ...options });
  clients.push(client);
  const events = watch(hub.signal, client, 'state', 'connected', 'disconnected', 'error');
  return { hub, client, events };
}

/** A promise's outcome, readable synchronously once settled (undefined while pending). */
function settle<T>(p: Promise<T>): { value?: T; error?: HubError; done: boolean } {
  const o: { value?: T; error?: HubError; done: boolean } = { done: false };
  p.then(
    (value) => Object.assign(o, { value, done: true }),
    (error: HubError) => Object.assign(o, { error, done: true }),
  );
  return o;
}

describe('handshake timeout', () => {
  it.each([
    ['the upgrade is never answered', (hub: FakeHub) => (hub.holdUpgrades = true)],
    ['connect is never answered', (hub: FakeHub) => delete hub.auto.connect],
  ])('gives up on an attempt after handshakeTimeoutMs when %s, and retries with backoff', async (_, hang) => {
    const { hub, client, events } = await start({ handshakeTimeoutMs: 1000, timeoutMs: 60_000 }, hang);
    await hub.until(() => hub.upgrades === 1, 5000, 'the first upgrade');
    await vi.advanceTimersByTimeAsync(999);
    expect(client.state).toBe('connecting');
    await vi.advanceTimersByTimeAsync(1);
    expect(client.state).toBe('disconnected');
    const reason = 'handshake timed out after 1000 ms';
    expect(argsOf<DisconnectInfo>(events, 'disconnected')).toEqual([{ code: 4004, reason, reconnect: true, delayMs: 10 }]);
    expect(argsOf<HubError>(events, 'error').map((e) => [e.code, e.message, e.temporary])).toEqual([['timeout', reason, true]]);
    await vi.advanceTimersByTimeAsync(10);
    expect(client.state).toBe('connecting');
    await hub.until(() => hub.upgrades === 2, 5000, 'the second upgrade');
    expect(argsOf(events, 'state')).toEqual(['disconnected', 'connecting']);
  });

  it('stops the handshake timer once connected', async () => {
    const { hub, client, events } = await start({ handshakeTimeoutMs: 1000 });
    await hub.until(() => client.state === 'connected');
    await vi.advanceTimersByTimeAsync(5000);
    expect(client.state).toBe('connected');
    expect(argsOf(events, 'disconnected')).toEqual([]);
  });

  it('leaves connecting when a server accepts TCP but never answers, retries, and closes with no timers left', async () => {
    vi.useRealTimers();
    // Only the timers: vi.getTimerCount() then counts every timer anyone left behind.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const signal = new Signal();
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      // Read (and ignore) the upgrade request: a socket nobody reads never sees the client hang up.
      socket.resume();
      socket.on('close', () => signal.notify());
      signal.notify();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = new HubClient(`ws://127.0.0.1:${port}/ws`, { ...base, handshakeTimeoutMs: 2000 });
      clients.push(client);
      const events = watch(signal, client, 'state', 'disconnected');
      await signal.until(() => sockets.length === 1, 5000, 'the first TCP connection');
      expect(client.state).toBe('connecting');
      await vi.advanceTimersByTimeAsync(2000);
      expect(client.state).toBe('disconnected');
      await vi.advanceTimersByTimeAsync(10);
      await signal.until(() => sockets.length === 2, 5000, 'a second TCP connection');
      expect(client.state).toBe('connecting');
      await client.close();
      expect(argsOf(events, 'state')).toEqual(['disconnected', 'connecting', 'closed']);
      expect(argsOf<DisconnectInfo>(events, 'disconnected').map((d) => d.reason)).toEqual(['handshake timed out after 2000 ms']);
      expect(vi.getTimerCount()).toBe(0);
      // The client hung up both attempts itself.
      await signal.until(() => sockets.every((s) => s.closed), 5000, 'both sockets closed');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('half-open detection', () => {
  it('pings after one silent ping interval and drops the socket after two, however the silence lines up', async () => {
    const { hub, client, events } = await start({}, (hub) => {
      hub.auto.connect = (cmd, conn) => conn.reply(cmd, { client: 'c0', user: '', version: 'fake', pingIntervalMs: 1000 });
    });
    const conn = await hub.connected(0);
    await hub.until(() => client.state === 'connected');
    // A frame half an interval in: the silence starts there, not when the connection did.
    await vi.advanceTimersByTimeAsync(500);
    const ack = client.publish('chat:x', 1);
    conn.reply(await conn.next('publish'), { offset: 1, epoch: 'e' });
    await ack;
    // One silent interval: a ping goes out. Two: the socket is given up on, to the millisecond.
    await vi.advanceTimersByTimeAsync(1000);
    await vi.advanceTimersByTimeAsync(999);
    expect(client.state).toBe('connected');
    await vi.advanceTimersByTimeAsync(1);
    expect(client.state).toBe('disconnected');
    expect(argsOf<DisconnectInfo>(events, 'disconnected')).toEqual([
      { code: 4003, reason: 'no reply to ping', reconnect: true, delayMs: 10 },
    ]);
    expect((await conn.closed).code).toBe(4003);
    // Written before the close frame, so it has arrived.
    expect(conn.sent('ping')).toHaveLength(1);
  });

  it('keeps a quiet connection whose pings are answered', async () => {
    const { hub, client, events } = await start({}, (hub) => {
      hub.auto.connect = (cmd, conn) => conn.reply(cmd, { client: 'c0', user: '', version: 'fake', pingIntervalMs: 1000 });
    });
    const conn = await hub.connected(0);
    await hub.until(() => client.state === 'connected');
    for (let i = 1; i <= 3; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      conn.reply(await conn.next('ping'));
      // A round trip at the same (fake) instant, so the client has read the ping's reply.
      const ack = client.publish('chat:x', i);
      conn.reply(await conn.next('publish'), { offset: i, epoch: 'e' });
      await ack;
    }
    expect(client.state).toBe('connected');
    expect(argsOf(events, 'disconnected')).toEqual([]);
  });
});

describe('a failing token function', () => {
  it('fails commands promptly with the token error, retries with backoff, and reports each distinct failure once', async () => {
    let failure: string | undefined = 'getToken is not defined';
    const { hub, client, events } = await start({
      token: () => {
        if (failure) throw new ReferenceError(failure);
        return 'ok';
      },
    });
    const first = 'the token function failed: ReferenceError: getToken is not defined';
    // Made while the client is waiting to retry: it fails now, not after timeoutMs.
    const rank = settle(client.leaderboard('scores:weekly').rank('alice'));
    await vi.advanceTimersByTimeAsync(0);
    expect(rank.error).toMatchObject({ code: 'token_failed', message: first, temporary: true });
    // Four more failures of the same kind (the first, in the constructor, was before `watch`): still reported once.
    await vi.advanceTimersByTimeAsync(10 + 20 + 40 + 40);
    expect(argsOf<DisconnectInfo>(events, 'disconnected').map((d) => [d.code, d.reason, d.delayMs])).toEqual([
      [0, first, 20],
      [0, first, 40],
      [0, first, 40],
      [0, first, 40],
    ]);
    failure = 'token endpoint down';
    await vi.advanceTimersByTimeAsync(40);
    failure = undefined;
    await vi.advanceTimersByTimeAsync(40);
    await hub.until(() => client.state === 'connected');
    expect(argsOf<HubError>(events, 'error').map((e) => [e.code, e.message])).toEqual([
      ['token_failed', first],
      ['token_failed', 'the token function failed: ReferenceError: token endpoint down'],
    ]);
    expect(hub.connections).toHaveLength(1);
    expect(hub.connections[0]?.commands[0]?.token).toBe('ok');
  });

  it('says so once on the console when nobody listens for error', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const hub = await FakeHub.start();
    hubs.push(hub);
    const client = new HubClient(hub.url, { ...base, token: () => Promise.reject(new Error('503 from /token')) });
    clients.push(client);
    // Made while the first attempt waits for its token: it fails when that token does.
    const ack = settle(client.publish('chat:x', 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(ack.error).toMatchObject({ code: 'token_failed', message: 'the token function failed: Error: 503 from /token' });
    await vi.advanceTimersByTimeAsync(10 + 20 + 40);
    expect(log.mock.calls).toEqual([['hubbub: the token function failed: Error: 503 from /token']]);
  });

  it('does not write to the console when an error listener is there', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { client, events } = await start({ token: () => Promise.reject(new Error('nope')) });
    await vi.advanceTimersByTimeAsync(10);
    expect(argsOf<HubError>(events, 'error')).toHaveLength(1);
    expect(client.state).toBe('disconnected');
    expect(log).not.toHaveBeenCalled();
  });
});

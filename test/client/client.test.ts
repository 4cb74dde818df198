// The SDK's connection against a scripted fake hub: the connect handshake, batching, replies,
// timeouts, what a drop does to commands in flight, close codes, backoff, tokens, the `online`
// event and half-open detection.

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type HubClientOptions, HubError, type DisconnectInfo } from '../../client/src/index.js';
import { type Cmd, type FakeConnection, FakeHub } from './fake-hub.js';
import { argsOf, type Recorded, watch } from './wait.js';

const hubs: FakeHub[] = [];
const clients: HubClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

async function setup(options: HubClientOptions = {}): Promise<{ hub: FakeHub; client: HubClient; events: Recorded[] }> {
  const hub = await FakeHub.start();
  hubs.push(hub);
  const client = new HubClient(hub.url, {
    WebSocket,
    _random: () => 0.5,
    reconnect: { minDelayMs: 20, maxDelayMs: 80 },
    ...options,
  });
  clients.push(client);
  const events = watch(hub.signal, client, 'state', 'connected', 'disconnected', 'error');
  return { hub, client, events };
}

/** Settles a promise into a value or its error, so a rejection is asserted on, never unhandled. */
function outcome<T>(p: Promise<T>): Promise<{ value?: T; error?: HubError }> {
  return p.then(
    (value) => ({ value }),
    (error: HubError) => ({ error }),
  );
}

/**
 * Two command round trips: the first lets the SDK finish reacting to what the server sent before
 * it; the second arrives after anything the SDK sent in reaction, so a test can assert it did not.
 */
async function roundTrips(client: HubClient, conn: FakeConnection): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const done = client.publish('chat:probe', i);
    conn.reply(await conn.next('publish'), { offset: i + 1, epoch: 'probe' });
    await done;
  }
}

const connectReply = { client: 'c0', user: 'u', version: 'fake', pingIntervalMs: 25_000 };

describe('HubClient connection', () => {
  it('sends connect first with the name, then reports connected with the reply', async () => {
    const { hub, client, events } = await setup({ name: 'tab-1' });
    expect(client.state).toBe('connecting');
    const conn = await hub.connected(0);
    expect(conn.commands[0]).toEqual({ id: 1, method: 'connect', name: 'tab-1', subs: {} });
    await hub.until(() => client.state === 'connected');
    expect(argsOf(events, 'state')).toEqual(['connected']);
    expect(argsOf(events, 'connected')).toEqual([{ client: 'c0', user: '', version: 'fake', pingIntervalMs: 25_000 }]);
    expect(client.info?.client).toBe('c0');
  });

  it('holds commands until connect is acknowledged, then sends those of one tick as one batch frame', async () => {
    const { hub, client } = await setup();
    delete hub.auto.connect;
    const sub = client.subscribe('chat:a');
    const acks = [sub.publish('one'), sub.publish('two')];
    const conn = await hub.connection(0);
    const connect = await conn.next('connect');
    expect(conn.raw).toHaveLength(1);
    conn.reply(connect, connectReply);
    await hub.until(() => conn.raw.length === 2, 5000, 'the batch');
    const batch = conn.raw[1] as Cmd[];
    expect(batch.map(({ id: _id, ...rest }) => rest)).toEqual([
      { method: 'subscribe', channel: 'chat:a' },
      { method: 'publish', channel: 'chat:a', data: 'one' },
      { method: 'publish', channel: 'chat:a', data: 'two' },
    ]);
    conn.send(batch.map((cmd, i) => ({ id: cmd.id, result: { offset: i, epoch: 'e' } })));
    expect(await Promise.all(acks)).toEqual([
      { offset: 1, epoch: 'e' },
      { offset: 2, epoch: 'e' },
    ]);
    await sub.ready;
    // A lone command goes out as an object, not a one-element array.
    const single = sub.presenceStats();
    const cmd = await conn.next('presence_stats');
    expect(conn.raw.at(-1)).toEqual({ id: cmd.id, method: 'presence_stats', channel: 'chat:a' });
    conn.reply(cmd, { clients: 1, users: 1 });
    expect(await single).toEqual({ clients: 1, users: 1 });
  });

  it('splits more than 100 commands of one tick into frames of at most 100', async () => {
    const { hub, client } = await setup();
    const conn = await hub.connected(0);
    await hub.until(() => client.state === 'connected');
    const sub = client.subscribe('chat:many');
    const acks = Array.from({ length: 150 }, (_, i) => outcome(sub.publish(i)));
    await hub.until(() => conn.sent('publish').length === 150);
    expect((conn.raw.slice(1) as unknown[][]).map((f) => f.length)).toEqual([100, 51]);
    for (const cmd of conn.sent('publish')) conn.reply(cmd, { offset: (cmd.data as number) + 1, epoch: 'e' });
    expect((await Promise.all(acks)).map((o) => o.value?.offset)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  });

  it('rejects with the server error code, temporary flag and retryAfterMs', async () => {
    const { hub, client } = await setup();
    const conn = await hub.connected(0);
    const sub = client.subscribe('chat:x');
    const ack = outcome(sub.publish('hi'));
    const cmd = await conn.next('publish');
    conn.fail(cmd, 'rate_limited', true, { retryAfterMs: 250 });
    const { error } = await ack;
    expect(error).toBeInstanceOf(HubError);
    expect(error).toMatchObject({ code: 'rate_limited', temporary: true, retryAfterMs: 250, name: 'HubError' });
  });

  it('fails a command with no reply with timeout, and stays connected', async () => {
    const { hub, client } = await setup({ timeoutMs: 50 });
    const conn = await hub.connected(0);
    const started = Date.now();
    const { error } = await outcome(client.subscribe('chat:x').publish('lost'));
    expect(error).toMatchObject({ code: 'timeout', temporary: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(client.state).toBe('connected');
    // A late reply to the timed-out command is ignored; the next command works.
    conn.reply(await conn.next('publish'), { offset: 1, epoch: 'e' });
    const next = client.subscribe('chat:y').publish('fine');
    conn.reply(await conn.next('publish'), { offset: 2, epoch: 'e' });
    expect(await next).toEqual({ offset: 2, epoch: 'e' });
  });

  it('fails commands in flight with disconnected when the socket drops, and does not resend them', async () => {
    const { hub, client } = await setup();
    const first = await hub.connected(0);
    await hub.until(() => client.state === 'connected');
    const sub = client.subscribe('chat:x');
    const inFlight = outcome(sub.publish('maybe'));
    await first.next('publish');
    first.terminate();
    expect((await inFlight).error).toMatchObject({ code: 'disconnected', temporary: true });
    await hub.until(() => client.state === 'disconnected');
    // Queued while disconnected: sent once connected again.
    const queued = sub.publish('later');
    const second = await hub.connected(1);
    const cmd = await second.next('publish');
    expect(cmd.data).toBe('later');
    second.reply(cmd, { offset: 2, epoch: 'e' });
    expect(await queued).toEqual({ offset: 2, epoch: 'e' });
    expect(second.sent('publish').map((c) => c.data)).toEqual(['later']);
  });

  it('fails everything with closed after close(), and leaves the socket closed', async () => {
    const { hub, client, events } = await setup();
    const conn = await hub.connected(0);
    const sub = client.subscribe('chat:x');
    const pending = outcome(sub.publish('x'));
    await conn.next('publish');
    await client.close();
    expect(client.state).toBe('closed');
    expect((await pending).error?.code).toBe('closed');
    expect((await outcome(sub.ready)).error?.code).toBe('closed');
    expect((await outcome(client.subscribe('chat:y').publish(1))).error?.code).toBe('closed');
    expect((await conn.closed).code).toBe(1000);
    expect(argsOf(events, 'state').at(-1)).toBe('closed');
    expect(argsOf(events, 'disconnected')).toEqual([]);
  });
});

describe('HubClient reconnect', () => {
  it('backs off with full jitter, doubling up to the max, and starts over after a successful connect', async () => {
    const { hub, events } = await setup({ reconnect: { minDelayMs: 20, maxDelayMs: 80 } });
    // Refuse four attempts in a row before connect is answered.
    let refusals = 4;
    hub.auto.connect = (cmd, conn) => {
      if (refusals-- > 0) conn.close(4000, 'not now');
      else conn.reply(cmd, connectReply);
    };
    await hub.until(() => argsOf(events, 'connected').length === 1, 5000, 'a connect after four refusals');
    // random() pinned at 0.5: half of min(80, 20 * 2^attempt).
    const delays = argsOf<DisconnectInfo>(events, 'disconnected').map((d) => d.delayMs);
    expect(delays).toEqual([10, 20, 40, 40]);
    const gone = (await hub.connection(4)).closed;
    (await hub.connection(4)).close(4000, 'again');
    await gone;
    await hub.until(() => argsOf(events, 'disconnected').length === 5);
    expect(argsOf<DisconnectInfo>(events, 'disconnected')[4]).toEqual({ code: 4000, reason: 'again', reconnect: true, delayMs: 10 });
    await hub.until(() => argsOf(events, 'connected').length === 2, 5000, 'reconnected');
  });

  it('waits at least the backoff delay before the next attempt', async () => {
    const { hub, events } = await setup({ reconnect: { minDelayMs: 200, maxDelayMs: 200 } });
    const first = await hub.connected(0);
    first.close(4000);
    await hub.connection(1);
    const dropped = events.find((e) => e.type === 'disconnected') as Recorded;
    expect((dropped.arg as DisconnectInfo).delayMs).toBe(100);
    const reconnecting = events.find((e) => e.type === 'state' && e.arg === 'connecting' && e.at >= dropped.at) as Recorded;
    expect(reconnecting.at - dropped.at).toBeGreaterThanOrEqual(95);
  });

  it.each([1000, 1001, 1011, 1012, 1013, 4000, 4001, 4004, 4099])('reconnects after close code %i', async (code) => {
    const { hub, events } = await setup();
    (await hub.connected(0)).close(code, 'bye');
    await hub.connected(1);
    expect(argsOf<DisconnectInfo>(events, 'disconnected')[0]).toMatchObject({ code, reconnect: true });
  });

  it('reconnects after the socket just ends (1006)', async () => {
    const { hub, events } = await setup();
    (await hub.connected(0)).terminate();
    await hub.connected(1);
    expect(argsOf<DisconnectInfo>(events, 'disconnected')[0]).toMatchObject({ code: 1006, reconnect: true });
  });

  it.each([
    [4100, 'bad_frame'],
    [4101, 'forbidden'],
    [4102, 'unauthorized'],
    [4103, 'kicked'],
    [4150, 'refused'],
    [1009, 'message_too_big'],
  ])('stops for good after close code %i, with error %s', async (code, name) => {
    const { hub, client, events } = await setup();
    const sub = client.subscribe('chat:x');
    (await hub.connected(0)).close(code, 'go away');
    await hub.until(() => client.state === 'closed');
    expect(argsOf<DisconnectInfo>(events, 'disconnected')).toEqual([{ code, reason: 'go away', reconnect: false }]);
    expect(argsOf<HubError>(events, 'error').map((e) => [e.code, e.message, e.details])).toEqual([
      [name, 'go away', { closeCode: code }],
    ]);
    expect((await outcome(sub.ready)).error?.code).toBe(name);
    expect(hub.connections).toHaveLength(1);
  });

  it('follows the disconnect push over the close code', async () => {
    const { hub, client, events } = await setup();
    const first = await hub.connected(0);
    first.push({ push: 'disconnect', code: 4101, reason: 'try elsewhere', reconnect: true });
    first.close(4101, 'try elsewhere');
    await hub.connected(1);
    const second = hub.connections[1];
    second?.push({ push: 'disconnect', code: 4000, reason: 'banned', reconnect: false });
    second?.close(4000, 'banned');
    await hub.until(() => client.state === 'closed');
    expect(argsOf<DisconnectInfo>(events, 'disconnected').map((d) => [d.code, d.reconnect])).toEqual([
      [4101, true],
      [4000, false],
    ]);
  });

  it('keeps retrying while the server is unreachable', async () => {
    const hub = await FakeHub.start();
    const url = hub.url;
    await hub.close();
    const client = new HubClient(url, { WebSocket, _random: () => 0.5, reconnect: { minDelayMs: 10, maxDelayMs: 20 } });
    clients.push(client);
    const events = watch(hub.signal, client, 'disconnected');
    await hub.until(() => events.length >= 3, 5000, 'three failed attempts');
    expect(argsOf<DisconnectInfo>(events, 'disconnected').map((d) => [d.code, d.reconnect, d.delayMs])).toEqual([
      [1006, true, 5],
      [1006, true, 10],
      [1006, true, 10],
    ]);
  });

  it('stays disconnected with reconnect: false until connect() is called', async () => {
    const { hub, client, events } = await setup({ reconnect: false });
    (await hub.connected(0)).close(4000, 'restart');
    await hub.until(() => client.state === 'disconnected');
    expect(argsOf<DisconnectInfo>(events, 'disconnected')).toEqual([{ code: 4000, reason: 'restart', reconnect: false }]);
    expect(hub.connections).toHaveLength(1);
    client.connect();
    await hub.connected(1);
    await hub.until(() => client.state === 'connected');
  });

  it('reconnects at once on the online event, and removes its listener on close', async () => {
    const listeners = new Set<() => void>();
    const g = globalThis as unknown as Record<string, unknown>;
    g.addEventListener = (type: string, fn: () => void) => type === 'online' && listeners.add(fn);
    g.removeEventListener = (type: string, fn: () => void) => type === 'online' && listeners.delete(fn);
    const online = () => {
      for (const fn of listeners) fn();
    };
    try {
      const { hub, client, events } = await setup({ reconnect: { minDelayMs: 60_000, maxDelayMs: 60_000 } });
      expect(listeners.size).toBe(1);
      (await hub.connected(0)).close(4000);
      await hub.until(() => client.state === 'disconnected');
      expect(argsOf<DisconnectInfo>(events, 'disconnected')[0]?.delayMs).toBe(30_000);
      online();
      await hub.connected(1);
      await hub.until(() => client.state === 'connected');
      // Online while connected changes nothing.
      online();
      expect(client.state).toBe('connected');
      await client.close();
      expect(listeners.size).toBe(0);
      expect(hub.connections).toHaveLength(2);
    } finally {
      delete g.addEventListener;
      delete g.removeEventListener;
    }
  });

  it('detects a half-open connection: pings after a silent interval and reconnects after two', async () => {
    const { hub, client, events } = await setup();
    // Real time, with room for a loaded machine: liveness.test.ts pins the bounds on a fake clock.
    hub.auto.connect = (cmd, conn) => conn.reply(cmd, { ...connectReply, pingIntervalMs: 100 });
    const first = await hub.connected(0);
    // The first ping is answered: still connected.
    first.reply(await first.next('ping'), {});
    // The second is not: the client gives up on the socket and reconnects.
    await first.next('ping');
    await hub.connected(1);
    expect(argsOf<DisconnectInfo>(events, 'disconnected')[0]).toMatchObject({ code: 4003, reconnect: true });
    expect((await first.closed).code).toBe(4003);
    await hub.until(() => client.state === 'connected');
  });
});

describe('HubClient tokens', () => {
  it('calls the token function before every connect and sends its token', async () => {
    let calls = 0;
    const { hub } = await setup({ token: async () => `t${++calls}` });
    const first = await hub.connected(0);
    expect(first.commands[0]).toEqual({ id: 1, method: 'connect', token: 't1', subs: {} });
    first.close(4000);
    const second = await hub.connected(1);
    expect(second.commands[0]).toMatchObject({ method: 'connect', token: 't2' });
  });

  it('on token_expired, fetches a fresh token and reconnects at once, then backs off if it is refused again', async () => {
    let calls = 0;
    const { hub, client, events } = await setup({ token: () => `t${++calls}` });
    let expired = 2;
    hub.auto.connect = (cmd, conn) => {
      if (expired-- > 0) conn.fail(cmd, 'token_expired', true);
      else conn.reply(cmd, connectReply);
    };
    await hub.until(() => client.state === 'connected', 5000, 'connected with the third token');
    expect(hub.connections.map((c) => c.commands[0]?.token)).toEqual(['t1', 't2', 't3']);
    expect(argsOf<DisconnectInfo>(events, 'disconnected').map((d) => [d.code, d.delayMs])).toEqual([
      [4005, 0],
      [4005, 10],
    ]);
    expect(argsOf(events, 'error')).toEqual([]);
  });

  it('reconnects with a fresh token when a live connection closes with 4005', async () => {
    let calls = 0;
    const { hub, client, events } = await setup({ token: async () => `t${++calls}` });
    (await hub.connected(0)).close(4005, 'token expired');
    const second = await hub.connected(1);
    expect(second.commands[0]?.token).toBe('t2');
    expect(argsOf<DisconnectInfo>(events, 'disconnected')).toEqual([{ code: 4005, reason: 'token expired', reconnect: true, delayMs: 0 }]);
    await hub.until(() => client.state === 'connected');
  });

  it('stops when a static token expires', async () => {
    const { hub, client, events } = await setup({ token: 'static' });
    hub.auto.connect = (cmd, conn) => conn.fail(cmd, 'token_expired', true);
    await hub.until(() => client.state === 'closed');
    expect(hub.connections[0]?.commands[0]?.token).toBe('static');
    expect(argsOf<HubError>(events, 'error').map((e) => e.code)).toEqual(['token_expired']);
    expect(hub.connections).toHaveLength(1);
  });

  it('stops on unauthorized at connect, with the server error', async () => {
    const { hub, client, events } = await setup({ token: async () => 'forged' });
    hub.auto.connect = (cmd, conn) => {
      conn.fail(cmd, 'unauthorized');
      conn.close(4102, 'unauthorized');
    };
    await hub.until(() => client.state === 'closed');
    expect(argsOf<HubError>(events, 'error').map((e) => [e.code, e.temporary])).toEqual([['unauthorized', false]]);
    expect(argsOf<DisconnectInfo>(events, 'disconnected')).toEqual([
      { code: 4102, reason: 'unauthorized (fake)', reconnect: false },
    ]);
    expect(hub.connections).toHaveLength(1);
  });

  it('stops on a permanent connect error, however long its message', async () => {
    const { hub, client, events } = await setup();
    const message = `connect: ${'x'.repeat(300)}`;
    hub.auto.connect = (cmd, conn) => conn.fail(cmd, 'bad_request', false, undefined, message);
    await hub.until(() => client.state === 'closed');
    expect(argsOf<HubError>(events, 'error').map((e) => [e.code, e.message])).toEqual([['bad_request', message]]);
    expect((await hub.connections[0]?.closed)?.code).toBe(4100);
  });

  it('retries with backoff when connect fails temporarily', async () => {
    const { hub, client, events } = await setup();
    let failures = 1;
    hub.auto.connect = (cmd, conn) => {
      if (failures-- > 0) conn.fail(cmd, 'unavailable', true);
      else conn.reply(cmd, connectReply);
    };
    await hub.until(() => client.state === 'connected');
    expect(argsOf<HubError>(events, 'error').map((e) => e.code)).toEqual(['unavailable']);
    expect(argsOf<DisconnectInfo>(events, 'disconnected')).toEqual([
      { code: 4004, reason: 'unavailable (fake)', reconnect: true, delayMs: 10 },
    ]);
  });

  it('retries with backoff when the token function fails', async () => {
    let calls = 0;
    const { hub, client, events } = await setup({
      token: async () => {
        if (++calls === 1) throw new Error('auth server down');
        return 'ok';
      },
    });
    await hub.until(() => client.state === 'connected');
    expect(argsOf<HubError>(events, 'error').map((e) => e.code)).toEqual(['token_failed']);
    expect(argsOf<HubError>(events, 'error')[0]?.message).toContain('auth server down');
    expect(hub.connections).toHaveLength(1);
    expect(hub.connections[0]?.commands[0]?.token).toBe('ok');
  });

  it('answers an expiring push with a refresh carrying a fresh token, on the same connection', async () => {
    let calls = 0;
    const { hub, client } = await setup({ token: async () => `t${++calls}` });
    const conn = await hub.connected(0);
    await hub.until(() => client.state === 'connected');
    conn.push({ push: 'expiring', inMs: 5000 });
    const refresh: Cmd = await conn.next('refresh');
    expect(refresh).toMatchObject({ method: 'refresh', token: 't2' });
    conn.reply(refresh, { expiresAt: Date.now() + 60_000 });
    expect(hub.connections).toHaveLength(1);
  });

  it('does not send the same token back as a refresh (it would be warned again at once)', async () => {
    let calls = 0;
    let notify = () => {};
    const { hub, client } = await setup({
      token: async () => {
        calls++;
        notify();
        return 'cached';
      },
    });
    notify = () => hub.notify();
    const conn = await hub.connected(0);
    await hub.until(() => client.state === 'connected');
    conn.push({ push: 'expiring', inMs: 5000 });
    conn.push({ push: 'expiring', inMs: 4000 });
    await hub.until(() => calls === 3, 5000, 'the token function called for both warnings');
    await roundTrips(client, conn);
    expect(conn.sent('refresh')).toEqual([]);
    expect(client.state).toBe('connected');
  });

  it('ignores an expiring push with a static token', async () => {
    const { hub, client } = await setup({ token: 'static' });
    const conn = await hub.connected(0);
    await hub.until(() => client.state === 'connected');
    conn.push({ push: 'expiring', inMs: 5000 });
    await roundTrips(client, conn);
    expect(conn.sent('refresh')).toEqual([]);
  });
});

// The hub over real sockets, on both transports: what a client sees for every command, recovery,
// presence, leaderboards, limits, slow consumers and bad input.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ConfigInput } from '../../src/config/index.js';
import { expectCode, type Frame, HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub, type TransportName } from '../helpers/hub-server.js';

const namespaces: ConfigInput['namespaces'] = {
  chat: { history: { size: 1000, ttlMs: 0 }, presence: true, joinLeave: true, clientPublish: true },
  small: { history: { size: 3, ttlMs: 0 }, clientPublish: true },
  feed: { history: { size: 10, ttlMs: 0 }, clientPublish: true, publisherInfo: false },
  quiet: { clientPublish: false },
  capped: { maxSubscribers: 1, clientPublish: true },
  scores: { leaderboard: { clientIncr: true, top: 3, updateIntervalMs: 200 } },
  limited: { clientPublish: true, publishRate: { rate: 1, periodMs: 60_000, burst: 2 } },
};

const transports: TransportName[] = ['ws', 'uws'];

interface Position {
  offset: number;
  epoch: string;
}

describe.each(transports)('hub over %s', (transport) => {
  let hub: TestHub;
  const clients: HubTestClient[] = [];

  async function client(options: { connect?: boolean } = {}, url = hub.url): Promise<HubTestClient> {
    const c = await HubTestClient.open(url, options);
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    hub = await startTestHub(transport, {
      namespaces,
      limits: { maxChannels: 5, commands: { rate: 10_000, burst: 10_000 } },
    });
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
  });

  afterAll(async () => {
    await hub.close();
  });

  const dataOf = (c: HubTestClient, channel: string) => c.pushesOf('pub', channel).map((p) => p.data);

  it('delivers publications to subscribers in order, and nothing after unsubscribe', async () => {
    const sub = await client();
    const pub = await client();
    const first = (await sub.call('subscribe', { channel: 'chat:basic' })) as unknown as Position;
    expect(first.offset).toBe(0);
    for (let i = 1; i <= 3; i++) {
      expect(await pub.call('publish', { channel: 'chat:basic', data: { n: i } })).toEqual({
        offset: i,
        epoch: first.epoch,
      });
    }
    await sub.until(() => dataOf(sub, 'chat:basic').length === 3, 5000, 'three publications');
    expect(sub.pushesOf('pub', 'chat:basic')).toEqual(
      [1, 2, 3].map((n) => ({
        push: 'pub',
        channel: 'chat:basic',
        offset: n,
        epoch: first.epoch,
        data: { n },
        from: { client: expect.any(String), user: '' },
      })),
    );
    await sub.call('unsubscribe', { channel: 'chat:basic' });
    await pub.call('publish', { channel: 'chat:basic', data: 'after' });
    await sub.call('subscribe', { channel: 'chat:marker' });
    await pub.call('publish', { channel: 'chat:marker', data: 'marker' });
    await sub.until(() => dataOf(sub, 'chat:marker').length === 1);
    expect(dataOf(sub, 'chat:basic')).toHaveLength(3);
  });

  it('leaves the publisher out of live and recovered publications where the namespace says publisherInfo: false', async () => {
    const sub = await client();
    const pub = await client();
    const { epoch } = (await sub.call('subscribe', { channel: 'feed:cpu' })) as unknown as Position;
    await pub.call('publish', { channel: 'feed:cpu', data: { v: 1 } });
    await sub.until(() => dataOf(sub, 'feed:cpu').length === 1);
    const [live] = sub.pushesOf('pub', 'feed:cpu');
    expect(live).toEqual({ push: 'pub', channel: 'feed:cpu', offset: 1, epoch, data: { v: 1 } });
    const late = await client();
    const recovered = await late.call('subscribe', { channel: 'feed:cpu', since: { offset: 0, epoch } });
    expect(recovered).toMatchObject({ recovered: true, publications: [{ offset: 1, data: { v: 1 } }] });
    expect((recovered.publications as Frame[])[0]).not.toHaveProperty('from');
  });

  it('answers a batch with every reply in order, and delivers its publication after the subscribe reply', async () => {
    const c = await client();
    const replies = await c.batch([
      { method: 'subscribe', channel: 'chat:batch' },
      { method: 'publish', channel: 'chat:batch', data: 'hi' },
      { method: 'nonsense' },
      { method: 'ping' },
    ]);
    expect(replies[0]).toMatchObject({ result: { offset: 0 } });
    expect(replies[1]).toMatchObject({ result: { offset: 1 } });
    expect(replies[2]).toMatchObject({ error: { code: 'unknown_method' } });
    expect(replies[3]).toEqual({ result: {} });
    await c.until(() => dataOf(c, 'chat:batch').length === 1);
    const replyIndex = c.frames.findIndex((f) => f.id !== undefined);
    const pubIndex = c.frames.findIndex((f) => f.push === 'pub');
    expect(pubIndex).toBeGreaterThan(replyIndex);
  });

  it('gives every misuse its own error code and keeps the connection', async () => {
    const fresh = await client({ connect: false });
    await expectCode(fresh.call('publish', { channel: 'chat:x', data: 1 }), 'not_connected');
    const c = await client();
    await expectCode(c.call('connect'), 'already_connected');
    await expectCode(c.call('subscribe', { channel: 'no-namespace' }), 'invalid_channel');
    await expectCode(c.call('subscribe', { channel: 'nope:x' }), 'unknown_namespace');
    await expectCode(c.call('subscribe', { channel: 42 }), 'bad_request');
    await expectCode(c.call('subscribe', { channel: 'chat:x', colour: 'red' }), 'bad_request');
    await expectCode(c.call('teleport'), 'unknown_method');
    await c.call('subscribe', { channel: 'chat:dup' });
    await expectCode(c.call('subscribe', { channel: 'chat:dup' }), 'already_subscribed');
    await expectCode(c.call('unsubscribe', { channel: 'chat:never' }), 'not_subscribed');
    await expectCode(c.call('publish', { channel: 'quiet:x', data: 1 }), 'forbidden');
    await expectCode(c.call('history', { channel: 'quiet:x' }), 'not_available');
    await expectCode(c.call('presence', { channel: 'quiet:x' }), 'not_available');
    await expectCode(c.call('top', { channel: 'chat:x' }), 'not_available');
    await expectCode(c.call('top', { channel: 'scores:unsubscribed' }), 'not_subscribed');
    await expectCode(
      c.call('history', { channel: 'chat:dup', since: { offset: 0, epoch: 'not-the-epoch' } }),
      'unrecoverable_position',
    );
    await c.call('incr', { channel: 'scores:huge', member: 'm', by: 1e308 });
    await expectCode(c.call('incr', { channel: 'scores:huge', member: 'm', by: 1e308 }), 'invalid_score');
    await c.call('publish', { channel: 'limited:x', data: 1 });
    await c.call('publish', { channel: 'limited:x', data: 2 });
    const limited = await expectCode(c.call('publish', { channel: 'limited:x', data: 3 }), 'rate_limited');
    expect(limited.details?.retryAfterMs).toBeGreaterThan(0);
    for (const n of [1, 2, 3, 4]) await c.call('subscribe', { channel: `chat:many${n}` });
    await expectCode(c.call('subscribe', { channel: 'chat:many5' }), 'limit_exceeded');
    const other = await client();
    await other.call('subscribe', { channel: 'capped:one' });
    await expectCode((await client()).call('subscribe', { channel: 'capped:one' }), 'limit_exceeded');
    expect(await c.call('ping')).toEqual({});
  });

  it('replays exactly the publications missed while disconnected, in order', async () => {
    const publisher = await client();
    const first = await client();
    const pos = (await first.call('subscribe', { channel: 'chat:resume' })) as unknown as Position;
    await publisher.call('publish', { channel: 'chat:resume', data: 'seen' });
    await first.until(() => dataOf(first, 'chat:resume').length === 1);
    const last = first.pushesOf('pub', 'chat:resume')[0] as Frame;
    first.terminate();
    for (let i = 1; i <= 5; i++) await publisher.call('publish', { channel: 'chat:resume', data: `missed ${i}` });
    const again = await client();
    const since = { offset: last.offset as number, epoch: pos.epoch };
    const result = await again.call('subscribe', { channel: 'chat:resume', since });
    expect(result.recovered).toBe(true);
    expect(result.offset).toBe(6);
    expect((result.publications as Frame[]).map((p) => [p.offset, p.data])).toEqual(
      [1, 2, 3, 4, 5].map((i) => [i + 1, `missed ${i}`]),
    );
    await publisher.call('publish', { channel: 'chat:resume', data: 'live' });
    await again.until(() => dataOf(again, 'chat:resume').length === 1);
    expect(again.pushesOf('pub', 'chat:resume')[0]).toMatchObject({ offset: 7, data: 'live' });
  });

  it('tells subscribers to resubscribe when the engine lost publications, and stops feeding them until they do', async () => {
    const publisher = await client();
    const sub = await client();
    const pos = (await sub.call('subscribe', { channel: 'chat:lost' })) as unknown as Position;
    await publisher.call('publish', { channel: 'chat:lost', data: 'before' });
    await sub.until(() => dataOf(sub, 'chat:lost').length === 1);
    // What a Redis engine reports when its link dropped and the stream cannot fill the gap.
    hub.hub.onUnrecoverable('chat:lost');
    hub.hub.onUnrecoverable('$hubbub:control'); // logged, never a crash
    await sub.until(() => sub.pushesOf('resubscribe', 'chat:lost').length === 1);
    await publisher.call('publish', { channel: 'chat:lost', data: 'while away' });
    expect((await publisher.call('presence', { channel: 'chat:lost' })).members).toEqual([]);
    const again = await sub.call('subscribe', { channel: 'chat:lost', since: { offset: 1, epoch: pos.epoch } });
    expect(again).toMatchObject({ recovered: true, offset: 2, publications: [{ offset: 2, data: 'while away' }] });
    expect(dataOf(sub, 'chat:lost')).toEqual(['before']);
  });

  it('says recovered: false when the missed publications were trimmed or the epoch changed', async () => {
    const publisher = await client();
    const c = await client();
    let pos: Position | undefined;
    for (let i = 1; i <= 5; i++) {
      pos = (await publisher.call('publish', { channel: 'small:trim', data: i })) as unknown as Position;
    }
    if (pos === undefined) throw new Error('no publish');
    const trimmed = await c.call('subscribe', { channel: 'small:trim', since: { offset: 0, epoch: pos.epoch } });
    expect(trimmed).toEqual({ offset: 5, epoch: pos.epoch, recovered: false });
    await c.call('unsubscribe', { channel: 'small:trim' });
    const held = await c.call('subscribe', { channel: 'small:trim', since: { offset: 2, epoch: pos.epoch } });
    expect(held).toMatchObject({ recovered: true, offset: 5 });
    await c.call('unsubscribe', { channel: 'small:trim' });
    const otherEpoch = await c.call('subscribe', { channel: 'small:trim', since: { offset: 5, epoch: 'gone' } });
    expect(otherEpoch).toEqual({ offset: 5, epoch: pos.epoch, recovered: false });
  });

  it('neither loses nor repeats a publication while resubscribing with recovery under continuous publishing', async () => {
    const publisher = await client();
    const c = await client();
    const { epoch } = (await c.call('subscribe', { channel: 'chat:stream' })) as unknown as Position;
    const total = 400;
    let publishing = true;
    const run = (async () => {
      for (let i = 1; i <= total; i++) await publisher.call('publish', { channel: 'chat:stream', data: i });
      publishing = false;
    })();
    const seen: number[] = [];
    let position = 0;
    const collect = () => {
      for (const p of c.pushesOf('pub', 'chat:stream')) seen.push(p.offset as number);
      c.pushes.length = 0;
    };
    // Resubscribe from the last offset seen, again and again, while the publisher runs.
    while (publishing) {
      await c.until(() => c.pushesOf('pub', 'chat:stream').length > 0 || !publishing, 5000);
      await c.call('unsubscribe', { channel: 'chat:stream' });
      collect();
      position = seen.at(-1) ?? position;
      const r = await c.call('subscribe', { channel: 'chat:stream', since: { offset: position, epoch } });
      expect(r.recovered).toBe(true);
      for (const p of (r.publications as Frame[] | undefined) ?? []) seen.push(p.offset as number);
    }
    await run;
    await c.until(() => (c.pushesOf('pub', 'chat:stream').at(-1)?.offset ?? seen.at(-1)) === total, 5000, 'the end');
    collect();
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });

  it('shows presence and pushes join and leave, including for a dropped connection', async () => {
    const a = await client();
    const b = await client();
    await a.call('subscribe', { channel: 'chat:room' });
    await a.until(() => a.pushesOf('join', 'chat:room').length === 1, 5000, 'own join');
    await b.call('subscribe', { channel: 'chat:room' });
    await a.until(() => a.pushesOf('join', 'chat:room').length === 2, 5000, 'join of b');
    const bClient = (a.pushesOf('join', 'chat:room')[1]?.member as Frame).client;
    const members = (await a.call('presence', { channel: 'chat:room' })).members as Frame[];
    expect(members.map((m) => m.client).sort()).toEqual([bClient, (a.pushesOf('join')[0]?.member as Frame).client].sort());
    expect(await a.call('presence_stats', { channel: 'chat:room' })).toEqual({ clients: 2, users: 1 });
    b.terminate();
    await a.until(() => a.pushesOf('leave', 'chat:room').length === 1, 5000, 'leave of b');
    expect(a.pushesOf('leave', 'chat:room')[0]?.member).toMatchObject({ client: bClient });
    expect(await a.call('presence_stats', { channel: 'chat:room' })).toEqual({ clients: 1, users: 1 });
  });

  it('lets a subscriber opt out of join and leave pushes', async () => {
    const a = await client();
    await a.call('subscribe', { channel: 'chat:optout', joinLeave: false });
    const b = await client();
    await b.call('subscribe', { channel: 'chat:optout' });
    await b.until(() => b.pushesOf('join', 'chat:optout').length === 1);
    await b.call('publish', { channel: 'chat:optout', data: 'marker' });
    await a.until(() => dataOf(a, 'chat:optout').length === 1);
    expect(a.pushesOf('join')).toEqual([]);
  });

  it('coalesces leaderboard changes into few pushes of the current top', async () => {
    const watcher = await client();
    const initial = await watcher.call('subscribe', { channel: 'scores:live' });
    expect(initial.entries).toEqual([]);
    const player = await client();
    const commands = Array.from({ length: 100 }, (_, i) => ({
      method: 'incr',
      channel: 'scores:live',
      member: `p${i % 5}`,
      by: i % 5,
    }));
    await player.batch(commands);
    await player.batch(commands);
    const finalTop = [
      { member: 'p4', score: 160, rank: 0 },
      { member: 'p3', score: 120, rank: 1 },
      { member: 'p2', score: 80, rank: 2 },
    ];
    await watcher.until(
      () => JSON.stringify(watcher.pushesOf('board').at(-1)?.entries) === JSON.stringify(finalTop),
      5000,
      'final top',
    );
    // 200 increments inside one update interval: one push (two if the interval fell between batches).
    expect(watcher.pushesOf('board').length).toBeLessThanOrEqual(2);
    expect(await watcher.call('top', { channel: 'scores:live', limit: 2 })).toEqual({ entries: finalTop.slice(0, 2) });
    expect(await watcher.call('rank', { channel: 'scores:live', member: 'p3' })).toEqual({ rank: 1, score: 120 });
    const around = (await watcher.call('around', { channel: 'scores:live', member: 'p2', n: 1 })).entries as Frame[];
    expect(around.map((e) => e.member)).toEqual(['p3', 'p2', 'p1']);
  });

  it('closes a connection on malformed JSON, binary frames or an oversized frame, and keeps serving others', async () => {
    const observer = await client();
    await observer.call('subscribe', { channel: 'chat:survivor' });
    const cases: [string, (c: HubTestClient) => void, number][] = [
      ['malformed JSON', (c) => c.sendRaw('{"id":1,"method":'), 4100],
      ['no id', (c) => c.sendRaw('{"method":"ping"}'), 4100],
      ['binary', (c) => c.sendRaw(Buffer.from([1, 2, 3]), true), 4100],
      ['oversized', (c) => c.sendRaw(JSON.stringify({ id: 1, method: 'ping', pad: 'x'.repeat(70_000) })), 1009],
    ];
    for (const [, misbehave, code] of cases) {
      const bad = await client();
      misbehave(bad);
      expect((await bad.closed).code).toBe(code);
    }
    const publisher = await client();
    await publisher.call('publish', { channel: 'chat:survivor', data: 'still here' });
    await observer.until(() => dataOf(observer, 'chat:survivor').length === 1);
  });

  it('tells a client why before closing it: a disconnect push with the code and whether to reconnect', async () => {
    const bad = await client();
    bad.sendRaw('not json');
    expect((await bad.closed).code).toBe(4100);
    expect(bad.pushesOf('disconnect')).toEqual([
      { push: 'disconnect', code: 4100, reason: 'frame is not valid JSON', reconnect: false },
    ]);
  });
});

/** The HTTP status a refused upgrade gets, or 101 when it is accepted. */
async function upgradeStatus(url: string): Promise<{ status: number; ws: WebSocket }> {
  const ws = new WebSocket(url);
  const status = await new Promise<number>((resolve, reject) => {
    ws.once('open', () => resolve(101));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
  return { status, ws };
}

describe.each(transports)('connection limits over %s', (transport) => {
  it('refuses connections beyond the per-address and total limits at the upgrade', async () => {
    const perIp = await startTestHub(transport, { server: { maxConnectionsPerIp: 2 } });
    const total = await startTestHub(transport, { server: { maxConnections: 1 } });
    const open: WebSocket[] = [];
    try {
      for (const expected of [101, 101, 429]) {
        const { status, ws } = await upgradeStatus(perIp.url);
        open.push(ws);
        expect(status).toBe(expected);
      }
      for (const expected of [101, 503]) {
        const { status, ws } = await upgradeStatus(total.url);
        open.push(ws);
        expect(status).toBe(expected);
      }
    } finally {
      for (const ws of open) ws.terminate();
      await perIp.close();
      await total.close();
    }
  });

  it('answers unavailable, a temporary error, when the engine cannot serve, and keeps the connection', async () => {
    const hub = await startTestHub(transport);
    try {
      const c = await HubTestClient.open(hub.url);
      await hub.engine.close();
      const err = await expectCode(c.call('publish', { channel: 'chat:x', data: 1 }), 'unavailable');
      expect(err.message).toMatch(/engine is closed/);
      expect(await c.call('ping')).toEqual({});
    } finally {
      await hub.close();
    }
  });

  it('refuses rate-limited commands with retryAfterMs, then closes on sustained abuse', async () => {
    const hub = await startTestHub(transport, {
      limits: { commands: { rate: 1, periodMs: 60_000, burst: 3 }, rejectionsBeforeClose: 3 },
    });
    try {
      const c = await HubTestClient.open(hub.url);
      expect(await c.call('ping')).toEqual({});
      expect(await c.call('ping')).toEqual({});
      const refused = await expectCode(c.call('ping'), 'rate_limited');
      expect(refused.details?.retryAfterMs).toBeGreaterThan(0);
      await expectCode(c.call('ping'), 'rate_limited');
      c.sendRaw(JSON.stringify({ id: 99, method: 'ping' }));
      expect((await c.closed).code).toBe(4002);
    } finally {
      await hub.close();
    }
  });

  it('closes a slow consumer while a reading subscriber keeps receiving everything', async () => {
    const hub = await startTestHub(transport, {
      namespaces: { chat: { clientPublish: true } },
      server: { maxBackpressureBytes: 64 * 1024 },
      limits: { bytes: { rate: 1e9, burst: 1e9 }, commands: { rate: 1e6, burst: 1e6 } },
    });
    try {
      const slow = await HubTestClient.open(hub.url);
      const fast = await HubTestClient.open(hub.url);
      const publisher = await HubTestClient.open(hub.url);
      await slow.call('subscribe', { channel: 'chat:flood' });
      await fast.call('subscribe', { channel: 'chat:flood' });
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const payload = 'x'.repeat(8 * 1024);
      let sent = 0;
      // The server drops the slow connection once its unsent bytes pass the limit.
      while (hub.hub.connectionCount === 3 && sent < 20_000) {
        await publisher.call('publish', { channel: 'chat:flood', data: payload });
        sent++;
      }
      expect(hub.hub.connectionCount).toBe(2);
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      // The close frame queues behind the backlog the server discards, so the client may only see
      // the socket end (1006); either way it reconnects and recovers from its last offset.
      expect([4001, 1006]).toContain((await slow.closed).code);
      await fast.until(() => fast.pushesOf('pub', 'chat:flood').length === sent, 10_000, 'every publication');
      fast.terminate();
      publisher.terminate();
    } finally {
      await hub.close();
    }
  });
});

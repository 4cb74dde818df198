// Recovery that survives long outages and busy channels: a recovery too big for one frame comes
// in paced pieces, one past recovery.maxPublications is refused at once, nothing the reply
// covered is pushed again (whatever the engine's feed and read order), and presence right after
// `subscribed` includes the subscriber.

import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/index.js';
import { MemoryEngine } from '../../src/engine/index.js';
import type { EngineHandler, StreamPosition } from '../../src/engine/types.js';
import { type Frame, HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub, type TransportName } from '../helpers/hub-server.js';
import { redisAvailable, RedisServer } from '../helpers/redis-server.js';

const namespaces: ConfigInput['namespaces'] = {
  chat: { history: { size: 5000 }, presence: true, joinLeave: true, clientPublish: true },
};

interface Position {
  offset: number;
  epoch: string;
}

/** The pub pushes of a channel that arrived after the reply frame with this id. */
function pushesAfterReply(c: HubTestClient, id: number, channel: string): number[] {
  const at = c.frames.findIndex((f) => f.id === id);
  return c.frames
    .slice(at + 1)
    .filter((f) => f.push === 'pub' && f.channel === channel)
    .map((f) => f.offset as number);
}

describe.each(['ws', 'uws'] as TransportName[])('recovery over %s', (transport) => {
  let hub: TestHub;
  const clients: HubTestClient[] = [];
  const client = async () => {
    const c = await HubTestClient.open(hub.url);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    hub = await startTestHub(transport, {
      namespaces,
      server: { maxBackpressureBytes: 64 * 1024 },
      recovery: { maxPublications: 1000, maxReplyBytes: 16 * 1024 },
      limits: { commands: { rate: 100_000, burst: 100_000 }, bytes: { rate: 1e9, burst: 1e9 } },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await hub.close();
  });

  it('includes the subscriber itself in presence right after subscribed', async () => {
    const c = await client();
    await c.call('subscribe', { channel: 'chat:here' });
    const { members } = (await c.call('presence', { channel: 'chat:here' })) as { members: Frame[] };
    expect(members.map((m) => m.client)).toContain((c.frames[0]?.result as Frame).client);
  });

  it('delivers a recovery much larger than the slow-consumer limit in paced pieces, each publication once, in order', async () => {
    const publisher = await client();
    const away = await client();
    const start = (await publisher.call('publish', { channel: 'chat:busy', data: 'seen' })) as unknown as Position;
    // 900 publications of ~10 KB: 9 MB missed, more than loopback socket buffers hold and 140
    // times the 64 KiB slow-consumer limit.
    const text = 'x'.repeat(10_000);
    for (let k = 0; k < 180; k++) {
      await publisher.batch(Array.from({ length: 5 }, (_, i) => ({ method: 'publish', channel: 'chat:busy', data: { i, text } })));
    }
    const id = 1000;
    // A slow reader (a phone on a bad link): the client reads nothing for a moment.
    const socket = (away.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    away.sendRaw(JSON.stringify({ id, method: 'subscribe', channel: 'chat:busy', since: start }));
    setTimeout(() => socket.resume(), 300);
    const received = () => {
      const reply = away.frames.find((f) => f.id === id)?.result as Frame | undefined;
      const inReply = ((reply?.publications as Frame[] | undefined) ?? []).map((p) => p.offset as number);
      return [...inReply, ...pushesAfterReply(away, id, 'chat:busy')];
    };
    await away.until(() => received().length >= 900, 15_000, 'the whole recovery');
    expect(away.frames.find((f) => f.id === id)?.result).toMatchObject({ recovered: true, epoch: start.epoch });
    expect(received()).toEqual(Array.from({ length: 900 }, (_, k) => start.offset + k + 1));
    // Live again afterwards.
    await publisher.call('publish', { channel: 'chat:busy', data: 'live' });
    await away.until(() => received().length === 901);
  });

  it('answers recovered: false at once when more than recovery.maxPublications were missed', async () => {
    const publisher = await client();
    const away = await client();
    const start = (await publisher.call('publish', { channel: 'chat:flood', data: 'seen' })) as unknown as Position;
    for (let k = 0; k < 10; k++) {
      await publisher.batch(Array.from({ length: 100 }, (_, i) => ({ method: 'publish', channel: 'chat:flood', data: i })));
    }
    await publisher.call('publish', { channel: 'chat:flood', data: 'one too many' });
    const r = await away.call('subscribe', { channel: 'chat:flood', since: start });
    expect(r).toEqual({ offset: start.offset + 1001, epoch: start.epoch, recovered: false });
  });
});

describe('the delivery floor on the Redis engine', () => {
  if (!redisAvailable('the delivery floor on the Redis engine')) return;
  let redis: RedisServer;
  let hub: TestHub;
  beforeAll(async () => {
    redis = await RedisServer.start();
    hub = await startTestHub('uws', {
      namespaces,
      engine: { type: 'redis', url: redis.url, keyPrefix: 'floor:' },
      limits: { commands: { rate: 100_000, burst: 100_000 } },
    });
  });
  afterAll(async () => {
    await hub.close();
    await redis.stop();
  });

  it('never pushes an offset the subscribe reply covered, under continuous publishing', async () => {
    const publisher = await HubTestClient.open(hub.url);
    const c = await HubTestClient.open(hub.url);
    let publishing = true;
    // Several publishers at once, so pub/sub messages are still on their way when reads return.
    const run = Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let i = 0; i < 150; i++) await publisher.call('publish', { channel: 'chat:floor', data: i });
      }),
    ).then(() => {
      publishing = false;
    });
    let id = 100;
    let rounds = 0;
    while (publishing) {
      id++;
      c.sendRaw(JSON.stringify({ id, method: 'subscribe', channel: 'chat:floor', last: 3 }));
      await c.until(() => c.frames.some((f) => f.id === id));
      const reply = c.frames.find((f) => f.id === id)?.result as Frame;
      const covered = reply.offset as number;
      // Let a few live publications arrive, then check every one came after the reply's offset.
      await c.until(() => pushesAfterReply(c, id, 'chat:floor').length >= 3 || !publishing, 5000);
      const live = pushesAfterReply(c, id, 'chat:floor');
      for (let k = 0; k < live.length; k++) {
        expect(live[k]).toBe(covered + k + 1);
      }
      await c.call('unsubscribe', { channel: 'chat:floor' });
      rounds++;
    }
    await run;
    expect(rounds).toBeGreaterThan(5);
    publisher.terminate();
    c.terminate();
  });

  it('includes the subscriber itself in presence right after subscribed', async () => {
    for (let i = 0; i < 20; i++) {
      const c = await HubTestClient.open(hub.url);
      await c.call('subscribe', { channel: `chat:here-${i}` });
      const { members } = (await c.call('presence', { channel: `chat:here-${i}` })) as { members: Frame[] };
      expect(members.map((m) => m.client)).toContain((c.frames[0]?.result as Frame).client);
      c.terminate();
    }
  });
});

/** A memory engine whose feed lags its reads, as Redis pub/sub can lag a history read. */
class LaggingEngine extends MemoryEngine {
  readonly held: (() => void)[] = [];

  override async start(handler: EngineHandler): Promise<void> {
    const held = this.held;
    await super.start({
      ...handler,
      onPublication: (channel, pub, epoch) => held.push(() => handler.onPublication(channel, pub, epoch)),
      onJoin: (c, m) => handler.onJoin(c, m),
      onLeave: (c, m) => handler.onLeave(c, m),
      onLeaderboardUpdate: (b, u) => handler.onLeaderboardUpdate(b, u),
      onUnrecoverable: (c) => handler.onUnrecoverable(c),
    });
  }

  /** The feed starts at the stream's top when the channel gets interest, as the Redis feed does. */
  override async subscribe(channel: string): Promise<StreamPosition> {
    await super.subscribe(channel);
    const { top } = await super.history(channel, { limit: 0 });
    return top;
  }

  release(): void {
    for (const deliver of this.held.splice(0)) deliver();
  }
}

describe('the delivery floor when the feed lags the history read', () => {
  it('never pushes to a new subscriber what its reply covered, and joins it live at the next publication', async () => {
    const engine = new LaggingEngine();
    const hub = await startTestHub('ws', { namespaces }, { engine });
    try {
      const early = await HubTestClient.open(hub.url);
      await early.call('subscribe', { channel: 'chat:lag' });
      const publisher = await HubTestClient.open(hub.url);
      for (let i = 1; i <= 3; i++) await publisher.call('publish', { channel: 'chat:lag', data: i });
      // The feed still owes 1..3 when the late subscriber's read already covers them.
      const late = await HubTestClient.open(hub.url);
      const reply = await late.call('subscribe', { channel: 'chat:lag' });
      expect(reply.offset).toBe(3);
      engine.release();
      await publisher.call('publish', { channel: 'chat:lag', data: 4 });
      engine.release();
      await early.until(() => early.pushesOf('pub', 'chat:lag').length === 4);
      await late.until(() => late.pushesOf('pub', 'chat:lag').length >= 1);
      // A ping after the last publication proves nothing more is on its way to either.
      await late.call('ping');
      expect(early.pushesOf('pub', 'chat:lag').map((p) => p.offset)).toEqual([1, 2, 3, 4]);
      expect(late.pushesOf('pub', 'chat:lag').map((p) => p.offset)).toEqual([4]);
      for (const c of [early, publisher, late]) c.terminate();
    } finally {
      await hub.close();
    }
  });
});

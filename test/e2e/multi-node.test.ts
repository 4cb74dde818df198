// Several hubbub processes on one Redis, driven by real WebSocket clients: a client sees the same
// channels, history, presence and leaderboards whichever node it is connected to.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectCode, type Frame, HubTestClient } from '../helpers/hub-client.js';
import { type HubProcess, spawnHub } from '../helpers/process.js';
import { redisAvailable, RedisServer } from '../helpers/redis-server.js';

const SECRET = 'multi-node-test-secret-32-chars!!';
const API_KEY = 'multi-node-test-api-key';

function token(sub: string): Promise<string> {
  return new SignJWT({ sub, caps: { '*': ['subscribe', 'publish'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

interface Position {
  offset: number;
  epoch: string;
}

if (redisAvailable('the multi-node end-to-end tests')) {
  describe('three hubbub nodes on one Redis', () => {
    let redis: RedisServer;
    let dir: string;
    let hubs: HubProcess[] = [];
    const clients: HubTestClient[] = [];

    const url = (node: number) => `ws://127.0.0.1:${(hubs[node] as HubProcess).port}/ws`;

    async function client(node: number): Promise<HubTestClient> {
      const c = await HubTestClient.open(url(node));
      clients.push(c);
      return c;
    }

    beforeAll(async () => {
      redis = await RedisServer.start();
      dir = mkdtempSync(join(tmpdir(), 'hubbub-multi-'));
      const config = join(dir, 'hubbub.json');
      writeFileSync(
        config,
        JSON.stringify({
          logLevel: 'warn',
          engine: { type: 'redis', url: redis.url, keyPrefix: 'e2e:' },
          server: { transport: 'ws', pingIntervalMs: 10_000 },
          api: { keys: [API_KEY] },
          // Tokens for the cross-node tests; everyone else connects anonymously with every capability.
          auth: {
            hmacSecret: SECRET,
            anonymous: { allowed: true, caps: { '*': ['subscribe', 'publish', 'presence', 'history', 'incr'] } },
          },
          namespaces: {
            limited: { clientPublish: true, userPublishRate: { rate: 1, periodMs: 60_000, burst: 2 } },
            chat: { history: { size: 1000, ttlMs: 0 }, presence: true, joinLeave: true, clientPublish: true },
            scores: { leaderboard: { clientIncr: true, top: 5, updateIntervalMs: 50 } },
          },
        }),
      );
      hubs = await Promise.all([0, 1, 2].map(() => spawnHub({}, ['--config', config])));
    }, 60_000);

    afterEach(() => {
      for (const c of clients.splice(0)) c.terminate();
    });

    afterAll(async () => {
      for (const hub of hubs) hub.child.kill('SIGTERM');
      await Promise.all(hubs.map((hub) => hub.exited));
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    const pubs = (c: HubTestClient, channel: string) => c.pushesOf('pub', channel);

    async function userOn(node: number, user: string): Promise<HubTestClient> {
      const c = await HubTestClient.open(url(node), { connect: false });
      clients.push(c);
      await c.call('connect', { token: await token(user) });
      return c;
    }

    it("closes a user's connections on every node with one disconnect call to any node", async () => {
      const [onOne, onTwo, bystander] = [await userOn(1, 'ann'), await userOn(2, 'ann'), await userOn(2, 'bob')];
      const res = await fetch(`http://127.0.0.1:${(hubs[0] as HubProcess).port}/api/disconnect`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}` },
        body: JSON.stringify({ user: 'ann', reason: 'banned' }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ disconnected: 0 });
      expect((await onOne.closed).code).toBe(4103);
      expect((await onTwo.closed).code).toBe(4103);
      expect(await bystander.call('ping')).toEqual({});
    });

    it("holds a user's publish limit across nodes", async () => {
      const [a, b, c] = [await userOn(0, 'cat'), await userOn(1, 'cat'), await userOn(2, 'cat')];
      await a.call('publish', { channel: 'limited:x', data: 1 });
      await b.call('publish', { channel: 'limited:x', data: 2 });
      await expectCode(c.call('publish', { channel: 'limited:x', data: 3 }), 'rate_limited');
      const other = await userOn(2, 'dan');
      expect(await other.call('publish', { channel: 'limited:x', data: 4 })).toMatchObject({ offset: 3 });
    });

    it('delivers what a client publishes on one node to subscribers on the others, in order', async () => {
      const [sender, second, third] = await Promise.all([client(0), client(1), client(2)]);
      for (const c of [sender, second, third]) await c.call('subscribe', { channel: 'chat:room' });
      for (let i = 1; i <= 30; i++) await sender.call('publish', { channel: 'chat:room', data: { n: i } });
      const all = Array.from({ length: 30 }, (_, i) => i + 1);
      for (const c of [second, third, sender]) {
        await c.until(() => pubs(c, 'chat:room').length === 30, 5000, '30 publications');
        expect(pubs(c, 'chat:room').map((p) => p.offset)).toEqual(all);
        expect(pubs(c, 'chat:room').map((p) => (p.data as { n: number }).n)).toEqual(all);
      }
    });

    it('recovers on another node what a client missed while it was away', async () => {
      const first = await client(0);
      const publisher = await client(1);
      const joined = (await first.call('subscribe', { channel: 'chat:resume' })) as unknown as Position;
      for (let i = 1; i <= 3; i++) await publisher.call('publish', { channel: 'chat:resume', data: i });
      await first.until(() => pubs(first, 'chat:resume').length === 3, 5000, 'the first three');
      const last = pubs(first, 'chat:resume').at(-1) as Frame;
      first.terminate();
      for (let i = 4; i <= 6; i++) await publisher.call('publish', { channel: 'chat:resume', data: i });

      // Back, on the third node, from where it was.
      const again = await client(2);
      const since = { offset: last.offset as number, epoch: joined.epoch };
      const result = await again.call('subscribe', { channel: 'chat:resume', since });
      expect(result).toMatchObject({ recovered: true, offset: 6, epoch: joined.epoch });
      expect((result.publications as Frame[]).map((p) => [p.offset, p.data])).toEqual([
        [4, 4],
        [5, 5],
        [6, 6],
      ]);
      await publisher.call('publish', { channel: 'chat:resume', data: 'live' });
      await again.until(() => pubs(again, 'chat:resume').length === 1, 5000, 'the live publication');
      expect(pubs(again, 'chat:resume')[0]).toMatchObject({ offset: 7, data: 'live' });
    });

    it('shows one presence for the channel on every node', async () => {
      const [a, b, observer] = await Promise.all([client(0), client(1), client(2)]);
      await a.call('subscribe', { channel: 'chat:who' });
      await b.call('subscribe', { channel: 'chat:who' });
      await a.until(() => a.pushesOf('join', 'chat:who').length === 2, 5000, 'both joins');
      const ids = a.pushesOf('join', 'chat:who').map((j) => (j.member as Frame).client as string).sort();
      for (const c of [a, b, observer]) {
        const { members } = (await c.call('presence', { channel: 'chat:who' })) as { members: Frame[] };
        expect(members.map((m) => m.client).sort()).toEqual(ids);
      }
      expect(await observer.call('presence_stats', { channel: 'chat:who' })).toEqual({ clients: 2, users: 1 });
    });

    it('pushes joins and leaves of clients on other nodes', async () => {
      const watcher = await client(0);
      await watcher.call('subscribe', { channel: 'chat:jl' });
      await watcher.until(() => watcher.pushesOf('join', 'chat:jl').length === 1, 5000, 'own join');
      const visitor = await client(1);
      await visitor.call('subscribe', { channel: 'chat:jl' });
      await watcher.until(() => watcher.pushesOf('join', 'chat:jl').length === 2, 5000, 'the visitor joining');
      const visitorId = (watcher.pushesOf('join', 'chat:jl')[1]?.member as Frame).client;
      // Dropped without a goodbye: its node removes it, and the leave crosses to the watcher's.
      visitor.terminate();
      await watcher.until(() => watcher.pushesOf('leave', 'chat:jl').length === 1, 5000, 'the visitor leaving');
      expect(watcher.pushesOf('leave', 'chat:jl')[0]?.member).toMatchObject({ client: visitorId });
    });

    it('keeps one leaderboard for all nodes and pushes its changes everywhere', async () => {
      const [left, right, watcher] = await Promise.all([client(0), client(2), client(1)]);
      await watcher.call('subscribe', { channel: 'scores:game' });
      await left.call('incr', { channel: 'scores:game', member: 'alice', by: 5 });
      await right.call('incr', { channel: 'scores:game', member: 'bob', by: 7 });
      await left.call('incr', { channel: 'scores:game', member: 'alice', by: 1 });
      const expected = [
        { member: 'bob', score: 7, rank: 0 },
        { member: 'alice', score: 6, rank: 1 },
      ];
      await watcher.until(
        () => JSON.stringify(watcher.pushesOf('board', 'scores:game').at(-1)?.entries) === JSON.stringify(expected),
        5000,
        'the board push with both members',
      );
      await left.call('subscribe', { channel: 'scores:game' });
      expect(await left.call('top', { channel: 'scores:game' })).toEqual({ entries: expected });
    });
  });
}

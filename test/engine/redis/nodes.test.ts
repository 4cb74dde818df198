// Several RedisEngine instances on one Redis are several nodes: what one does, the others see, in
// the same order, and state shared through Redis (idempotency, presence, boards) is one state.

import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisEngine } from '../../../src/engine/index.js';
import type { ClientInfo, EngineHandler, PublishResult } from '../../../src/engine/types.js';
import { HubError } from '../../../src/protocol/errors.js';
import { redisAvailable, RedisServer } from '../../helpers/redis-server.js';
import { expectNoSilentGap, startNode, type TestNode, until } from './node.js';

const keep = { history: { size: 1000, ttlMs: 0 } };
const alice: ClientInfo = { client: 'c1', user: 'alice', info: { name: 'Alice' } };
const ignore = () => undefined;
const recorderless: EngineHandler = {
  onPublication: ignore,
  onJoin: ignore,
  onLeave: ignore,
  onLeaderboardUpdate: ignore,
  onUnrecoverable: ignore,
};

if (redisAvailable('the Redis engine node tests')) {
  describe('Redis engine: several nodes on one Redis', () => {
    let redis: RedisServer;
    let n = 0;
    let nodes: TestNode[] = [];

    async function twoNodes(options: { pubsub?: 'auto' | 'classic' } = {}): Promise<[TestNode, TestNode]> {
      const keyPrefix = `nodes${++n}:`;
      const a = await startNode({ url: redis.url, keyPrefix, ...options });
      const b = await startNode({ url: redis.url, keyPrefix, ...options });
      nodes.push(a, b);
      return [a, b];
    }

    beforeAll(async () => {
      redis = await RedisServer.start();
    });

    afterEach(async () => {
      await Promise.all(nodes.map((node) => node.engine.close()));
      nodes = [];
    });

    afterAll(async () => {
      await redis.stop();
    });

    it.each(['auto', 'classic'] as const)(
      'delivers what one node publishes to another, in order, with pipelined publishes (pubsub %s)',
      async (pubsub) => {
        const [a, b] = await twoNodes({ pubsub });
        await b.engine.subscribe('chat:x');
        await a.engine.subscribe('chat:x');
        const acked: PublishResult[] = [];
        for (let batch = 0; batch < 10; batch++) {
          const sent = Array.from({ length: 20 }, (_, i) =>
            a.engine.publish('chat:x', JSON.stringify(batch * 20 + i), keep),
          );
          acked.push(...(await Promise.all(sent)));
        }
        expect(acked.map((r) => r.offset)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
        await until(() => b.pubs('chat:x').length === 200 && a.pubs('chat:x').length === 200, 'all 200 on both');
        expect(b.pubs('chat:x').map((p) => p.offset)).toEqual(acked.map((r) => r.offset));
        expect(b.pubs('chat:x').map((p) => p.data)).toEqual(a.pubs('chat:x').map((p) => p.data));
        expectNoSilentGap(b.events, 'chat:x', acked);
        expect((await b.engine.stats()).gapFills).toBe(0);
      },
    );

    it('deduplicates an idempotent retry that lands on another node', async () => {
      const [a, b] = await twoNodes();
      await b.engine.subscribe('chat:idem');
      const options = { ...keep, idempotencyKey: 'order-42', idempotencyWindowMs: 60_000 };
      const first = await a.engine.publish('chat:idem', '"pay"', options);
      const retry = await b.engine.publish('chat:idem', '"pay"', options);
      expect(retry).toEqual({ offset: first.offset, epoch: first.epoch, duplicate: true });
      await b.engine.publish('chat:idem', '"marker"');
      await until(() => b.pubs('chat:idem').length === 2, 'the marker');
      expect(b.pubs('chat:idem').map((p) => p.data)).toEqual(['"pay"', '"marker"']);
    });

    it('reads one history from any node, and recovers from a position taken on another', async () => {
      const [a, b] = await twoNodes();
      const { epoch } = await a.engine.publish('chat:h', '1', keep);
      await b.engine.publish('chat:h', '2', keep);
      await a.engine.publish('chat:h', '3', keep);
      const fromB = await b.engine.history('chat:h', { since: { offset: 1, epoch } });
      expect(fromB.publications.map((p) => p.data)).toEqual(['2', '3']);
      expect(fromB.top).toEqual({ offset: 3, epoch });
    });

    it('shares presence and announces joins and leaves on every node with interest', async () => {
      const [a, b] = await twoNodes();
      await b.engine.subscribe('chat:p');
      await a.engine.addPresence('chat:p', alice, { ttlMs: 10_000, joinLeave: true });
      await a.engine.addPresence('chat:p', { client: 'c2', user: 'bob' }, { ttlMs: 10_000, joinLeave: true });
      await until(() => b.events.filter((e) => e.kind === 'join').length === 2, 'two joins on b');
      expect(await b.engine.presenceStats('chat:p')).toEqual({ clients: 2, users: 2 });
      expect((await b.engine.presence('chat:p')).find((m) => m.client === 'c1')).toEqual(alice);
      await b.engine.removePresence('chat:p', 'c2');
      await until(() => b.events.some((e) => e.kind === 'leave'), 'the leave of c2');
      expect(await a.engine.presenceStats('chat:p')).toEqual({ clients: 1, users: 1 });
    });

    it('drops the members of a node that died without removing them, with a leave', async () => {
      const [a, b] = await twoNodes();
      await b.engine.subscribe('chat:crash');
      await a.engine.addPresence('chat:crash', alice, { ttlMs: 400, joinLeave: true });
      await until(() => b.events.some((e) => e.kind === 'join'), 'the join');
      // The node goes away without a word: no removal, no more refreshes.
      await a.engine.close();
      expect((await b.engine.presence('chat:crash')).map((m) => m.client)).toEqual(['c1']);
      // b's own sweep (every 100 ms) expires it once the TTL passed.
      await until(() => b.events.some((e) => e.kind === 'leave'), 'the leave, from the sweep', 5000);
      expect(b.events.filter((e) => e.kind === 'leave')).toEqual([
        { kind: 'leave', channel: 'chat:crash', member: alice },
      ]);
      expect(await b.engine.presence('chat:crash')).toEqual([]);
      expect((await b.engine.stats()).presenceExpired).toBe(1);
    });

    it('reports every leaderboard change to the nodes watching the board', async () => {
      const [a, b] = await twoNodes();
      await b.engine.subscribe('scores:live');
      await a.engine.leaderboardIncr('scores:live', 'alice', 3, { maxMembers: 2 });
      await a.engine.leaderboardSet('scores:live', 'bob', 5, { maxMembers: 2 });
      await a.engine.leaderboardSet('scores:live', 'carol', 4, { maxMembers: 2 });
      await until(() => b.events.filter((e) => e.kind === 'board').length === 4, 'four board updates');
      expect(b.events.filter((e) => e.kind === 'board').map((e) => (e.kind === 'board' ? e.update : null))).toEqual([
        { member: 'alice', score: 3 },
        { member: 'bob', score: 5 },
        { member: 'carol', score: 4 },
        { member: 'alice', score: null },
      ]);
      expect(await b.engine.leaderboardTop('scores:live', 10)).toEqual([
        { member: 'bob', score: 5, rank: 0 },
        { member: 'carol', score: 4, rank: 1 },
      ]);
    });

    it('shares rate limits and counters between nodes', async () => {
      const [a, b] = await twoNodes();
      const policy = { rate: 1, periodMs: 60_000, burst: 2 };
      expect((await a.engine.rateLimit('user:u', policy)).allowed).toBe(true);
      expect((await b.engine.rateLimit('user:u', policy)).allowed).toBe(true);
      const third = await a.engine.rateLimit('user:u', policy);
      expect(third.allowed).toBe(false);
      expect(third.retryAfterMs).toBeGreaterThan(50_000);
      await a.engine.incrWindow('api:k', 60_000, 2);
      expect((await b.engine.incrWindow('api:k', 60_000)).count).toBe(3);
    });

    it('batches subscriptions made in one tick, and follows interest as it comes and goes', async () => {
      const [a, b] = await twoNodes();
      const channels = Array.from({ length: 300 }, (_, i) => `chat:many${i}`);
      await Promise.all(channels.map((c) => b.engine.subscribe(c)));
      expect((await b.engine.stats()).interest).toBe(300);
      await Promise.all(channels.map((c, i) => a.engine.publish(c, JSON.stringify(i))));
      await until(() => b.events.length === 300, 'one publication per channel');
      await Promise.all(channels.slice(1).map((c) => b.engine.unsubscribe(c)));
      // Interest dropped and taken again at once: the subscription holds, from the current top.
      const again = b.engine.unsubscribe('chat:many0');
      await b.engine.subscribe('chat:many0');
      await again;
      await Promise.all(channels.map((c) => a.engine.publish(c, '"more"')));
      await until(() => b.events.length === 301, 'the one channel still subscribed');
      expect(b.events.at(-1)).toMatchObject({ kind: 'pub', channel: 'chat:many0', offset: 2, data: '"more"' });
    });

    it('refuses malformed arguments with bad_request before reaching Redis', async () => {
      const [a] = await twoNodes();
      const refused = (promise: Promise<unknown>) => promise.then(() => 'resolved', (e: unknown) => (e as HubError).code);
      expect(await refused(a.engine.addPresence('chat:v', alice, { ttlMs: 0 }))).toBe('bad_request');
      expect(await refused(a.engine.incrWindow('k', 0))).toBe('bad_request');
      expect(await refused(a.engine.incrWindow('k', 1000, 1.5))).toBe('bad_request');
      expect(await refused(a.engine.rateLimit('k', { rate: 0, periodMs: 1000, burst: 1 }))).toBe('bad_request');
      expect(await refused(a.engine.leaderboardSet('scores:v', 'm', 1, { maxMembers: 0 }))).toBe('bad_request');
      expect(await refused(a.engine.leaderboardSet('scores:v', 'm', 1, { mode: 'sometimes' as 'gt' }))).toBe('bad_request');
      expect(await refused(a.engine.leaderboardAround('scores:v', 'm', -1))).toBe('bad_request');
      expect(await refused(a.engine.history('chat:v', { since: { offset: -1, epoch: 'e' } }))).toBe('bad_request');
    });

    it('refuses to start when Redis cannot be reached, with unavailable', async () => {
      const engine = new RedisEngine(
        { url: 'redis://127.0.0.1:1', connectTimeoutMs: 300, reconnectMaxDelayMs: 50 },
        pino({ level: 'silent' }),
      );
      const started = Date.now();
      const err = await engine.start(recorderless).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HubError);
      expect((err as HubError).code).toBe('unavailable');
      expect(Date.now() - started).toBeLessThan(3000);
      expect((await engine.ping().catch((e: unknown) => e)) as HubError).toMatchObject({ code: 'engine_closed' });
    });

    it('refuses calls after close with engine_closed, and close twice is fine', async () => {
      const [a] = await twoNodes();
      await a.engine.close();
      await a.engine.close();
      const err = await a.engine.subscribe('chat:z').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HubError);
      expect((err as HubError).code).toBe('engine_closed');
    });
  });
}

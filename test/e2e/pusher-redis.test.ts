// The Pusher protocol across two hubbub nodes (one on ws, one on uWS) sharing a throwaway Redis:
// presence, client events, API events with socket_id exclusion and terminate reach every node.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { next, type PusherHub, startPusherHub, until } from '../helpers/pusher.js';
import { redisAvailable, RedisServer } from '../helpers/redis-server.js';

if (redisAvailable('the Pusher multi-node tests')) {
  describe('Pusher clients on two nodes sharing Redis', () => {
    let redis: RedisServer;
    let a: PusherHub;
    let b: PusherHub;
    beforeAll(async () => {
      redis = await RedisServer.start();
      const engine = { type: 'redis', url: redis.url, keyPrefix: 'pusher-e2e:' };
      [a, b] = await Promise.all([startPusherHub('ws', { engine }), startPusherHub('uws', { engine })]);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()]);
      await redis?.stop();
    });

    it('shows presence members and their joins and leaves across nodes', async () => {
      const alice = await a.client('alice');
      const chA = alice.subscribe('presence-global');
      await next(chA, 'pusher:subscription_succeeded');
      const added = next(chA, 'pusher:member_added');
      const bob = await b.client('bob');
      const chB = bob.subscribe('presence-global');
      const members = (await next(chB, 'pusher:subscription_succeeded')) as { count: number };
      expect(members.count).toBe(2);
      expect(await added).toMatchObject({ id: 'bob' });
      const removed = next(chA, 'pusher:member_removed');
      bob.disconnect();
      expect(await removed).toMatchObject({ id: 'bob' });
      alice.disconnect();
    });

    it('relays client events across nodes, not back to the sender', async () => {
      const alice = await a.client('alice');
      const bob = await b.client('bob');
      const chA = alice.subscribe('private-across');
      const chB = bob.subscribe('private-across');
      await Promise.all([next(chA, 'pusher:subscription_succeeded'), next(chB, 'pusher:subscription_succeeded')]);
      const echoed: unknown[] = [];
      chA.bind('client-ping', (d: unknown) => echoed.push(d));
      const got = next(chB, 'client-ping');
      chA.trigger('client-ping', { n: 1 });
      expect(await got).toEqual({ n: 1 });
      const back = next(chA, 'client-ping');
      chB.trigger('client-ping', { n: 2 });
      expect(await back).toEqual({ n: 2 });
      expect(echoed).toEqual([{ n: 2 }]);
      alice.disconnect();
      bob.disconnect();
    });

    it('delivers an API event sent to one node to clients of the other, leaving out socket_id', async () => {
      const onA = await a.client('x');
      const onB = await b.client('y');
      const chA = onA.subscribe('news-across');
      const chB = onB.subscribe('news-across');
      await Promise.all([next(chA, 'pusher:subscription_succeeded'), next(chB, 'pusher:subscription_succeeded')]);
      const heardB: unknown[] = [];
      chB.bind('e', (d: unknown) => heardB.push(d));
      const firstOnA = next(chA, 'e');
      await a.sdk().trigger('news-across', 'e', 1, { socket_id: onB.connection.socket_id });
      expect(await firstOnA).toBe(1);
      const secondOnB = next(chB, 'e');
      await a.sdk().trigger('news-across', 'e', 2);
      expect(await secondOnB).toBe(2);
      expect(heardB).toEqual([2]);
      onA.disconnect();
      onB.disconnect();
    });

    it("terminates a user's connections on every node", async () => {
      const onB = await b.client('zed');
      await next(onB.subscribe('presence-zed'), 'pusher:subscription_succeeded');
      const res = await a.sdk().terminateUserConnections('zed');
      expect(res.status).toBe(200);
      await until(() => onB.connection.state !== 'connected', 'zed closed on the other node');
      onB.disconnect();
    });
  });
}

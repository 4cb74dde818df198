// The demo and the console on the Redis engine, two nodes in one Redis: the console watching one
// node sees every node's own numbers, and the dashboard's feed, ticking on both nodes, publishes
// one stream that subscribers on either node receive alike, no faster than its interval.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubClient, type Message } from '../../client/src/index.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';
import { redisAvailable, RedisServer } from '../helpers/redis-server.js';

const KEY = 'redis-console-key-0123456789';
const INTERVAL = 100;

if (redisAvailable('the demo and console on Redis')) {
  describe('two nodes on one Redis', () => {
    let redis: RedisServer;
    let hubs: TestHub[] = [];
    const clients: HubClient[] = [];

    beforeAll(async () => {
      redis = await RedisServer.start();
      const config = {
        engine: { type: 'redis' as const, url: redis.url, keyPrefix: 'web:' },
        api: { keys: [KEY] },
        console: { statsIntervalMs: 200 },
        demo: { enabled: true, feedIntervalMs: INTERVAL },
      };
      hubs = await Promise.all([startTestHub('ws', config), startTestHub('ws', config)]);
    }, 30_000);

    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all(hubs.map((h) => h.close()));
      await redis?.stop();
    });

    function client(hub: TestHub, token?: string): HubClient {
      const c = new HubClient(hub.url, { WebSocket, reconnect: false, ...(token === undefined ? {} : { token }) });
      clients.push(c);
      return c;
    }

    it("shows every node's own numbers to a console watching one of them", async () => {
      const [a, b] = hubs as [TestHub, TestHub];
      // Something to count on the other node.
      const other = client(b);
      await other.subscribe('chat:lobby').ready;
      const res = await fetch(`http://127.0.0.1:${a.port}/api/console/ticket`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${KEY}` } });
      const { ticket } = (await res.json()) as { ticket: string };
      const operator = client(a, ticket);
      const seen = new Map<string, { connections: number; engine: { kind: string; ok: boolean } }>();
      operator.subscribe('$hubbub:console').on('message', (m: Message) => {
        const n = m.data as { node: string; connections: number; engine: { kind: string; ok: boolean } };
        seen.set(n.node, n);
      });
      await expect.poll(() => seen.size, { timeout: 10_000 }).toBe(2);
      const byPort = (hub: TestHub) => [...seen].find(([node]) => node.endsWith(`:${hub.port}`))?.[1];
      expect(byPort(a)).toMatchObject({ connections: 1, engine: { kind: 'redis', ok: true } });
      expect(byPort(b)).toMatchObject({ connections: 1, engine: { kind: 'redis', ok: true } });
    });

    it("feeds the dashboard's channel once per interval, the same points on both nodes", async () => {
      const [a, b] = hubs as [TestHub, TestHub];
      const got: Message[][] = [[], []];
      await Promise.all(
        [a, b].map(async (hub, i) => {
          const sub = client(hub).subscribe('demo-feed:metrics');
          sub.on('message', (m) => got[i]?.push(m));
          await sub.ready;
        }),
      );
      await expect.poll(() => Math.min(got[0]?.length ?? 0, got[1]?.length ?? 0), { timeout: 10_000 }).toBeGreaterThanOrEqual(10);
      const [onA, onB] = got.map((list) => list.slice(0, 10).map((m) => ({ offset: m.offset, data: m.data as { t: number } })));
      // Whichever node won each interval, both nodes' subscribers got one stream, in order.
      const first = (onA as { offset: number }[])[0]?.offset ?? 0;
      const start = Math.max(first, (onB as { offset: number }[])[0]?.offset ?? 0);
      const from = (list: typeof onA) => (list ?? []).filter((p) => p.offset >= start).slice(0, 6);
      expect(from(onA)).toEqual(from(onB));
      const points = from(onA);
      expect(points.map((p) => p.offset)).toEqual(points.map((_, i) => start + i));
      for (let i = 1; i < points.length; i++) {
        // The shared limit lets one point through per 80 % of the interval at most.
        expect((points[i] as { data: { t: number } }).data.t - (points[i - 1] as { data: { t: number } }).data.t).toBeGreaterThanOrEqual(INTERVAL * 0.8 - 5);
      }
    });
  });
}

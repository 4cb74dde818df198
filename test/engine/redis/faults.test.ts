// Failures of Redis and of the link to it, on real processes: a crashed and restarted server, a
// killed subscriber connection. The engine must not crash or leak a rejection, must fail calls
// fast with `unavailable` while Redis is away, must come back by itself, and its receivers must
// end with every acknowledged publication in order, or with a reported loss: never a silent gap.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PublishResult } from '../../../src/engine/types.js';
import { HubError } from '../../../src/protocol/errors.js';
import { redisAvailable, RedisServer } from '../../helpers/redis-server.js';
import { expectNoSilentGap, startNode, type TestNode, until, untilAsync } from './node.js';

const keep = { history: { size: 100_000, ttlMs: 0 } };

/** Publishes one at a time until stopped, recording acknowledgements and errors. */
function publisher(node: TestNode, channel: string, options: typeof keep | Record<string, never>) {
  const acked: PublishResult[] = [];
  const errors: unknown[] = [];
  let running = true;
  let i = 0;
  const done = (async () => {
    while (running) {
      try {
        acked.push(await node.engine.publish(channel, JSON.stringify(i++), options));
      } catch (err) {
        errors.push(err);
        // Redis is away: pace the retries (this is the publisher's loop, not an assertion).
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  })();
  return {
    acked,
    errors,
    async stop() {
      running = false;
      await done;
    },
  };
}

async function killPubSubClients(url: string): Promise<number> {
  const admin = new Redis(url);
  try {
    return Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
  } finally {
    admin.disconnect();
  }
}

if (redisAvailable('the Redis engine fault tests')) {
  describe('Redis engine under faults', () => {
    let redis: RedisServer;
    let nodes: TestNode[] = [];
    let n = 0;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);

    async function node(): Promise<TestNode> {
      const started = await startNode({ url: redis.url, keyPrefix: `faults${n}:`, commandTimeoutMs: 1000 });
      nodes.push(started);
      return started;
    }

    beforeAll(async () => {
      process.on('unhandledRejection', onUnhandled);
      redis = await RedisServer.start();
    });

    beforeEach(async () => {
      n++;
      if (!redis.running) await redis.restart();
    });

    afterEach(async () => {
      await Promise.all(nodes.map((x) => x.engine.close()));
      nodes = [];
      expect(unhandled).toEqual([]);
    });

    afterAll(async () => {
      process.off('unhandledRejection', onUnhandled);
      await redis.stop();
    });

    it('survives Redis being killed and restarted during continuous publishing', async () => {
      const a = await node();
      const b = await node();
      await b.engine.subscribe('chat:f');
      const pub = publisher(a, 'chat:f', keep);
      await until(() => pub.acked.length >= 100, '100 publications before the crash');

      await redis.kill();
      const ackedBefore = pub.acked.length;
      await until(() => pub.errors.length >= 5, 'publishes refused while Redis is down');
      const down = await a.engine.ping().catch((e: unknown) => e);
      expect(down).toBeInstanceOf(HubError);
      expect((down as HubError).code).toBe('unavailable');
      const refused = await b.engine.subscribe('chat:other').catch((e: unknown) => e);
      expect((refused as HubError).code).toBe('unavailable');

      await redis.restart();
      await until(() => pub.acked.length >= ackedBefore + 50, 'publishing to work again');
      // Delivery resumes: publications of the new epoch reach the other node once its link is back.
      const epoch = (pub.acked.at(-1) as PublishResult).epoch;
      await until(() => b.pubs('chat:f').some((p) => p.epoch === epoch), 'delivery on the other node');
      await pub.stop();
      await untilAsync(() => a.engine.ping().then(() => true, () => false), 'ping to succeed again');

      // Every failure was a temporary `unavailable`, never a hang, a crash or another code.
      expect(pub.errors.length).toBeGreaterThan(0);
      for (const err of pub.errors) {
        expect(err).toBeInstanceOf(HubError);
        expect((err as HubError).code).toBe('unavailable');
        expect((err as HubError).temporary).toBe(true);
      }
      // Nothing acknowledged after that is missing: the last one arrives too.
      const last = pub.acked.at(-1) as PublishResult;
      expect(last.epoch).not.toBe(pub.acked[0]?.epoch);
      await until(
        () => b.pubs('chat:f').some((p) => p.epoch === last.epoch && p.offset === last.offset),
        'the last publication on the other node',
      );
      expectNoSilentGap(b.events, 'chat:f', pub.acked);
      // Redis kept nothing across the crash, so what b missed cannot be replayed: it must say so.
      expect(b.events.some((e) => e.kind === 'lost')).toBe(true);
    });

    it('recovers publications missed while its subscriber connection was killed, in order, each once', async () => {
      const a = await node();
      const b = await node();
      await b.engine.subscribe('chat:k');
      const pub = publisher(a, 'chat:k', keep);
      await until(() => pub.acked.length >= 50, 'publications before the kill');
      // Only b's connection is subscribed to anything, so only it counts as a pub/sub client.
      expect(await killPubSubClients(redis.url)).toBe(1);
      // Published before b can possibly have resubscribed (its first retry is >= 25 ms away).
      const missed = await Promise.all(Array.from({ length: 20 }, (_, i) => a.engine.publish('chat:k', `"m${i}"`, keep)));
      await until(() => pub.acked.length >= 150 + missed.length, 'publications after the kill');
      await pub.stop();
      const acked = [...pub.acked, ...missed].sort((x, y) => x.offset - y.offset);
      const last = acked.at(-1) as PublishResult;
      await until(() => b.pubs('chat:k').at(-1)?.offset === last.offset, 'the last publication');

      expectNoSilentGap(b.events, 'chat:k', acked);
      expect(b.pubs('chat:k').map((p) => p.offset)).toEqual(acked.map((p) => p.offset));
      expect(b.events.some((e) => e.kind === 'lost')).toBe(false);
      const stats = await b.engine.stats();
      expect(stats.resubscribes).toBeGreaterThanOrEqual(1);
      expect(stats.recovered).toBeGreaterThanOrEqual(missed.length);
      expect(pub.errors).toEqual([]);
    });

    it('reports a loss, not a gap, when publications missed on a killed link were never kept', async () => {
      const a = await node();
      const b = await node();
      await b.engine.subscribe('chat:nohistory');
      const before = await a.engine.publish('chat:nohistory', '"before"');
      await until(() => b.pubs('chat:nohistory').length === 1, 'the first publication');
      await killPubSubClients(redis.url);
      const missed = await a.engine.publish('chat:nohistory', '"missed"');
      await until(() => b.events.some((e) => e.kind === 'lost'), 'the loss report');
      const after = await a.engine.publish('chat:nohistory', '"after"');
      await until(() => b.pubs('chat:nohistory').length === 2, 'the publication after the loss');
      expect(b.events.filter((e) => e.channel === 'chat:nohistory').map((e) => e.kind)).toEqual(['pub', 'lost', 'pub']);
      expect(b.pubs('chat:nohistory').map((p) => p.offset)).toEqual([before.offset, after.offset]);
      expectNoSilentGap(b.events, 'chat:nohistory', [before, missed, after]);
    });

    it('fails fast while Redis is down, and serves again after it returns without a restart', async () => {
      const a = await node();
      await a.engine.subscribe('chat:r');
      await redis.stop();
      const started = Date.now();
      const results = await Promise.allSettled([
        a.engine.publish('chat:r', '1'),
        a.engine.history('chat:r'),
        a.engine.addPresence('chat:r', { client: 'c', user: 'u' }, { ttlMs: 1000 }),
        a.engine.leaderboardIncr('scores:r', 'm', 1),
        a.engine.rateLimit('k', { rate: 1, periodMs: 1000, burst: 1 }),
        a.engine.ping(),
      ]);
      expect(Date.now() - started).toBeLessThan(1000);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'unavailable' });
      }
      await redis.restart();
      await untilAsync(() => a.engine.ping().then(() => true, () => false), 'ping to succeed again');
      const r = await a.engine.publish('chat:r', '"back"');
      expect(r.offset).toBe(1);
      await until(() => a.pubs('chat:r').some((p) => p.data === '"back"'), 'delivery after the restart');
    });
  });
}

if (redisAvailable('the Redis engine restore tests')) {
  describe('Redis engine after Redis restored a snapshot', () => {
    let dir: string;
    let redis: RedisServer;
    const nodes: TestNode[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'hubbub-rdb-'));
      redis = await RedisServer.start({ dir });
    });

    afterEach(async () => {
      await Promise.all(nodes.splice(0).map((x) => x.engine.close()));
    });

    afterAll(async () => {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Publishes 3, snapshots, publishes 2 more, crashes: the restart brings back offset 3 of 5. */
    async function rollBack(node: TestNode, channel: string): Promise<PublishResult> {
      for (let i = 1; i <= 3; i++) await node.engine.publish(channel, JSON.stringify(i), keep);
      const admin = new Redis(redis.url);
      await admin.save();
      admin.disconnect();
      await node.engine.publish(channel, '4', keep);
      const last = await node.engine.publish(channel, '5', keep);
      await redis.kill();
      await redis.restart();
      return last;
    }

    it('starts a new epoch for a stream whose offsets a crash may have rolled back', async () => {
      const a = await startNode({ url: redis.url, keyPrefix: 'rdb1:' });
      const b = await startNode({ url: redis.url, keyPrefix: 'rdb1:' });
      nodes.push(a, b);
      await b.engine.subscribe('chat:rdb');
      const before = await rollBack(a, 'chat:rdb');
      await untilAsync(() => a.engine.ping().then(() => true, () => false), 'a back');
      await untilAsync(() => b.engine.ping().then(() => true, () => false), 'b back');
      // Offset 4 would be handed out again, to another publication: a new epoch instead.
      const after = await a.engine.publish('chat:rdb', '"new"', keep);
      expect(after.epoch).not.toBe(before.epoch);
      expect(after.offset).toBe(1);
      const old = await a.engine.history('chat:rdb', { since: { offset: 5, epoch: before.epoch } }).catch((e: unknown) => e);
      expect((old as HubError).code).toBe('unrecoverable_position');
      // b was at offset 5 of the old epoch: it reports the loss, then follows the new epoch.
      await until(() => b.events.some((e) => e.kind === 'lost'), 'the loss on b');
      const next = await a.engine.publish('chat:rdb', '"next"', keep);
      await until(() => b.pubs('chat:rdb').some((p) => p.epoch === next.epoch && p.offset === 2), 'the new epoch on b');
      // Before the loss, what b had received live (4 and 5 may not have reached it before the crash).
      const seen = b.events.map((e) => (e.kind === 'pub' ? `${e.offset}` : e.kind));
      const lostAt = seen.indexOf('lost');
      expect(seen.slice(0, lostAt)).toEqual(['1', '2', '3', '4', '5'].slice(0, lostAt));
      expectNoSilentGap(b.events, 'chat:rdb', [before, after, next]);
    });

    it('keeps a restored stream when told to trust the persistence', async () => {
      const a = await startNode({ url: redis.url, keyPrefix: 'rdb2:', restoredStreams: 'keep' });
      nodes.push(a);
      const before = await rollBack(a, 'chat:keep');
      await untilAsync(() => a.engine.ping().then(() => true, () => false), 'a back');
      const history = await a.engine.history('chat:keep');
      expect(history.top).toEqual({ offset: 3, epoch: before.epoch });
      expect(history.publications.map((p) => p.data)).toEqual(['1', '2', '3']);
    });
  });
}

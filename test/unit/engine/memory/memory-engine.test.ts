import { describe, expect, it } from 'vitest';
import { MemoryEngine, type MemoryEngineOptions } from '../../../../src/engine/index.js';
import type { EngineHandler } from '../../../../src/engine/types.js';
import { ManualClock } from '../../../../src/util/clock.js';

const keep = (size: number, ttlMs = 0) => ({ history: { size, ttlMs } });
const quiet: EngineHandler = {
  onPublication: () => {},
  onJoin: () => {},
  onLeave: () => {},
  onLeaderboardUpdate: () => {},
  onUnrecoverable: () => {},
};

async function engineWith(options: MemoryEngineOptions = {}) {
  const clock = new ManualClock();
  const engine = new MemoryEngine({ clock, ...options });
  await engine.start(quiet);
  return { engine, clock };
}

async function offsetsHeld(engine: MemoryEngine, channel: string): Promise<number[]> {
  return (await engine.history(channel)).publications.map((p) => p.offset);
}

describe('MemoryEngine memory limits', () => {
  it('evicts the oldest entries of the least recently used stream when over the entry budget', async () => {
    const { engine } = await engineWith({ maxHistoryEntries: 6 });
    for (let i = 0; i < 3; i++) await engine.publish('chat:old', `${i}`, keep(10));
    for (let i = 0; i < 3; i++) await engine.publish('chat:new', `${i}`, keep(10));
    await engine.publish('chat:new', '3', keep(10));
    expect(await offsetsHeld(engine, 'chat:old')).toEqual([2, 3]);
    expect(await offsetsHeld(engine, 'chat:new')).toEqual([1, 2, 3, 4]);
    const stats = await engine.stats();
    expect(stats).toMatchObject({ historyEntries: 6, evictedEntries: 1, evictedBytes: 1 });
  });

  it('moves a stream to the back of the eviction order when it is read or written', async () => {
    const { engine } = await engineWith({ maxHistoryEntries: 4 });
    await engine.publish('chat:a', '1', keep(10));
    await engine.publish('chat:a', '2', keep(10));
    await engine.publish('chat:b', '1', keep(10));
    await engine.publish('chat:b', '2', keep(10));
    await engine.publish('chat:a', '3', keep(10)); // a is now the most recent: b loses its oldest
    expect(await offsetsHeld(engine, 'chat:b')).toEqual([2]);
    expect(await offsetsHeld(engine, 'chat:a')).toEqual([1, 2, 3]);
  });

  it('evicts by payload size, reporting a position that lost entries as unrecoverable', async () => {
    const { engine } = await engineWith({ maxHistoryBytes: 250 });
    const payload = JSON.stringify('x'.repeat(98)); // 100 characters
    const { epoch } = await engine.publish('chat:a', payload, keep(100));
    await engine.publish('chat:a', payload, keep(100));
    await engine.publish('chat:b', payload, keep(100));
    expect(await offsetsHeld(engine, 'chat:a')).toEqual([2]);
    await expect(engine.history('chat:a', { since: { offset: 0, epoch } })).rejects.toMatchObject({
      code: 'unrecoverable_position',
    });
    expect(await engine.stats()).toMatchObject({ historyBytes: 200, evictedBytes: 100, evictedEntries: 1 });
  });

  it('forgets the least recently used stream beyond the stream cap, so it comes back with a new epoch', async () => {
    const { engine } = await engineWith({ maxStreams: 2 });
    const a = await engine.publish('chat:a', '1', keep(10));
    await engine.publish('chat:b', '1', keep(10));
    await engine.publish('chat:c', '1', keep(10));
    expect(await engine.stats()).toMatchObject({ streams: 2, evictedStreams: 1, historyEntries: 2 });
    const again = await engine.publish('chat:a', '2', keep(10));
    expect(again.offset).toBe(1);
    expect(again.epoch).not.toBe(a.epoch);
  });
});

describe('MemoryEngine expiry', () => {
  it('reclaims idle streams, expired history, idempotency keys and limiter keys in the sweep', async () => {
    const { engine, clock } = await engineWith({ streamMetaTtlMs: 10_000 });
    for (let i = 0; i < 50; i++) await engine.publish(`chat:${i}`, '1', keep(10));
    await engine.publish('chat:ttl', '1', {
      ...keep(10, 1000),
      idempotencyKey: 'k',
      idempotencyWindowMs: 500,
    });
    await engine.rateLimit('user:a', { rate: 1, periodMs: 1000, burst: 1 });
    await engine.incrWindow('api:a', 1000);
    clock.advance(5000);
    engine.sweep();
    expect(await engine.stats()).toMatchObject({ streams: 51, historyEntries: 50, rateLimitKeys: 0 });
    clock.advance(5000);
    engine.sweep();
    expect(await engine.stats()).toMatchObject({
      streams: 0,
      historyEntries: 0,
      historyBytes: 0,
      expiredStreams: 51,
    });
  });

  it('expires lazily on access when no sweep has run', async () => {
    const { engine, clock } = await engineWith();
    const opts = { ...keep(10, 1000), idempotencyKey: 'k', idempotencyWindowMs: 500 };
    await engine.publish('chat:a', '1', opts);
    clock.advance(500);
    expect(await engine.publish('chat:a', '2', opts)).toMatchObject({ offset: 2, duplicate: false });
    clock.advance(600);
    expect((await engine.history('chat:a')).publications.map((p) => p.data)).toEqual(['2']);
    expect(await engine.stats()).toMatchObject({ historyEntries: 1, historyBytes: 1 });
  });

  it('expires presence members in the sweep even if nobody reads the channel', async () => {
    const leaves: string[] = [];
    const clock = new ManualClock();
    const engine = new MemoryEngine({ clock });
    await engine.start({ ...quiet, onLeave: (_channel, member) => leaves.push(member.client) });
    await engine.subscribe('chat:a');
    await engine.addPresence('chat:a', { client: 'c1', user: 'u1' }, { ttlMs: 100, joinLeave: true });
    clock.advance(100);
    engine.sweep();
    expect(leaves).toEqual(['c1']);
    expect(await engine.stats()).toMatchObject({ presenceChannels: 0, presenceMembers: 0 });
  });

  it('validates its options with the configuration schema', () => {
    expect(() => new MemoryEngine({ maxStreams: 0 })).toThrow(/maxStreams/);
  });
});

describe('MemoryEngine channels nobody publishes to', () => {
  it('reads them without creating streams, so they evict no other channel under maxStreams', async () => {
    const { engine } = await engineWith({ maxStreams: 2 });
    const kept = await engine.publish('chat:kept', '1', keep(10));
    for (let i = 0; i < 1000; i++) {
      await engine.subscribe(`chat:fresh-${i}`);
      await engine.history(`chat:fresh-${i}`, keep(10));
      await engine.unsubscribe(`chat:fresh-${i}`);
    }
    expect((await engine.stats()).streams).toBe(1);
    const h = await engine.history('chat:kept', keep(10));
    expect(h.top).toEqual({ offset: 1, epoch: kept.epoch });
  });

  it('keeps the epoch a subscriber was given for the first publication, and forgets it with the interest', async () => {
    const { engine } = await engineWith();
    await engine.subscribe('chat:a');
    const before = await engine.history('chat:a', keep(10));
    expect((await engine.history('chat:a', keep(10))).top).toEqual(before.top);
    const first = await engine.publish('chat:a', 'x', keep(10));
    expect(first).toMatchObject({ offset: 1, epoch: before.top.epoch });

    await engine.subscribe('chat:b');
    const b = await engine.history('chat:b', keep(10));
    await engine.unsubscribe('chat:b');
    const later = await engine.publish('chat:b', 'y', keep(10));
    expect(later.epoch).not.toBe(b.top.epoch);
    await expect(engine.history('chat:b', { ...keep(10), since: b.top })).rejects.toMatchObject({
      code: 'unrecoverable_position',
    });
  });
});

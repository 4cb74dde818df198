// The dashboard demo's feed: it publishes only while the hub has a subscriber to its channel (an
// idle hub does no work), one point per interval, on a real memory engine; fake timers make
// "nothing happened for ten intervals" a fact rather than a sleep.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DemoFeed } from '../../../src/demo/index.js';
import { MemoryEngine } from '../../../src/engine/index.js';
import type { EngineHandler } from '../../../src/engine/types.js';
import { createLogger } from '../../../src/observability/index.js';

const CHANNEL = 'demo-feed:metrics';
const INTERVAL = 250;

describe('the demo feed', () => {
  let engine: MemoryEngine;
  let points: { t: number; value: number }[];

  beforeEach(async () => {
    vi.useFakeTimers();
    engine = new MemoryEngine({ clock: { now: () => Date.now() } });
    points = [];
    const handler: EngineHandler = {
      onPublication: (channel, pub) => {
        if (channel === CHANNEL) points.push(JSON.parse(pub.data) as { t: number; value: number });
      },
      onJoin: () => {},
      onLeave: () => {},
      onLeaderboardUpdate: () => {},
      onUnrecoverable: () => {},
    };
    await engine.start(handler);
    await engine.subscribe(CHANNEL);
  });

  afterEach(async () => {
    await engine.close();
    vi.useRealTimers();
  });

  const feed = () => new DemoFeed(engine, CHANNEL, INTERVAL, { history: { size: 10, ttlMs: 0 } }, createLogger('silent'), { now: () => Date.now() });

  it('publishes nothing while nobody is subscribed to its channel', async () => {
    const f = feed();
    await vi.advanceTimersByTimeAsync(INTERVAL * 10);
    expect(f.running).toBe(false);
    expect(points).toEqual([]);
    f.interest('demo-chat:lobby', true);
    await vi.advanceTimersByTimeAsync(INTERVAL * 10);
    expect(points).toEqual([]);
  });

  it('publishes one point per interval while subscribed, and stops when the last subscriber leaves', async () => {
    const f = feed();
    f.interest(CHANNEL, true);
    await vi.advanceTimersByTimeAsync(INTERVAL * 4);
    expect(points).toHaveLength(4);
    for (const p of points) {
      expect(Number.isFinite(p.value)).toBe(true);
      expect(p.t).toBeLessThanOrEqual(Date.now());
    }
    expect(points.map((p) => p.t)).toEqual([...points.map((p) => p.t)].sort((a, b) => a - b));
    f.interest(CHANNEL, false);
    expect(f.running).toBe(false);
    await vi.advanceTimersByTimeAsync(INTERVAL * 10);
    expect(points).toHaveLength(4);
    const { publications } = await engine.history(CHANNEL, { history: { size: 10, ttlMs: 0 }, limit: 10 });
    expect(publications).toHaveLength(4);
  });

  it('lets one point per interval through when several nodes tick at once', async () => {
    // Two feeds on one engine stand for two nodes on one Redis: the shared limit admits one.
    const a = feed();
    const b = feed();
    a.interest(CHANNEL, true);
    b.interest(CHANNEL, true);
    await vi.advanceTimersByTimeAsync(INTERVAL * 8);
    a.stop();
    b.stop();
    expect(points.length).toBeGreaterThanOrEqual(8);
    expect(points.length).toBeLessThanOrEqual(10);
  });
});

import { performance } from 'node:perf_hooks';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../../src/util/clock.js';
import { MapSweep, type Sweepable, Sweeper } from '../../../src/util/sweeper.js';

function expiring(n: number, expiresAt: (i: number) => number): Map<string, number> {
  return new Map(Array.from({ length: n }, (_, i) => [`k${i}`, expiresAt(i)]));
}

describe('MapSweep', () => {
  it('examines at most the budget per call and resumes where it stopped', () => {
    const map = expiring(10, () => 0);
    const sweep = new MapSweep(map, (key, at, now) => at <= now && map.delete(key));
    expect(sweep.sweep(1, 4)).toEqual({ examined: 4, expired: 4 });
    expect(map.size).toBe(6);
    expect(sweep.sweep(1, 4)).toEqual({ examined: 4, expired: 4 });
    expect(sweep.sweep(1, 4)).toEqual({ examined: 2, expired: 2 });
    expect(map.size).toBe(0);
  });

  it('starts a new round after a full pass, seeing entries added meanwhile', () => {
    const map = expiring(2, () => 100);
    const sweep = new MapSweep(map, (key, at, now) => at <= now && map.delete(key));
    expect(sweep.sweep(0, 10)).toEqual({ examined: 2, expired: 0 });
    map.set('late', 0);
    expect(sweep.sweep(0, 10)).toEqual({ examined: 3, expired: 1 });
  });
});

describe('Sweeper', () => {
  it('keeps going while most of what it sees has expired', () => {
    const clock = new ManualClock(10);
    const map = expiring(1000, () => 0);
    const sweeper = new Sweeper([new MapSweep(map, (key, at, now) => at <= now && map.delete(key))], clock, {
      intervalMs: 100,
      budget: 50,
      maxTickMs: 1000,
    });
    expect(sweeper.tick().expired).toBe(1000);
    expect(map.size).toBe(0);
  });

  it('stops after one round when little has expired', () => {
    const clock = new ManualClock(10);
    const map = expiring(1000, (i) => (i % 10 === 0 ? 0 : 100));
    const sweeper = new Sweeper([new MapSweep(map, (key, at, now) => at <= now && map.delete(key))], clock, {
      intervalMs: 100,
      budget: 50,
      maxTickMs: 1000,
    });
    expect(sweeper.tick()).toEqual({ examined: 50, expired: 5 });
  });

  it('gives up a tick at its time cap however much is expired', () => {
    let wall = 0;
    const spy = vi.spyOn(performance, 'now').mockImplementation(() => wall);
    try {
      let calls = 0;
      const endless: Sweepable = {
        sweep: () => {
          calls++;
          wall += 2; // each round costs 2 ms of wall time
          return { examined: 1, expired: 1 };
        },
      };
      const sweeper = new Sweeper([endless], new ManualClock(), { intervalMs: 100, budget: 1, maxTickMs: 5 });
      sweeper.tick();
      expect(calls).toBe(3);
    } finally {
      spy.mockRestore();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { FixedWindowCounter } from '../../../src/ratelimit/index.js';
import { ManualClock } from '../../../src/util/clock.js';

describe('FixedWindowCounter', () => {
  it('counts within a window and starts over when it ends', () => {
    const clock = new ManualClock();
    const counter = new FixedWindowCounter(clock);
    expect(counter.incr('k', 1000)).toEqual({ count: 1, resetMs: 1000 });
    clock.advance(400);
    expect(counter.incr('k', 1000, 2)).toEqual({ count: 3, resetMs: 600 });
    clock.advance(600);
    expect(counter.incr('k', 1000)).toEqual({ count: 1, resetMs: 1000 });
  });

  it('sweeps ended windows away', () => {
    const clock = new ManualClock();
    const counter = new FixedWindowCounter(clock);
    counter.incr('a', 100);
    counter.incr('b', 1000);
    clock.advance(100);
    expect(counter.sweep(clock.now(), 10)).toEqual({ examined: 2, expired: 1 });
    expect(counter.size).toBe(1);
  });

  it('rejects a bad window or increment', () => {
    const counter = new FixedWindowCounter(new ManualClock());
    expect(() => counter.incr('k', 0)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => counter.incr('k', 10, 0.5)).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });
});

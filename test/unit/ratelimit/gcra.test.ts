import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HubError } from '../../../src/protocol/errors.js';
import { KeyedRateLimiter, TokenBucket } from '../../../src/ratelimit/index.js';
import { ManualClock } from '../../../src/util/clock.js';

const policy = { rate: 10, periodMs: 1000, burst: 5 };

describe('TokenBucket', () => {
  it('allows the burst at once, then one token per interval', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(policy, clock);
    expect(Array.from({ length: 6 }, () => bucket.take())).toEqual([true, true, true, true, true, false]);
    expect(bucket.retryAfterMs()).toBe(100);
    clock.advance(99);
    expect(bucket.take()).toBe(false);
    clock.advance(1);
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('refills to the burst and no further after a long idle time', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(policy, clock);
    bucket.take(5);
    clock.advance(60_000);
    expect(bucket.remaining()).toBe(5);
    expect(bucket.take(5)).toBe(true);
    expect(bucket.take(1)).toBe(false);
  });

  it('charges a cost in tokens (bytes per second) and refuses without taking', () => {
    const clock = new ManualClock();
    const bytes = new TokenBucket({ rate: 1000, periodMs: 1000, burst: 1000 }, clock);
    expect(bytes.take(600)).toBe(true);
    expect(bytes.take(600)).toBe(false);
    expect(bytes.remaining()).toBe(400);
    expect(bytes.retryAfterMs(600)).toBe(200);
  });

  it('rejects a policy that could never allow anything', () => {
    const clock = new ManualClock();
    expect(() => new TokenBucket({ rate: 0, periodMs: 1000, burst: 1 }, clock)).toThrow(HubError);
    expect(() => new TokenBucket({ rate: 1, periodMs: 1000, burst: 0 }, clock)).toThrow(/burst >= 1/);
  });

  it('never allows more than burst + elapsed * rate (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 3 })), {
          maxLength: 200,
        }),
        (steps) => {
          const clock = new ManualClock(0);
          const bucket = new TokenBucket(policy, clock);
          let granted = 0;
          for (const [wait, cost] of steps) {
            clock.advance(wait);
            if (bucket.take(cost)) granted += cost;
            const ceiling = policy.burst + (clock.now() * policy.rate) / policy.periodMs;
            expect(granted).toBeLessThanOrEqual(ceiling + 1e-9);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('KeyedRateLimiter', () => {
  it('keeps a bucket per key and reports remaining and retry time', () => {
    const clock = new ManualClock();
    const limiter = new KeyedRateLimiter(clock);
    const results = Array.from({ length: 6 }, () => limiter.allow('a', policy));
    expect(results.map((r) => r.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
    expect(results[5]).toEqual({ allowed: false, retryAfterMs: 100, remaining: 0 });
    expect(limiter.allow('b', policy).allowed).toBe(true);
  });

  it('forgets keys whose bucket is full again, without changing any answer', () => {
    const clock = new ManualClock();
    const limiter = new KeyedRateLimiter(clock);
    for (let i = 0; i < 100; i++) limiter.allow(`k${i}`, policy);
    limiter.allow('busy', policy, 5);
    expect(limiter.size).toBe(101);
    clock.advance(100);
    // Single-token keys are full again after one interval; "busy" still owes four tokens.
    expect(limiter.sweep(clock.now(), 1000)).toEqual({ examined: 101, expired: 100 });
    expect(limiter.size).toBe(1);
    expect(limiter.allow('busy', policy, 2).allowed).toBe(false);
  });

  it('rejects a cost above the burst and a broken policy with bad_request', () => {
    const limiter = new KeyedRateLimiter(new ManualClock());
    expect(() => limiter.allow('a', policy, 6)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(() => limiter.allow('a', { ...policy, rate: Number.NaN })).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
  });
});

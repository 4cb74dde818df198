// Limits shared by all nodes: GCRA rate limits and fixed-window counters, each one script on
// Redis's clock, so a user's budget is one budget whichever node their requests land on.

import { validatePolicy } from '../../ratelimit/index.js';
import type { RateLimitPolicy, RateLimitResult, WindowCount } from '../types.js';
import { asArray, asNumber } from './replies.js';
import type { RedisContext } from './shared-state.js';
import { checkCost, checkWindow } from './validate.js';

export class RedisLimits {
  constructor(private readonly ctx: RedisContext) {}

  async rateLimit(key: string, policy: RateLimitPolicy, cost: number): Promise<RateLimitResult> {
    validatePolicy(policy);
    checkCost(cost, policy.burst);
    const interval = policy.periodMs / policy.rate;
    const [allowed, retryAfterMs, remaining] = asArray(
      await this.ctx.redis.hubbubRateLimit(this.ctx.keys.rateLimit(key), interval, interval * policy.burst, cost),
      'rate limit',
    );
    return {
      allowed: asNumber(allowed, 'rate limit') === 1,
      retryAfterMs: asNumber(retryAfterMs, 'rate limit'),
      remaining: asNumber(remaining, 'rate limit'),
    };
  }

  async incrWindow(key: string, windowMs: number, by: number): Promise<WindowCount> {
    checkWindow(windowMs, by);
    const [count, resetMs] = asArray(
      await this.ctx.redis.hubbubWindow(this.ctx.keys.window(key), Math.ceil(windowMs), by),
      'window',
    );
    return { count: asNumber(count, 'window'), resetMs: asNumber(resetMs, 'window') };
  }
}

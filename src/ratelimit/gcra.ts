// GCRA (the generic cell rate algorithm): a token bucket stored as one number per key, the
// "theoretical arrival time". No timers per key: a key whose TAT is in the past is equivalent to
// a full bucket, so it can be dropped by the sweep at any time without changing any answer.

import type { RateLimitPolicy, RateLimitResult } from '../engine/types.js';
import { HubError } from '../protocol/errors.js';
import type { Clock } from '../util/clock.js';
import { MapSweep, type Sweepable, type SweepResult } from '../util/sweeper.js';

export function validatePolicy(policy: RateLimitPolicy): void {
  const { rate, periodMs, burst } = policy;
  if (!(rate > 0 && Number.isFinite(rate)) || !(periodMs > 0 && Number.isFinite(periodMs))) {
    throw new HubError('bad_request', 'rate limit policy needs rate > 0 and periodMs > 0');
  }
  if (!(burst >= 1 && Number.isFinite(burst))) {
    throw new HubError('bad_request', 'rate limit policy needs burst >= 1');
  }
}

function checkCost(cost: number, burst: number): void {
  if (!(cost >= 0 && cost <= burst)) {
    throw new HubError(
      'bad_request',
      `rate limit cost must be between 0 and the burst (${burst}), got ${cost}`,
    );
  }
}

/** What a policy means to GCRA, computed once per policy object and shared by its buckets. */
export interface Rule {
  /** ms per token. */
  readonly interval: number;
  /** How far the TAT may run ahead of now: the burst. */
  readonly tolerance: number;
}

const rules = new WeakMap<RateLimitPolicy, Rule>();

export function ruleFor(policy: RateLimitPolicy): Rule {
  let rule = rules.get(policy);
  if (rule === undefined) {
    validatePolicy(policy);
    const interval = policy.periodMs / policy.rate;
    rule = { interval, tolerance: interval * policy.burst };
    rules.set(policy, rule);
  }
  return rule;
}

/**
 * GCRA on a bare TAT, for a bucket kept as one number on its owner (a connection's command and
 * byte limits: no object per bucket): the TAT after taking `cost` tokens, or -1 when they are
 * not there (nothing taken).
 */
export function gcraTake(rule: Rule, tat: number, now: number, cost: number): number {
  const next = Math.max(tat, now) + rule.interval * cost;
  return next - rule.tolerance > now ? -1 : next;
}

/** How long until `cost` tokens will be there, for a bucket at `tat`. */
export function gcraRetryAfterMs(rule: Rule, tat: number, now: number, cost: number): number {
  return Math.max(0, Math.ceil(Math.max(tat, now) + rule.interval * cost - rule.tolerance - now));
}

/**
 * One bucket, for state that already lives on one object (a connection's publish limit in a
 * namespace, a Pusher connection's client events): no map lookup at all. A bucket is its TAT and
 * a rule shared by every bucket of the same policy object (a connection's own command and byte
 * limits skip even this object: two TATs on the session, see gcraTake). `take` is the hot-path
 * check; `retryAfterMs` is only asked after a refusal.
 */
export class TokenBucket {
  private tat = 0;
  private readonly rule: Rule;

  constructor(
    policy: RateLimitPolicy,
    private readonly clock: Clock,
  ) {
    this.rule = ruleFor(policy);
  }

  /** Takes `cost` tokens if they are there; false (and nothing taken) otherwise. */
  take(cost = 1): boolean {
    const next = gcraTake(this.rule, this.tat, this.clock.now(), cost);
    if (next < 0) return false;
    this.tat = next;
    return true;
  }

  /** How long until `cost` tokens will be there. */
  retryAfterMs(cost = 1): number {
    return gcraRetryAfterMs(this.rule, this.tat, this.clock.now(), cost);
  }

  remaining(): number {
    const now = this.clock.now();
    const tat = Math.max(this.tat, now);
    return Math.floor((now - tat + this.rule.tolerance) / this.rule.interval);
  }
}

/** Many buckets by key (per user, per API key), one policy per call. */
export class KeyedRateLimiter implements Sweepable {
  private readonly tats = new Map<string, number>();
  // A key whose bucket has refilled completely can be forgotten without changing any answer.
  private readonly sweeper = new MapSweep(this.tats, (key, tat, now) => tat <= now && this.tats.delete(key));

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.tats.size;
  }

  allow(key: string, policy: RateLimitPolicy, cost = 1): RateLimitResult {
    const interval = policy.periodMs / policy.rate;
    if (!(interval > 0 && Number.isFinite(interval)) || !(policy.burst >= 1)) validatePolicy(policy);
    if (!(cost >= 0 && cost <= policy.burst)) checkCost(cost, policy.burst);
    const tolerance = interval * policy.burst;
    const now = this.clock.now();
    const stored = this.tats.get(key);
    const tat = stored !== undefined && stored > now ? stored : now;
    const next = tat + interval * cost;
    const allowAt = next - tolerance;
    if (allowAt > now) {
      return {
        allowed: false,
        retryAfterMs: Math.ceil(allowAt - now),
        remaining: Math.max(0, Math.floor((now - tat + tolerance) / interval)),
      };
    }
    this.tats.set(key, next);
    return { allowed: true, retryAfterMs: 0, remaining: Math.floor((now - allowAt) / interval) };
  }

  sweep(now: number, budget: number): SweepResult {
    return this.sweeper.sweep(now, budget);
  }
}

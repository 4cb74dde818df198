// Fixed-window counters, the Redis `INCR` + `EXPIRE` pattern: a count per key that starts over
// when its window ends. Used for per-user API quotas, where "N per minute" is what users read.

import type { WindowCount } from '../engine/types.js';
import { HubError } from '../protocol/errors.js';
import type { Clock } from '../util/clock.js';
import { MapSweep, type Sweepable, type SweepResult } from '../util/sweeper.js';

interface Window {
  count: number;
  resetAt: number;
}

export class FixedWindowCounter implements Sweepable {
  private readonly windows = new Map<string, Window>();
  private readonly sweeper = new MapSweep(
    this.windows,
    (key, w, now) => w.resetAt <= now && this.windows.delete(key),
  );

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.windows.size;
  }

  incr(key: string, windowMs: number, by = 1): WindowCount {
    if (!(windowMs > 0 && Number.isFinite(windowMs))) {
      throw new HubError('bad_request', `window must be a positive number of ms, got ${windowMs}`);
    }
    if (!Number.isSafeInteger(by)) {
      throw new HubError('bad_request', `increment must be a safe integer, got ${by}`);
    }
    const now = this.clock.now();
    let w = this.windows.get(key);
    if (w === undefined || w.resetAt <= now) {
      w = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, w);
    }
    w.count += by;
    return { count: w.count, resetMs: w.resetAt - now };
  }

  sweep(now: number, budget: number): SweepResult {
    return this.sweeper.sweep(now, budget);
  }
}

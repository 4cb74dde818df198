// Expiry done the Redis way: every structure expires lazily when touched, and one incremental
// sweep visits a bounded number of keys per tick (repeating while most of what it sees is
// expired, within a time cap), so memory is reclaimed without ever stalling the event loop.

import { performance } from 'node:perf_hooks';
import type { Clock } from './clock.js';

export interface SweepResult {
  examined: number;
  expired: number;
}

export interface Sweepable {
  /** Examines at most `budget` entries, resuming where the previous call stopped. */
  sweep(now: number, budget: number): SweepResult;
}

/** A resumable walk over a Map; `visit` returns true when it removed (expired) the entry. */
export class MapSweep<K, V> implements Sweepable {
  private cursor: MapIterator<[K, V]> | undefined;

  constructor(
    private readonly map: Map<K, V>,
    private readonly visit: (key: K, value: V, now: number) => boolean,
  ) {}

  sweep(now: number, budget: number): SweepResult {
    let examined = 0;
    let expired = 0;
    this.cursor ??= this.map.entries();
    while (examined < budget) {
      const step = this.cursor.next();
      if (step.done) {
        // One full round done; the next call starts a fresh one (Map iterators see later inserts).
        this.cursor = undefined;
        break;
      }
      examined++;
      if (this.visit(step.value[0], step.value[1], now)) expired++;
    }
    return { examined, expired };
  }
}

export interface SweeperOptions {
  intervalMs: number;
  /** Entries examined per target per round. */
  budget: number;
  /** Wall-clock cap on one tick, however much is expired. */
  maxTickMs: number;
}

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  expiredTotal = 0;

  constructor(
    private readonly targets: readonly Sweepable[],
    private readonly clock: Clock,
    private readonly options: SweeperOptions,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One tick: rounds over every target while more than a quarter of what was seen had expired. */
  tick(): SweepResult {
    const started = performance.now();
    const total = { examined: 0, expired: 0 };
    for (;;) {
      const now = this.clock.now();
      let examined = 0;
      let expired = 0;
      for (const target of this.targets) {
        const r = target.sweep(now, this.options.budget);
        examined += r.examined;
        expired += r.expired;
      }
      total.examined += examined;
      total.expired += expired;
      if (examined === 0 || expired * 4 <= examined) break;
      if (performance.now() - started >= this.options.maxTickMs) break;
    }
    this.expiredTotal += total.expired;
    return total;
  }
}

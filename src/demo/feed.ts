// The dashboard demo's data: a simulated metric published to one channel, one point per interval,
// only while some node has a subscriber to it, so an idle hub does no work. With several nodes
// each node with subscribers ticks, and a rate limit shared through the engine lets one point
// per interval through, whichever node wins it.

import type { Engine, PublishOptions } from '../engine/types.js';
import type { Logger } from '../observability/index.js';
import type { Clock } from '../util/clock.js';

export interface FeedPoint {
  /** Server time of the publish (ms since the epoch): the page measures delivery latency from it. */
  t: number;
  /** The simulated metric: requests per second of an imaginary service. */
  value: number;
}

export class DemoFeed {
  private timer: NodeJS.Timeout | undefined;
  private phase = 0;
  private level = 400;
  private busy = false;

  constructor(
    private readonly engine: Engine,
    private readonly channel: string,
    private readonly intervalMs: number,
    private readonly options: PublishOptions,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly random: () => number = Math.random,
  ) {}

  /** The hub's local interest in the feed's channel changed: tick while anyone here listens. */
  interest(channel: string, active: boolean): void {
    if (channel !== this.channel) return;
    if (active && this.timer === undefined) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.timer.unref();
    } else if (!active) this.stop();
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One point: a daily-looking wave with noise and the odd spike. */
  next(): FeedPoint {
    this.phase += 0.08;
    this.level += (this.random() - 0.5) * 30;
    this.level = Math.min(700, Math.max(150, this.level));
    const spike = this.random() < 0.03 ? 250 * this.random() : 0;
    const value = Math.round(this.level + 120 * Math.sin(this.phase) + spike);
    return { t: this.clock.now(), value };
  }

  private async tick(): Promise<void> {
    // A slow engine must not stack ticks up behind it.
    if (this.busy) return;
    this.busy = true;
    try {
      // A little under the interval: a timer firing a millisecond early must not lose its point.
      const periodMs = Math.max(1, Math.floor(this.intervalMs * 0.8));
      const slot = await this.engine.rateLimit(`demo-feed:${this.channel}`, { rate: 1, periodMs, burst: 1 });
      if (!slot.allowed || this.timer === undefined) return;
      const point = this.next();
      await this.engine.publish(this.channel, JSON.stringify(point), this.options);
    } catch (err) {
      this.log.warn({ err, channel: this.channel }, 'demo feed: publish failed');
    } finally {
      this.busy = false;
    }
  }
}

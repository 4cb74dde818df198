// Presence expiry across nodes. A member's expiry time is in Redis, so any node can expire it; a
// node sweeps the channels it has subscribers for and where join/leave is in use (the ones whose
// leaves anybody here wants), a bounded number per tick, and the script announces each leave on
// the channel's topic, once, whichever node ran it. Other channels expire lazily on read, and
// their keys by TTL.

import type { Logger } from '../../observability/index.js';

export interface PresenceSweepOptions {
  intervalMs: number;
  /** Channels examined per tick. */
  channelsPerTick: number;
}

export class PresenceSweep {
  private timer: NodeJS.Timeout | undefined;
  private cursor: Iterator<string> | undefined;
  private running = false;
  expired = 0;

  constructor(
    private readonly channels: () => Iterable<string>,
    private readonly expire: (channel: string) => Promise<number>,
    private readonly ready: () => boolean,
    private readonly options: PresenceSweepOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One bounded step of the round over all channels; overlapping ticks are skipped. */
  async tick(): Promise<void> {
    if (this.running || !this.ready()) return;
    this.running = true;
    try {
      const batch: string[] = [];
      this.cursor ??= this.channels()[Symbol.iterator]();
      while (batch.length < this.options.channelsPerTick) {
        const step = this.cursor.next();
        if (step.done === true) {
          this.cursor = undefined;
          break;
        }
        batch.push(step.value);
      }
      await this.sweep(batch);
    } finally {
      this.running = false;
    }
  }

  /** Expires members of these channels now (auto-pipelined); returns how many went. */
  async sweep(channels: readonly string[]): Promise<number> {
    const results = await Promise.allSettled(channels.map((channel) => this.expire(channel)));
    let n = 0;
    let failed = 0;
    for (const r of results) {
      if (r.status === 'fulfilled') n += r.value;
      else failed++;
    }
    if (failed > 0) this.log.debug({ failed }, 'presence sweep: some channels could not be swept; next round');
    this.expired += n;
    return n;
  }
}

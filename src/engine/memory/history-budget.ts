// The memory engine's history budget: entry and byte totals across all streams, the streams that
// hold entries in least-recently-used order, and eviction of the oldest entries of the least
// recently used streams when a total goes over its limit.

import type { Stream } from './durable.js';

export class HistoryBudget {
  entries = 0;
  bytes = 0;
  readonly evicted = { entries: 0, bytes: 0 };
  // Streams that hold entries, in LRU order: where eviction takes from. `mru` skips the
  // re-insert when the same stream is used again, the common case under load.
  private readonly holding = new Set<Stream>();
  private mru: Stream | undefined;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    /** Told about each stream eviction trimmed (the append-only file records it). */
    private readonly onTrim: (stream: Stream) => void,
  ) {}

  get over(): boolean {
    return this.entries > this.maxEntries || this.bytes > this.maxBytes;
  }

  /** Keeps the totals and the eviction order right after a stream's log changed. */
  account(stream: Stream, lengthBefore: number, bytesBefore: number): void {
    const log = stream.log;
    this.entries += log.length - lengthBefore;
    this.bytes += log.bytes - bytesBefore;
    if (log.length === 0) {
      if (lengthBefore > 0) this.holding.delete(stream);
    } else if (this.mru !== stream) {
      this.holding.delete(stream);
      this.holding.add(stream);
      this.mru = stream;
    }
  }

  /** Over budget: drop the oldest entries of the least recently used streams first. */
  evict(): void {
    while (this.over) {
      const victim = this.holding.values().next().value;
      if (victim === undefined) return;
      const log = victim.log;
      const lengthBefore = log.length;
      const bytesBefore = log.bytes;
      const excess = this.entries - this.maxEntries;
      log.dropOldest(excess > 0 ? Math.min(excess, lengthBefore) : 1);
      this.evicted.entries += lengthBefore - log.length;
      this.evicted.bytes += bytesBefore - log.bytes;
      this.account(victim, lengthBefore, bytesBefore);
      this.onTrim(victim);
    }
  }

  /** A stream is gone: its entries leave the totals. */
  forget(stream: Stream): void {
    if (this.mru === stream) this.mru = undefined;
    this.holding.delete(stream);
    this.entries -= stream.log.length;
    this.bytes -= stream.log.bytes;
  }
}

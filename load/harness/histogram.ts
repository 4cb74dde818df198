// Latency histogram with ~1% relative precision from 1 µs to ~1000 s: log-spaced buckets, so
// workers can add millions of samples in O(1) each and ship only the buckets that changed since
// their last report, and the coordinator merges them by adding counts.

const BASE = 1.01;
const LOG_BASE = Math.log(BASE);
const BUCKETS = 2100;

/** Sparse counts: [bucket, count, bucket, count, ...]. */
export type HistogramDelta = number[];

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  /** Buckets touched since the last `takeDelta`. */
  private delta = new Map<number, number>();

  add(ms: number): void {
    const us = ms * 1000;
    const i = us < 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(us) / LOG_BASE));
    this.counts[i] = (this.counts[i] as number) + 1;
    this.delta.set(i, (this.delta.get(i) ?? 0) + 1);
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  takeDelta(): HistogramDelta {
    const out: number[] = [];
    for (const [i, n] of this.delta) out.push(i, n);
    this.delta.clear();
    return out;
  }

  merge(delta: HistogramDelta): void {
    for (let k = 0; k + 1 < delta.length; k += 2) {
      const i = delta[k] as number;
      const n = delta[k + 1] as number;
      this.counts[i] = (this.counts[i] as number) + n;
      this.count += n;
      const upper = i === 0 ? 0 : BASE ** i / 1000;
      if (upper > this.max) this.max = upper;
    }
  }

  /** The q-quantile (0..1) in ms: the upper edge of the bucket holding it; undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank && seen > 0) return i === 0 ? 0.001 : BASE ** i / 1000;
    }
    return this.max;
  }
}

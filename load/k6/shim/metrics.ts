// The shim's metric sinks (Counter, Gauge, Rate, Trend, shared by every VU by name) and its
// threshold check, for the simple expressions the scripts use: `p(99)<250`, `avg<=5`,
// `count==0`, `count>0`, `rate<0.01`, `value<10`. Anything else is refused, not guessed at.

export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';

export class Sink {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  last = 0;
  /** Rate: samples that were true (non-zero). */
  passes = 0;
  private readonly values: number[] = [];
  private sorted = true;

  constructor(
    readonly name: string,
    readonly type: MetricType,
  ) {}

  add(value: number | boolean): void {
    const v = typeof value === 'boolean' ? Number(value) : value;
    this.count++;
    this.sum += v;
    this.last = v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (v !== 0) this.passes++;
    if (this.type === 'trend') {
      this.values.push(v);
      this.sorted = false;
    }
  }

  /** The nearest-rank-interpolated percentile k6 reports, p in [0, 100]. */
  percentile(p: number): number {
    if (this.values.length === 0) return NaN;
    if (!this.sorted) {
      this.values.sort((a, b) => a - b);
      this.sorted = true;
    }
    const rank = (p / 100) * (this.values.length - 1);
    const lo = Math.floor(rank);
    const hi = Math.ceil(rank);
    const a = this.values[lo] ?? NaN;
    const b = this.values[hi] ?? NaN;
    return a + (b - a) * (rank - lo);
  }

  /** One aggregate by its threshold name, over a run of `seconds`. */
  aggregate(name: string, seconds: number): number {
    const pct = /^p\((\d+(?:\.\d+)?)\)$/.exec(name);
    if (pct !== null && this.type === 'trend') return this.percentile(Number(pct[1]));
    switch (`${this.type}:${name}`) {
      case 'counter:count':
        return this.sum;
      case 'counter:rate':
        return seconds > 0 ? this.sum / seconds : 0;
      case 'rate:rate':
        return this.count === 0 ? 0 : this.passes / this.count;
      case 'gauge:value':
        return this.last;
      case 'trend:avg':
        return this.count === 0 ? NaN : this.sum / this.count;
      case 'trend:med':
        return this.percentile(50);
      case 'trend:min':
      case 'gauge:min':
        return this.count === 0 ? NaN : this.min;
      case 'trend:max':
      case 'gauge:max':
        return this.count === 0 ? NaN : this.max;
      default:
        throw new Error(`the shim has no "${name}" for ${this.type} metric ${this.name}`);
    }
  }

  /** What the summary shows for this metric. */
  values_(seconds: number): Record<string, number> {
    switch (this.type) {
      case 'counter':
        return { count: this.sum, rate: this.aggregate('rate', seconds) };
      case 'rate':
        return { rate: this.aggregate('rate', seconds), passes: this.passes, fails: this.count - this.passes };
      case 'gauge':
        return { value: this.last, min: this.min, max: this.max };
      case 'trend':
        return {
          count: this.count,
          avg: this.aggregate('avg', seconds),
          min: this.aggregate('min', seconds),
          med: this.percentile(50),
          max: this.aggregate('max', seconds),
          'p(95)': this.percentile(95),
          'p(99)': this.percentile(99),
        };
    }
  }
}

export class Registry {
  readonly sinks = new Map<string, Sink>();

  /** The sink named `name`; every VU's `new Trend(name)` lands on the same one. */
  sink(name: string, type: MetricType): Sink {
    const existing = this.sinks.get(name);
    if (existing !== undefined) {
      if (existing.type !== type) throw new Error(`metric ${name} is a ${existing.type}, not a ${type}`);
      return existing;
    }
    const sink = new Sink(name, type);
    this.sinks.set(name, sink);
    return sink;
  }
}

export interface ThresholdResult {
  metric: string;
  expression: string;
  /** The aggregate's value; NaN when the metric had no samples. */
  value: number;
  ok: boolean;
}

const EXPRESSION = /^\s*(avg|min|max|med|count|rate|value|p\(\d+(?:\.\d+)?\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;

function compare(a: number, op: string, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '!=':
      return a !== b;
    default:
      return a === b;
  }
}

/**
 * Checks every threshold. A metric nobody created (no script ever declared it) or a trend with
 * no samples fails its thresholds: a run that measured nothing proves nothing.
 */
export function evaluate(thresholds: Record<string, unknown>, registry: Registry, seconds: number): ThresholdResult[] {
  const results: ThresholdResult[] = [];
  for (const [metric, list] of Object.entries(thresholds)) {
    if (metric.includes('{')) throw new Error(`the shim does not filter thresholds by tag: ${metric}`);
    for (const entry of Array.isArray(list) ? list : [list]) {
      const expression = typeof entry === 'string' ? entry : String((entry as { threshold?: unknown }).threshold);
      const parsed = EXPRESSION.exec(expression);
      if (parsed === null) throw new Error(`the shim cannot evaluate the threshold "${expression}" on ${metric}`);
      const [, agg = '', op = '', bound = ''] = parsed;
      const sink = registry.sinks.get(metric);
      const value = sink === undefined ? NaN : sink.aggregate(agg, seconds);
      results.push({ metric, expression, value, ok: !Number.isNaN(value) && compare(value, op, Number(bound)) });
    }
  }
  return results;
}

// One node's numbers for the console, read from its Prometheus registry (the same counters
// /metrics serves, so the console and a Grafana board never disagree) and turned into rates
// between two readings.

import type { Metrics } from '../observability/index.js';
import type { NodeNumbers } from './wire.js';

export type { NodeNumbers } from './wire.js';


/** The counters a reading keeps to turn the next one into rates. */
export interface Reading {
  at: number;
  messagesIn: number;
  messagesOut: number;
  publishCount: number;
  publishSum: number;
  /** Cumulative count per bucket bound (seconds), as Prometheus keeps them. */
  buckets: Map<number, number>;
}

interface Sample {
  value: number;
  labels: Record<string, string | number | undefined>;
  metricName?: string;
}

export async function read(metrics: Metrics, at: number): Promise<{ reading: Reading; errors: Record<string, number>; closes: Record<string, number> }> {
  const all = (await metrics.registry.getMetricsAsJSON()) as { name: string; values: Sample[] }[];
  const values = (name: string): Sample[] => all.find((m) => m.name === name)?.values ?? [];
  const total = (name: string) => values(name).reduce((n, s) => n + s.value, 0);
  const byLabel = (name: string, label: string) => {
    const out: Record<string, number> = {};
    for (const s of values(name)) {
      const key = String(s.labels[label] ?? '');
      out[key] = (out[key] ?? 0) + s.value;
    }
    return out;
  };
  const buckets = new Map<number, number>();
  let publishCount = 0;
  let publishSum = 0;
  for (const s of values('hubbub_publish_duration_seconds')) {
    if (s.metricName?.endsWith('_bucket') === true) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      buckets.set(le, (buckets.get(le) ?? 0) + s.value);
    } else if (s.metricName?.endsWith('_count') === true) publishCount += s.value;
    else if (s.metricName?.endsWith('_sum') === true) publishSum += s.value;
  }
  return {
    reading: {
      at,
      messagesIn: total('hubbub_messages_in_total'),
      messagesOut: total('hubbub_messages_out_total'),
      publishCount,
      publishSum,
      buckets,
    },
    errors: byLabel('hubbub_errors_total', 'code'),
    closes: byLabel('hubbub_disconnects_total', 'code'),
  };
}

/** Rates between two readings. */
export function rates(prev: Reading, next: Reading): Pick<NodeNumbers, 'inPerSec' | 'outPerSec' | 'publishesPerSec' | 'publishMeanMs' | 'publishP99Ms'> {
  const seconds = Math.max(0.001, (next.at - prev.at) / 1000);
  const published = next.publishCount - prev.publishCount;
  let p99: number | null = null;
  if (published > 0) {
    const bounds = [...next.buckets.keys()].sort((a, b) => a - b);
    for (const le of bounds) {
      const n = (next.buckets.get(le) ?? 0) - (prev.buckets.get(le) ?? 0);
      if (n >= published * 0.99) {
        p99 = Number.isFinite(le) ? le * 1000 : null;
        break;
      }
    }
  }
  return {
    inPerSec: round((next.messagesIn - prev.messagesIn) / seconds),
    outPerSec: round((next.messagesOut - prev.messagesOut) / seconds),
    publishesPerSec: round(published / seconds),
    publishMeanMs: published > 0 ? round(((next.publishSum - prev.publishSum) / published) * 1000, 3) : null,
    publishP99Ms: p99,
  };
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

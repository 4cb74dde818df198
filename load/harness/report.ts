// The run's summary (text or JSON) and the soak verdicts.

import type { Histogram } from './histogram.js';
import type { Tally } from './messages.js';

export interface Latency {
  samples: number;
  p50: number | undefined;
  p90: number | undefined;
  p99: number | undefined;
  p999: number | undefined;
  max: number | undefined;
}

export function latency(h: Histogram): Latency {
  return {
    samples: h.count,
    p50: h.quantile(0.5),
    p90: h.quantile(0.9),
    p99: h.quantile(0.99),
    p999: h.quantile(0.999),
    max: h.count > 0 ? h.max : undefined,
  };
}

export interface Sample {
  atS: number;
  rssMb: number | undefined;
  heapMb: number | undefined;
}

export interface Verdict {
  name: string;
  pass: boolean;
  detail: string;
}

export interface Summary {
  scenario: string;
  seconds: number;
  connections: number;
  connectFailures: number;
  publications: number;
  deliveries: number;
  deliveriesPerSec: number;
  latencyMs: Latency;
  sdk: { clients: number; received: number; reportedGaps: number; latencyMs: Latency };
  expected: number;
  received: number;
  lost: number;
  silentGaps: number;
  reportedGaps: number;
  resumed: number;
  duplicates: number;
  stayed: Tally;
  reconnected: Tally;
  unplannedCloses: number;
  retries: number;
  epochMismatch: number;
  errors: Record<string, number>;
  hub: { rssMb: number | undefined; peakRssMb: number | undefined; cpuPct: number | undefined; restartDowntimeMs?: number };
  soak?: { samples: Sample[]; verdicts: Verdict[] };
  pass: boolean;
}

/**
 * Soak verdicts. RSS: the median of the last three samples may exceed the median of the three
 * around half time by at most `boundMb`. The first half is warm-up (V8 sizes its heap, glibc keeps
 * arenas); what remains is flat or a leak. Noise from GC sawtooth and allocator retention is a few
 * MB, so 16 MB catches a leak of ~5 KB per churn cycle at the default 10 cycles/s over 10 minutes
 * (3,000 cycles in the second half) without failing on noise.
 */
export function soakVerdicts(samples: Sample[], boundMb: number, stayed: Tally, reconnected: Tally): Verdict[] {
  const rss = samples.map((s) => s.rssMb).filter((v): v is number => v !== undefined);
  const median3 = (at: number): number => {
    const w = rss.slice(Math.max(0, at - 1), at + 2).sort((a, b) => a - b);
    return w[Math.floor(w.length / 2)] as number;
  };
  const verdicts: Verdict[] = [];
  if (rss.length < 4) verdicts.push({ name: 'RSS flat after warm-up', pass: false, detail: `only ${rss.length} RSS samples: no hub pid, or too short a run` });
  else {
    const half = median3(Math.floor(rss.length / 2) - 1);
    const end = median3(rss.length - 3);
    verdicts.push({
      name: 'RSS flat after warm-up',
      pass: end - half <= boundMb,
      detail: `${half.toFixed(1)} MB at half time -> ${end.toFixed(1)} MB at the end (+${(end - half).toFixed(1)} MB; bound ${boundMb} MB)`,
    });
  }
  verdicts.push({
    name: 'nothing lost by clients that stayed connected',
    pass: stayed.lost === 0 && stayed.silentGaps === 0 && stayed.expected > 0,
    detail: `${stayed.clients} clients: expected ${stayed.expected}, received ${stayed.received}, lost ${stayed.lost}`,
  });
  verdicts.push({
    name: 'no silent gap for clients that reconnected',
    pass: reconnected.silentGaps === 0 && reconnected.lost === 0,
    detail: `${reconnected.clients} clients: ${reconnected.resumed} resumes, ${reconnected.reportedGaps} gaps reported by the hub, ${reconnected.silentGaps} silent, lost ${reconnected.lost}`,
  });
  return verdicts;
}

const ms = (v: number | undefined): string => (v === undefined ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const n = (v: number): string => Math.round(v).toLocaleString('en');

export function printSummary(s: Summary): void {
  const l = s.latencyMs;
  const lines = [
    `\n${s.scenario}: ${s.seconds.toFixed(1)} s, ${n(s.connections)} connections (${n(s.connectFailures)} failed)`,
    `  publications ${n(s.publications)} acknowledged; deliveries ${n(s.deliveries)} (${n(s.deliveriesPerSec)}/s)`,
    `  latency ms   p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  p99.9 ${ms(l.p999)}  max ${ms(l.max)}  (${n(l.samples)} samples)`,
    `  SDK          ${s.sdk.clients} clients, ${n(s.sdk.received)} received, p50 ${ms(s.sdk.latencyMs.p50)}  p99 ${ms(s.sdk.latencyMs.p99)} ms`,
    `  expected ${n(s.expected)}  received ${n(s.received)}  lost ${n(s.lost)}  silent gaps ${n(s.silentGaps)}  duplicates ${n(s.duplicates)}`,
    `  stayed: ${n(s.stayed.clients)} clients, lost ${n(s.stayed.lost)};  reconnected: ${n(s.reconnected.clients)} clients, ${n(s.reconnected.resumed)} resumed, ` +
      `${n(s.reconnected.reportedGaps)} gaps reported by the hub, ${n(s.reconnected.silentGaps)} silent, lost ${n(s.reconnected.lost)}`,
    `  unplanned closes ${n(s.unplannedCloses)}, reconnect retries ${n(s.retries)}` + (s.epochMismatch > 0 ? `, ${s.epochMismatch} clients on an old epoch` : ''),
    `  errors ${Object.keys(s.errors).length === 0 ? 'none' : JSON.stringify(s.errors)}`,
    `  hub RSS ${s.hub.rssMb?.toFixed(1) ?? '-'} MB (peak ${s.hub.peakRssMb?.toFixed(1) ?? '-'}), CPU ${s.hub.cpuPct?.toFixed(1) ?? '-'}%` +
      (s.hub.restartDowntimeMs !== undefined ? `, restart took ${s.hub.restartDowntimeMs} ms` : ''),
  ];
  if (s.soak !== undefined) {
    lines.push(`  RSS samples (MB): ${s.soak.samples.map((x) => x.rssMb?.toFixed(0) ?? '-').join(' ')}`);
    lines.push(`  heap samples (MB): ${s.soak.samples.map((x) => x.heapMb?.toFixed(0) ?? '-').join(' ')}`);
    for (const v of s.soak.verdicts) lines.push(`  ${v.pass ? 'PASS' : 'FAIL'} ${v.name}: ${v.detail}`);
  }
  lines.push(s.pass ? 'PASS' : 'FAIL');
  console.log(lines.join('\n'));
}

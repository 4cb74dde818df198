// The dashboard demo: a live chart of a metric the hub simulates (the `demo-feed` channel), with
// what the page measures itself: points per second, and the delivery latency from the hub's
// publish (its timestamp in each point) to this page. The hub's feed runs only while someone is
// subscribed; this page opens with the last minute from the channel's history.

import { connectionBanner } from '../shared/banner.ts';
import { byId } from '../shared/dom.ts';
import { hubUrl, type Sdk, sdk } from '../shared/sdk.ts';
import { LineChart } from '../shared/chart.ts';

const FEED = 'demo-feed:metrics';
const WINDOW = 240;

interface Point {
  t: number;
  value: number;
}

function point(data: unknown): Point | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  return typeof d.t === 'number' && typeof d.value === 'number' && Number.isFinite(d.t) && Number.isFinite(d.value) ? { t: d.t, value: d.value } : undefined;
}

const client = new (sdk().HubClient)(hubUrl());
connectionBanner(client, byId('status'));
const chart = new LineChart(byId('chart'), { label: 'requests per second (simulated)', series: ['value'], window: WINDOW });
const rateOut = byId('rate');
const latencyOut = byId('latency');
const latencyP95Out = byId('latency-p95');
const valueOut = byId('value');
const countOut = byId('points');
const errorLine = byId('dash-error');

const arrivals: number[] = [];
const latencies: number[] = [];
let received = 0;

function add(p: Point, live: boolean): void {
  chart.push(p.t, [p.value]);
  received++;
  countOut.textContent = String(received);
  valueOut.textContent = String(p.value);
  if (!live) return;
  const now = Date.now();
  arrivals.push(now);
  while (arrivals.length > 0 && (arrivals[0] as number) < now - 5000) arrivals.shift();
  latencies.push(Math.max(0, now - p.t));
  if (latencies.length > 100) latencies.shift();
  const span = Math.max(1, Math.min(5000, now - (arrivals[0] ?? now)));
  rateOut.textContent = arrivals.length > 1 ? ((arrivals.length - 1) / (span / 1000)).toFixed(1) : '–';
  const sorted = [...latencies].sort((a, b) => a - b);
  latencyOut.textContent = String(sorted[Math.floor(sorted.length / 2)] ?? '–');
  latencyP95Out.textContent = String(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? '–');
}

const feed = client.subscribe(FEED);
feed.on('subscribed', (info) => {
  if (info.recovered) return;
  // The first subscribe (or a gap): the last minute from history, then live points.
  chart.clear();
  feed.history({ limit: WINDOW, reverse: true }).then(
    (h) => {
      for (const p of h.publications.reverse()) {
        const pt = point(p.data);
        if (pt !== undefined && p.offset <= info.offset) add(pt, false);
      }
    },
    (err: Sdk.HubError) => {
      errorLine.textContent = `${err.code}: ${err.message}`;
      errorLine.hidden = false;
    },
  );
});
feed.on('message', (m) => {
  const p = point(m.data);
  if (p !== undefined) add(p, m.time === undefined);
});
client.on('error', (err) => {
  errorLine.textContent = `${err.code}: ${err.message}`;
  errorLine.hidden = false;
});

// The console's live numbers: every node publishes its own to the internal channel about once a
// second; this sums them into tiles and a chart, and lists each node with its own numbers.

import { LineChart } from '../shared/chart.ts';
import { ago, byId, el } from '../shared/dom.ts';
import type { NodeNumbers } from '../../console/wire.ts';

export type { NodeNumbers };

/** A node silent for this long is shown as gone, and dropped after ten times as long. */
const STALE_MS = 5000;

export function isNumbers(data: unknown): data is NodeNumbers {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Record<string, unknown>;
  return typeof d.node === 'string' && typeof d.connections === 'number' && typeof d.engine === 'object' && d.engine !== null;
}

export class LiveNumbers {
  private readonly nodes = new Map<string, { n: NodeNumbers; seen: number }>();
  private readonly chart = new LineChart(byId('traffic-chart'), { label: 'messages in and out per second', series: ['in', 'out'], window: 120 });
  private lastChartAt = 0;

  constructor() {
    window.setInterval(() => this.render(), 1000);
  }

  add(n: NodeNumbers): void {
    this.nodes.set(n.node, { n, seen: Date.now() });
    this.render();
  }

  private render(): void {
    const now = Date.now();
    for (const [name, { seen }] of this.nodes) if (now - seen > STALE_MS * 10) this.nodes.delete(name);
    const live = [...this.nodes.values()].filter(({ seen }) => now - seen <= STALE_MS).map(({ n }) => n);
    const sum = (f: (n: NodeNumbers) => number) => live.reduce((s, n) => s + f(n), 0);
    const max = (f: (n: NodeNumbers) => number | null) => live.reduce<number | null>((m, n) => {
      const v = f(n);
      return v === null ? m : m === null ? v : Math.max(m, v);
    }, null);
    const set = (id: string, v: string) => (byId(id).textContent = v);
    set('t-connections', String(sum((n) => n.connections)));
    set('t-channels', String(sum((n) => n.channels)));
    set('t-subscriptions', String(sum((n) => n.subscriptions)));
    set('t-in', fmt(sum((n) => n.inPerSec)));
    set('t-out', fmt(sum((n) => n.outPerSec)));
    set('t-publishes', fmt(sum((n) => n.publishesPerSec)));
    const mean = max((n) => n.publishMeanMs);
    const p99 = max((n) => n.publishP99Ms);
    set('t-latency', mean === null ? '–' : `${mean.toFixed(2)} ms`);
    set('t-latency-p99', p99 === null ? 'p99 –' : `p99 ≤ ${p99} ms`);
    set('t-slow', String(sum((n) => n.slowConsumerCloses)));
    set('t-ratelimited', String(sum((n) => n.rateLimitCloses)));
    set('t-nodes', String(live.length));

    const newest = Math.max(0, ...live.map((n) => n.at));
    if (newest > this.lastChartAt) {
      this.lastChartAt = newest;
      this.chart.push(newest, [sum((n) => n.inPerSec), sum((n) => n.outPerSec)]);
    }

    const errors = new Map<string, number>();
    for (const n of live) for (const [code, v] of Object.entries(n.errors)) errors.set(code, (errors.get(code) ?? 0) + v);
    const rows = [...errors].sort((a, b) => b[1] - a[1]);
    byId('errors').replaceChildren(
      ...(rows.length === 0 ? [el('li', { class: 'muted', text: 'no error replies yet' })] : rows.map(([code, v]) => el('li', {}, el('code', { text: code }), el('span', { class: 'num', text: String(v) })))),
    );

    byId('nodes').replaceChildren(
      ...[...this.nodes.values()]
        .sort((a, b) => a.n.node.localeCompare(b.n.node))
        .map(({ n, seen }) => {
          const gone = now - seen > STALE_MS;
          const engine = n.engine.ok ? `${n.engine.kind} · ok` : `${n.engine.kind} · down: ${n.engine.error ?? ''}`;
          return el(
            'tr',
            { class: gone ? 'gone' : n.engine.ok ? '' : 'bad' },
            el('td', { 'data-label': 'node' }, el('span', { class: `dot ${gone || !n.engine.ok ? 'off' : 'on'}` }), n.node),
            el('td', { 'data-label': 'engine', text: gone ? `silent for ${ago(now - seen)}` : engine }),
            el('td', { 'data-label': 'conns', class: 'num', text: String(n.connections) }),
            el('td', { 'data-label': 'subs', class: 'num', text: String(n.subscriptions) }),
            el('td', { 'data-label': 'in/s', class: 'num', text: fmt(n.inPerSec) }),
            el('td', { 'data-label': 'out/s', class: 'num', text: fmt(n.outPerSec) }),
            el('td', { 'data-label': 'up', class: 'num', text: ago(n.uptimeMs) }),
          );
        }),
    );
  }
}

function fmt(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n * 10) / 10);
}

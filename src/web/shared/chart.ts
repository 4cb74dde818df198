// A small live line chart in SVG: a window of the newest points per series, scaled to fit, with
// a grid and the latest value. No library: the pages stay offline-capable and small.

const NS = 'http://www.w3.org/2000/svg';
const W = 600;
const H = 200;
const PAD = { left: 44, right: 8, top: 10, bottom: 20 };

export interface ChartOptions {
  label: string;
  series: string[];
  /** Points kept per series. */
  window: number;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

export class LineChart {
  private readonly root: SVGSVGElement;
  private readonly lines: SVGPolylineElement[];
  private readonly grid: SVGGElement;
  private readonly points: { x: number; ys: number[] }[] = [];
  private frame = 0;

  constructor(
    host: HTMLElement,
    private readonly options: ChartOptions,
  ) {
    this.root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': options.label, preserveAspectRatio: 'none', class: 'chart' });
    this.grid = svg('g', { class: 'grid' });
    this.root.append(this.grid);
    this.lines = options.series.map((_, i) => {
      const line = svg('polyline', { class: `series s${i}`, fill: 'none', points: '' });
      this.root.append(line);
      return line;
    });
    host.replaceChildren(this.root);
    this.root.dataset.points = '0';
    this.draw();
  }

  /** Adds a point (kept in x order, so late history and early live points mix correctly). */
  push(x: number, ys: number[]): void {
    let i = this.points.length;
    while (i > 0 && (this.points[i - 1] as { x: number }).x > x) i--;
    this.points.splice(i, 0, { x, ys });
    if (this.points.length > this.options.window) this.points.splice(0, this.points.length - this.options.window);
    this.root.dataset.points = String(this.points.length);
    if (this.frame === 0) this.frame = window.requestAnimationFrame(() => this.draw());
  }

  clear(): void {
    this.points.length = 0;
    this.root.dataset.points = '0';
    this.draw();
  }

  private draw(): void {
    this.frame = 0;
    const pts = this.points;
    let max = 1;
    for (const p of pts) for (const y of p.ys) if (y > max) max = y;
    max = niceCeil(max);
    const x0 = pts[0]?.x ?? 0;
    const span = Math.max(1, (pts.at(-1)?.x ?? 1) - x0);
    const iw = W - PAD.left - PAD.right;
    const ih = H - PAD.top - PAD.bottom;
    const sx = (x: number) => PAD.left + ((x - x0) / span) * iw;
    const sy = (y: number) => PAD.top + ih - (Math.max(0, y) / max) * ih;
    this.grid.replaceChildren();
    for (let k = 0; k <= 4; k++) {
      const v = (max / 4) * k;
      const y = sy(v);
      this.grid.append(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }));
      const label = svg('text', { x: PAD.left - 6, y: y + 4, 'text-anchor': 'end' });
      label.textContent = format(v);
      this.grid.append(label);
    }
    const secs = Math.round(span / 1000);
    const axis = svg('text', { x: W - PAD.right, y: H - 4, 'text-anchor': 'end' });
    axis.textContent = pts.length > 1 ? `last ${secs} s` : 'waiting for data…';
    this.grid.append(axis);
    this.lines.forEach((line, i) => {
      line.setAttribute('points', pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.ys[i] ?? 0).toFixed(1)}`).join(' '));
    });
  }
}

function niceCeil(n: number): number {
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

function format(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${Math.round(v / 1e3)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return String(Math.round(v * 10) / 10);
}

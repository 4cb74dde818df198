// The SVG chart of `npm run bench:compare --record` (docs/benchmarks-compare.svg): panels of
// grouped horizontal bars, one group per server and one bar per series (e.g. 1,000 and 10,000
// subscribers), bar length proportional to the value on a linear scale from 0 to the panel's
// largest value. Plain SVG text, so it renders on GitHub and needs no browser to make.

export interface ChartBar {
  /** The group the bar belongs to (a server), in order of first appearance. */
  group: string;
  /** Which bar of the group (e.g. "1,000 subscribers"); one colour per series. */
  series: string;
  value: number;
  /** Short text after the value, e.g. "client saturated". */
  note?: string;
}

export interface ChartPanel {
  title: string;
  /** Axis caption, with the unit: "deliveries/s", "p99 ms". */
  unit: string;
  bars: ChartBar[];
  /** How a value is printed next to its bar. */
  format: (value: number) => string;
}

export interface ChartInput {
  title: string;
  /** Lines under the title: the date, the machine, the method in a few words. */
  subtitle: string[];
  panels: ChartPanel[];
}

const WIDTH = 960;
const LABEL_W = 210; // group labels, right-aligned against the bars
const VALUE_W = 230; // room right of the longest bar for its value and note
const PLOT_W = WIDTH - LABEL_W - VALUE_W - 20;
const BAR_H = 14;
const BAR_GAP = 3;
const GROUP_GAP = 12;
const COLOURS = ['#2f6db5', '#e07b28', '#3a9a5b', '#9b59b6', '#c0392b'];
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

/** Escapes text for SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

const num = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2));

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** One panel starting at `top`; returns its SVG and its height. */
function panel(p: ChartPanel, top: number): { svg: string; height: number } {
  const bars = p.bars.filter((b) => Number.isFinite(b.value) && b.value >= 0);
  const groups = unique(bars.map((b) => b.group));
  const series = unique(bars.map((b) => b.series));
  const max = Math.max(0, ...bars.map((b) => b.value));
  const scale = max > 0 ? PLOT_W / max : 0;
  const out: string[] = [];
  let y = top;
  out.push(`<text x="${LABEL_W}" y="${y + 14}" font-size="15" font-weight="600">${escapeXml(p.title)}</text>`);
  y += 24;
  // Legend: one swatch per series.
  let lx = LABEL_W;
  series.forEach((s, i) => {
    out.push(`<rect x="${lx}" y="${y}" width="12" height="12" fill="${COLOURS[i % COLOURS.length]}"/>`);
    out.push(`<text x="${lx + 16}" y="${y + 10}" font-size="12">${escapeXml(s)}</text>`);
    lx += 28 + s.length * 7;
  });
  y += 22;
  const plotTop = y;
  for (const g of groups) {
    const inGroup = bars.filter((b) => b.group === g);
    const groupH = inGroup.length * BAR_H + (inGroup.length - 1) * BAR_GAP;
    out.push(`<text x="${LABEL_W - 8}" y="${y + groupH / 2 + 4}" font-size="13" text-anchor="end">${escapeXml(g)}</text>`);
    for (const b of inGroup) {
      const w = b.value * scale;
      const colour = COLOURS[series.indexOf(b.series) % COLOURS.length];
      const label = `${p.format(b.value)}${b.note ? ` (${b.note})` : ''}`;
      out.push(
        `<rect class="bar" x="${LABEL_W}" y="${y}" width="${num(w)}" height="${BAR_H}" fill="${colour}" ` +
          `data-group="${escapeXml(b.group)}" data-series="${escapeXml(b.series)}" data-value="${b.value}">` +
          `<title>${escapeXml(`${b.group}, ${b.series}: ${label} ${p.unit}`)}</title></rect>`,
      );
      out.push(`<text x="${num(LABEL_W + w + 5)}" y="${y + BAR_H - 3}" font-size="11">${escapeXml(label)}</text>`);
      y += BAR_H + BAR_GAP;
    }
    y += GROUP_GAP - BAR_GAP;
  }
  // Axis: the zero line, and the unit under the plot.
  out.push(`<line x1="${LABEL_W}" y1="${plotTop - 4}" x2="${LABEL_W}" y2="${y - GROUP_GAP + 4}" stroke="#555"/>`);
  out.push(
    `<text x="${LABEL_W}" y="${y + 8}" font-size="11" fill="#555">${escapeXml(`${p.unit}, linear scale from 0 (longest bar: ${p.format(max)})`)}</text>`,
  );
  y += 18;
  return { svg: out.join('\n'), height: y - top };
}

/** The whole chart: title, subtitle, then the panels one under another. */
export function renderChart(input: ChartInput): string {
  const parts: string[] = [];
  let y = 16;
  parts.push(`<text x="16" y="${y + 16}" font-size="18" font-weight="700">${escapeXml(input.title)}</text>`);
  y += 26;
  for (const line of input.subtitle) {
    parts.push(`<text x="16" y="${y + 12}" font-size="12" fill="#444">${escapeXml(line)}</text>`);
    y += 16;
  }
  y += 14;
  for (const p of input.panels) {
    const { svg, height } = panel(p, y);
    parts.push(svg);
    y += height + 16;
  }
  const height = y;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT}>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    `</svg>`,
    '',
  ].join('\n');
}

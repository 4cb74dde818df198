// The bench:compare chart generator (load/compare/chart.ts): the SVG it writes is well-formed,
// has one bar per measured row with lengths proportional to the values, and escapes its labels.
import { describe, expect, it } from 'vitest';
import { renderChart, type ChartInput } from '../../load/compare/chart.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function input(): ChartInput {
  return {
    title: 'Fan-out <compare> & co',
    subtitle: ['2026-12-07, 2 cores "EPYC"', 'median of 3 runs'],
    panels: [
      {
        title: 'Deliveries/s',
        unit: 'deliveries/s',
        format: fmt,
        bars: [
          { group: 'bare uWS', series: '1,000 subscribers', value: 3_000_000 },
          { group: 'bare uWS', series: '10,000 subscribers', value: 1_500_000 },
          { group: 'hubbub <uWS>', series: '1,000 subscribers', value: 750_000, note: 'client saturated' },
          { group: 'Socket.IO & rooms', series: '10,000 subscribers', value: 30_000 },
        ],
      },
      {
        title: 'p99 at 100,000 deliveries/s',
        unit: 'ms',
        format: (n) => n.toFixed(1),
        bars: [
          { group: 'bare uWS', series: '1,000 subscribers', value: 10 },
          { group: 'bare ws', series: '1,000 subscribers', value: 40 },
          { group: 'not run', series: '1,000 subscribers', value: Number.NaN },
        ],
      },
    ],
  };
}

/** Checks that tags nest and close and that text holds no raw `<` or stray `&`; returns the tag names seen. */
function checkWellFormed(svg: string): string[] {
  const body = svg.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const seen: string[] = [];
  const token = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = token.exec(body)) !== null) {
    pos = token.lastIndex;
    const [, close, name, attrs, selfClose, text] = m;
    const raw = text ?? attrs ?? '';
    expect(raw.replace(/&(amp|lt|gt|quot|apos);/g, '')).not.toMatch(/[&<]/);
    if (text !== undefined) continue;
    seen.push(name ?? '');
    if (close) expect(stack.pop()).toBe(name);
    else if (!selfClose) stack.push(name ?? '');
  }
  expect(pos).toBe(body.length); // every character belonged to a tag or to text
  expect(stack).toEqual([]);
  return seen;
}

function bars(svg: string): { width: number; value: number; group: string }[] {
  return [...svg.matchAll(/<rect class="bar"[^>]*>/g)].map(([tag]) => ({
    width: Number(/ width="([\d.]+)"/.exec(tag)?.[1]),
    value: Number(/ data-value="([\d.e+]+)"/.exec(tag)?.[1]),
    group: /data-group="([^"]*)"/.exec(tag)?.[1] ?? '',
  }));
}

describe('compare chart', () => {
  it('writes a well-formed SVG document', () => {
    const svg = renderChart(input());
    expect(svg.startsWith('<?xml')).toBe(true);
    const tags = checkWellFormed(svg);
    expect(tags[0]).toBe('svg');
  });

  it('draws one bar per measured row, none for a row without a value', () => {
    const svg = renderChart(input());
    const drawn = bars(svg);
    expect(drawn).toHaveLength(6);
    expect(drawn.map((b) => b.group)).not.toContain('not run');
  });

  it('makes bar lengths proportional to the values within a panel', () => {
    const drawn = bars(renderChart(input()));
    const [first, second] = [drawn.slice(0, 4), drawn.slice(4)];
    for (const panel of [first, second]) {
      const perUnit = (panel[0]?.width ?? 0) / (panel[0]?.value ?? 1);
      expect(perUnit).toBeGreaterThan(0);
      for (const b of panel) expect(b.width).toBeCloseTo(b.value * perUnit, 1);
    }
    // The longest bar of each panel is its largest value.
    expect(Math.max(...first.map((b) => b.width))).toBe(first[0]?.width);
    expect(Math.max(...second.map((b) => b.width))).toBe(second[1]?.width);
  });

  it('escapes labels', () => {
    const svg = renderChart(input());
    expect(svg).toContain('Fan-out &lt;compare&gt; &amp; co');
    expect(svg).toContain('hubbub &lt;uWS&gt;');
    expect(svg).toContain('Socket.IO &amp; rooms');
    expect(svg).toContain('2 cores &quot;EPYC&quot;');
    expect(svg).not.toContain('<compare>');
    expect(svg).not.toContain('<uWS>');
  });

  it('shows each value with its note next to its bar', () => {
    const svg = renderChart(input());
    expect(svg).toContain('>750,000 (client saturated)</text>');
    expect(svg).toContain('>40.0</text>');
  });
});

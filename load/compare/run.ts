// `npm run bench:compare`: hubbub side by side with the servers people would otherwise use, in one
// run and with one load client (load/fanout/bench.ts, the machinery of `npm run bench:fanout`):
// hubbub on uWS, on ws and its Pusher endpoint on uWS, bare uWS topics (the ceiling), the bare ws
// broadcast loop and Socket.IO rooms. For 1,000 and 10,000 subscribers of one channel:
// - throughput: the publisher keeps a window of publishes in flight (each server's own window at
//   1,000 subscribers, scaled by 1,000 / subscribers so the deliveries in flight stay the same);
// - latency: a fixed 100,000 deliveries/s (100 publishes/s at 1,000, 10/s at 10,000), p50/p99;
// and, at 1,000 subscribers, hubbub on uWS against bare uWS at window 32 as well as 500 (the
// close-to-the-metal target: within 5% of bare uWS at window 32).
// Each row: server on core 1, load client on core 0, the median of --repeat runs (default 3), its
// ratio to bare uWS in the same scenario; CLIENT SATURATED / NOISY / missing notes as bench:fanout.
//
// Options: --only a,b (servers: bare-uws, bare-ws, hubbub-uws, hubbub-ws, pusher-uws, pusher-ws,
// socketio; default all but pusher-ws), --subs 1000,10000, --modes throughput,latency,window32,
// --repeat N, --quick (1 run, 1 s warm-up, 2 s measured, no waiting for a quiet machine, no
// re-runs: to see that every row works), --record (write the tables between markers in --doc FILE,
// default docs/benchmarks.md, and the chart to --svg FILE, default
// docs/benchmarks-compare.svg), and the row options of bench:fanout (--payload, --warmup-ms,
// --duration-ms, --retries, --no-pin, ...; not --window or --rate, which the scenarios set).

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CLIENT_CPU,
  ROOT,
  ROW_DEFAULTS,
  SERVER_CPU,
  SERVERS,
  cpuModel,
  fmtCpu,
  fmtInt,
  fmtMs,
  intArg,
  killAll,
  parseRowArg,
  prepare,
  runRepeated,
  windowFor,
  writeBetweenMarkers,
  type Mode,
  type Row,
  type RowOptions,
  type ServerKey,
  type ServerSpec,
} from '../fanout/bench.js';
import { renderChart, type ChartBar } from './chart.js';

const BEGIN = '<!-- bench:compare:begin -->';
const END = '<!-- bench:compare:end -->';
/** The fixed delivery rate of the latency scenario, whatever the channel size. */
const LATENCY_DELIVERIES_PER_SEC = 100_000;
/** The window the close-to-the-metal target is set at (hubbub on uWS within 5% of bare uWS). */
const SMALL_WINDOW = 32;
/** The channel size the per-server windows were tuned at; larger channels get proportionally fewer. */
const WINDOW_BASE_SUBS = 1000;
const DEFAULT_SERVERS: ServerKey[] = ['hubbub-uws', 'hubbub-ws', 'pusher-uws', 'bare-uws', 'bare-ws', 'socketio'];

type ScenarioKind = 'throughput' | 'latency' | 'window32';

interface Options extends RowOptions {
  only: ServerKey[];
  subsList: number[];
  kinds: ScenarioKind[];
  record: boolean;
  doc: string;
  svg: string;
  quick: boolean;
}

/** One scenario: a channel size, a mode, and what the load client is told for it. */
interface Scenario {
  kind: ScenarioKind;
  subs: number;
  mode: Mode;
  servers: ServerKey[];
  /** The window for a server (throughput) or the publish rate (latency). */
  window(spec: ServerSpec): number | undefined;
  rate: number;
}

interface Result {
  scenario: Scenario;
  row: Row;
}

// ---- options ----

function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const opts: Options = {
    ...ROW_DEFAULTS,
    ...(quick ? { repeat: 1, warmupMs: 1000, durationMs: 2000, retries: 0, waitQuiet: false } : {}),
    only: DEFAULT_SERVERS,
    subsList: [1000, 10_000],
    kinds: ['throughput', 'latency', 'window32'],
    record: false,
    doc: path.join(ROOT, 'docs/benchmarks.md'),
    svg: path.join(ROOT, 'docs/benchmarks-compare.svg'),
    quick,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const next = (): string | undefined => argv[++i];
    if (arg === '--window' || arg === '--rate') throw new Error(`${arg}: the scenarios set it (see load/compare/run.ts)`);
    if (arg !== '--subs' && parseRowArg(opts, arg, next)) continue;
    switch (arg) {
      case '--subs': // a list here: one scenario set per channel size
        opts.subsList = (next() ?? '').split(',').filter(Boolean).map((s) => intArg(arg, s, 1, 15_000));
        break;
      case '--quick':
        break;
      case '--record':
        opts.record = true;
        break;
      case '--doc':
        opts.doc = path.resolve(next() ?? '');
        break;
      case '--svg':
        opts.svg = path.resolve(next() ?? '');
        break;
      case '--only': {
        const keys = (next() ?? '').split(',').filter(Boolean);
        for (const k of keys) if (!SERVERS.some((s) => s.key === k)) throw new Error(`--only: unknown server ${k}`);
        opts.only = keys as ServerKey[];
        break;
      }
      case '--modes': {
        const kinds = (next() ?? '').split(',').filter(Boolean);
        for (const k of kinds)
          if (k !== 'throughput' && k !== 'latency' && k !== 'window32') throw new Error(`--modes: unknown mode ${k}`);
        opts.kinds = kinds as ScenarioKind[];
        break;
      }
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  if (opts.subsList.length === 0) throw new Error('--subs wants at least one channel size');
  return opts;
}

function scenarios(opts: Options): Scenario[] {
  const out: Scenario[] = [];
  for (const subs of opts.subsList) {
    if (opts.kinds.includes('throughput'))
      out.push({
        kind: 'throughput',
        subs,
        mode: 'throughput',
        servers: opts.only,
        // Same deliveries in flight as at 1,000 subscribers: 500 x 1,000 would be 5 M frames
        // (~0.5 GB) queued at 10,000, which measures memory, not fan-out.
        window: (spec) => Math.max(1, Math.round((spec.window * WINDOW_BASE_SUBS) / subs)),
        rate: ROW_DEFAULTS.rate,
      });
    if (opts.kinds.includes('latency'))
      out.push({
        kind: 'latency',
        subs,
        mode: 'latency',
        servers: opts.only,
        window: () => undefined,
        rate: Math.max(1, Math.round(LATENCY_DELIVERIES_PER_SEC / subs)),
      });
  }
  // The target's window, for the two servers it is about, at the size it was set for.
  const pair = (['hubbub-uws', 'bare-uws'] as const).filter((k) => opts.only.includes(k));
  if (opts.kinds.includes('window32') && pair.length > 0 && opts.subsList.includes(WINDOW_BASE_SUBS))
    out.push({
      kind: 'window32',
      subs: WINDOW_BASE_SUBS,
      mode: 'throughput',
      servers: pair,
      window: () => SMALL_WINDOW,
      rate: ROW_DEFAULTS.rate,
    });
  return out;
}

function rowOptions(opts: Options, sc: Scenario, spec: ServerSpec): RowOptions {
  return { ...opts, subs: sc.subs, window: sc.window(spec), rate: sc.rate };
}

// ---- output ----

const fmtX = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : `${x.toFixed(2)}x`);
const cell = (text: string): string => text.replaceAll('|', '\\|');

function bareUws(results: Result[], sc: Scenario): Row | undefined {
  return results.find((r) => r.scenario === sc && r.row.server.key === 'bare-uws')?.row;
}

function throughputTable(results: Result[], list: Scenario[], opts: Options): string {
  const lines = [
    '| subscribers | server | window | deliveries/s | vs bare uWS | p99 ms (queueing) | server CPU % | client CPU % | note |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const sc of list.filter((s) => s.mode === 'throughput')) {
    const base = bareUws(results, sc)?.result?.deliveriesPerSec;
    for (const { row } of results.filter((r) => r.scenario === sc)) {
      const r = row.result;
      const ratio = r && base ? r.deliveriesPerSec / base : undefined;
      lines.push(
        `| ${fmtInt(sc.subs)} | ${row.server.label} | ${windowFor(rowOptions(opts, sc, row.server), row.server)} | ${
          r ? fmtInt(r.deliveriesPerSec) : '-'
        } | ${fmtX(ratio)} | ${r ? fmtMs(r.p99Ms) : '-'} | ${fmtCpu(r?.serverCpuPct, row.serverCorePct)} | ${fmtCpu(
          r?.clientCpuPct,
          row.clientCorePct,
        )} | ${cell(row.notes.join('; '))} |`,
      );
    }
  }
  return lines.join('\n');
}

function latencyTable(results: Result[], list: Scenario[]): string {
  const lines = [
    '| subscribers | server | publishes/s | deliveries/s | p50 ms | p99 ms | p99 vs bare uWS | server CPU % | client CPU % | note |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const sc of list.filter((s) => s.mode === 'latency')) {
    const base = bareUws(results, sc)?.result?.p99Ms;
    for (const { row } of results.filter((r) => r.scenario === sc)) {
      const r = row.result;
      const ratio = r && base ? r.p99Ms / base : undefined;
      lines.push(
        `| ${fmtInt(sc.subs)} | ${row.server.label} | ${sc.rate} | ${r ? fmtInt(r.deliveriesPerSec) : '-'} | ${
          r ? fmtMs(r.p50Ms) : '-'
        } | ${r ? fmtMs(r.p99Ms) : '-'} | ${fmtX(ratio)} | ${fmtCpu(r?.serverCpuPct, row.serverCorePct)} | ${fmtCpu(
          r?.clientCpuPct,
          row.clientCorePct,
        )} | ${cell(row.notes.join('; '))} |`,
      );
    }
  }
  return lines.join('\n');
}

/** hubbub on uWS over bare uWS at 1,000 subscribers, at window 32 (the target) and 500. */
function targetTable(results: Result[], list: Scenario[]): string {
  const ratioAt = (kind: ScenarioKind): number | undefined => {
    const sc = list.find((s) => s.kind === kind && s.subs === WINDOW_BASE_SUBS && s.mode === 'throughput');
    if (!sc) return undefined;
    const hub = results.find((r) => r.scenario === sc && r.row.server.key === 'hubbub-uws')?.row.result?.deliveriesPerSec;
    const bare = bareUws(results, sc)?.result?.deliveriesPerSec;
    return hub !== undefined && bare ? hub / bare : undefined;
  };
  const w32 = ratioAt('window32');
  const w500 = ratioAt('throughput');
  const verdict = (x: number | undefined): string => (x === undefined ? 'not measured' : x >= 0.95 ? 'met' : '**missed**');
  return [
    '| hubbub on uWS / bare uWS, 1,000 subscribers | value | target | |',
    '|---|---:|---:|---|',
    `| deliveries/s at window ${SMALL_WINDOW} | ${fmtX(w32)} | >= 0.95x | ${verdict(w32)} |`,
    `| deliveries/s at window 500 | ${fmtX(w500)} | >= 0.95x | ${verdict(w500)} |`,
  ].join('\n');
}

function machine(): string {
  return `${cpuModel()}, Node ${process.version}, ${os.type()} ${os.release()}`;
}

function section(results: Result[], list: Scenario[], opts: Options): string {
  const date = new Date().toISOString().slice(0, 10);
  const pin = opts.pin ? `server on core ${SERVER_CPU}, load client on core ${CLIENT_CPU} (taskset)` : 'unpinned (--no-pin)';
  return [
    `Command: \`npm run bench:compare${opts.quick ? ' -- --quick' : ''}\` on ${date}, ${machine()}; ${pin}.`,
    `1 publisher and ${opts.subsList.map(fmtInt).join(' or ')} subscribers of one channel, ${opts.payload} B payload, ` +
      `${opts.warmupMs / 1000} s warm-up then ${opts.durationMs / 1000} s measured per run, every run on a fresh server; ` +
      `each row is the median of ${opts.repeat} run${opts.repeat > 1 ? 's' : ''} (by deliveries/s, or by p99 in latency mode).`,
    'CPU columns: the process\'s own CPU % (utime + stime), and in brackets its core\'s busy % from /proc/stat.',
    '',
    `**Throughput** (publishes as fast as the window allows; windows at 10,000 subscribers are a tenth of those at 1,000):`,
    '',
    throughputTable(results, list, opts),
    '',
    `**Latency** at a fixed ${fmtInt(LATENCY_DELIVERIES_PER_SEC)} deliveries/s:`,
    '',
    latencyTable(results, list),
    '',
    targetTable(results, list),
  ].join('\n');
}

/** A short note for a bar: what makes the number a bound rather than the server's. */
function barNote(row: Row): string | undefined {
  const notes: string[] = [];
  if (row.notes.some((n) => n.startsWith('CLIENT SATURATED'))) notes.push('client saturated');
  if (row.notes.some((n) => n.startsWith('OVERLOADED'))) notes.push('overloaded');
  if (row.notes.some((n) => n.startsWith('NOISY'))) notes.push('noisy');
  if ((row.result?.missing ?? 0) > 0) notes.push('lost deliveries');
  return notes.length ? notes.join(', ') : undefined;
}

function bars(results: Result[], pick: (sc: Scenario) => string | undefined, value: (row: Row) => number | undefined): ChartBar[] {
  const out: ChartBar[] = [];
  for (const { scenario, row } of results) {
    const series = pick(scenario);
    const v = value(row);
    if (series === undefined || v === undefined) continue;
    const note = barNote(row);
    out.push({ group: row.server.label, series, value: v, ...(note ? { note } : {}) });
  }
  return out;
}

function chart(results: Result[], opts: Options): string {
  const subsSeries = (sc: Scenario): string => `${fmtInt(sc.subs)} subscribers`;
  const date = new Date().toISOString().slice(0, 10);
  return renderChart({
    title: 'Fan-out: hubbub and the alternatives (one publisher, one channel)',
    subtitle: [
      `npm run bench:compare${opts.quick ? ' -- --quick' : ''}, ${date}; ${machine()}`,
      `Server pinned to one core, C load client on the other; median of ${opts.repeat} run${opts.repeat > 1 ? 's' : ''}, ` +
        `${opts.durationMs / 1000} s measured each; ${opts.payload} B payload.`,
      'Longer is better in the throughput panels, shorter in the latency panel. Notes: client saturated = the load client bounds',
      'the number (the server may do more); overloaded = the server fell behind the fixed rate, so its p99 is queueing.',
    ],
    panels: [
      {
        title: 'Throughput: deliveries per second (each server at its own window)',
        unit: 'deliveries/s',
        format: fmtInt,
        bars: bars(results, (sc) => (sc.kind === 'throughput' ? subsSeries(sc) : undefined), (row) => row.result?.deliveriesPerSec),
      },
      {
        title: `Latency: p99 publish-to-receive at ${fmtInt(LATENCY_DELIVERIES_PER_SEC)} deliveries/s`,
        unit: 'ms',
        format: (ms) => `${fmtMs(ms)} ms`,
        bars: bars(results, (sc) => (sc.kind === 'latency' ? subsSeries(sc) : undefined), (row) => row.result?.p99Ms),
      },
      {
        title: `hubbub on uWS and bare uWS at 1,000 subscribers, window ${SMALL_WINDOW} and 500`,
        unit: 'deliveries/s',
        format: fmtInt,
        bars: bars(
          results,
          (sc) =>
            sc.subs === WINDOW_BASE_SUBS && sc.mode === 'throughput'
              ? `window ${sc.kind === 'window32' ? SMALL_WINDOW : 500}`
              : undefined,
          (row) => (row.server.key === 'hubbub-uws' || row.server.key === 'bare-uws' ? row.result?.deliveriesPerSec : undefined),
        ),
      },
    ],
  });
}

// ---- main ----

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  prepare(opts);
  const list = scenarios(opts);
  const results: Result[] = [];
  for (const sc of list) {
    for (const spec of SERVERS.filter((s) => sc.servers.includes(s.key))) {
      const ro = rowOptions(opts, sc, spec);
      console.error(`== ${fmtInt(sc.subs)} subscribers, ${sc.mode}${sc.mode === 'throughput' ? ` window ${windowFor(ro, spec)}` : ` ${sc.rate} pub/s`}`);
      results.push({ scenario: sc, row: await runRepeated(ro, spec, sc.mode) });
    }
  }
  const text = section(results, list, opts);
  console.log(text);
  if (opts.record) {
    writeBetweenMarkers(opts.doc, BEGIN, END, text);
    writeFileSync(opts.svg, chart(results, opts));
    console.error(`recorded in ${path.relative(ROOT, opts.doc)} and ${path.relative(ROOT, opts.svg)}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  killAll();
  process.exitCode = 1;
});

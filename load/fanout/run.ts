// `npm run bench:fanout`: deliveries per second and publish-to-receive latency for one publisher
// and N subscribers (default 1,000) of one channel, for bare uWS (the ceiling), bare ws, hubbub on
// uWS and hubbub on ws, hubbub's Pusher endpoint on both (the same channel size and client, its
// subscribers speaking the Pusher protocol), and Socket.IO rooms. Each row starts its server pinned
// to one core (`taskset -c 1`), runs the C load client (load/fanout/client.c, built here with gcc
// into load/bin/) pinned to the other (`taskset -c 0`), and stops the server (load/fanout/bench.ts).
// Modes: `throughput` (publish as fast as a window of in-flight publishes allows) and `latency`
// (fixed publish rate, default 100/s).
//
// Options: --record (rewrite the bench:fanout section of docs/benchmarks.md, or write
// docs/benchmarks-fanout-draft.md when the markers are absent), --only bare-uws,bare-ws,hubbub-uws,
// hubbub-ws,pusher-uws,pusher-ws,socketio, --modes throughput,latency, --subs N, --window W (default
// per transport), --repeat N (runs per row, each on a fresh server, median reported; default 3),
// --rate R, --payload BYTES, --warmup-ms, --duration-ms, --sample K (latency parsed on 1 frame in
// K), --no-pin, --retries N (run a row again when other processes used the CPU meanwhile; default
// 2), --coalesce-us US (throughput-mode read batching, default 10000).
//
// --quick is the CI guard: 200 subscribers, 1 s warm-up, 2 s measured, one run per row, hubbub-uws,
// hubbub-ws and pusher-uws in both modes, no waiting for a quiet machine and no re-runs. It prints
// the numbers and exits 1 when anything was lost (deliveries missing after the drain, publish
// errors, a row that did not run), never because of speed. --test-drop-every N makes the client
// leave every Nth delivery uncounted, to see that exit path fire.
// Not a test otherwise: it prints a table and the ratios the project targets.

import { existsSync, readFileSync } from 'node:fs';
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
  killAll,
  losses,
  parseRowArg,
  prepare,
  runRepeated,
  windowFor,
  writeBetweenMarkers,
  type ClientResult,
  type Mode,
  type Row,
  type RowOptions,
  type ServerKey,
} from './bench.js';

const DOC = path.join(ROOT, 'docs/benchmarks.md');
const DRAFT = path.join(ROOT, 'docs/benchmarks-fanout-draft.md');
const BEGIN = '<!-- bench:fanout:begin -->';
const END = '<!-- bench:fanout:end -->';

interface Options extends RowOptions {
  record: boolean;
  only: ServerKey[];
  modes: Mode[];
  /** The CI guard: short rows, exit status 1 when anything was lost. */
  quick: boolean;
}

/** --quick: small and short enough for CI (under a minute for its three servers, both modes). */
const QUICK: Partial<Options> = {
  quick: true,
  only: ['hubbub-uws', 'hubbub-ws', 'pusher-uws'],
  subs: 200,
  warmupMs: 1000,
  durationMs: 2000,
  repeat: 1,
  retries: 0,
  waitQuiet: false,
};

// ---- options ----

function parseOptions(argv: string[]): Options {
  const opts: Options = {
    ...ROW_DEFAULTS,
    record: false,
    only: SERVERS.map((s) => s.key),
    modes: ['throughput', 'latency'],
    quick: false,
    // Later options override --quick's settings wherever it stands.
    ...(argv.includes('--quick') ? QUICK : {}),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const next = (): string | undefined => argv[++i];
    if (parseRowArg(opts, arg, next)) continue;
    switch (arg) {
      case '--record':
        opts.record = true;
        break;
      case '--quick':
        break;
      case '--only': {
        const keys = (next() ?? '').split(',').filter(Boolean);
        for (const k of keys) {
          if (!SERVERS.some((s) => s.key === k)) throw new Error(`--only: unknown server ${k}`);
        }
        opts.only = keys as ServerKey[];
        break;
      }
      case '--modes': {
        const modes = (next() ?? '').split(',').filter(Boolean);
        for (const m of modes) if (m !== 'throughput' && m !== 'latency') throw new Error(`--modes: unknown mode ${m}`);
        opts.modes = modes as Mode[];
        break;
      }
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  return opts;
}

// ---- output ----

function table(rows: Row[], opts: Options): string {
  const modeLabel = (row: Row): string =>
    row.mode === 'throughput' ? `throughput (window ${windowFor(opts, row.server)})` : `latency (${opts.rate} pub/s)`;
  const lines = [
    '| server | mode | deliveries/s | p50 ms | p99 ms | server CPU % | client CPU % | note |',
    '|---|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const row of rows) {
    const r = row.result;
    lines.push(
      `| ${row.server.label} | ${modeLabel(row)} | ${r ? fmtInt(r.deliveriesPerSec) : '-'} | ${r ? fmtMs(r.p50Ms) : '-'} | ${
        r ? fmtMs(r.p99Ms) : '-'
      } | ${fmtCpu(r?.serverCpuPct, row.serverCorePct)} | ${fmtCpu(r?.clientCpuPct, row.clientCorePct)} | ${row.notes.join('; ').replaceAll('|', '\\|')} |`,
    );
  }
  return lines.join('\n');
}

function ratios(rows: Row[]): string {
  const get = (key: ServerKey, mode: Mode): ClientResult | undefined =>
    rows.find((r) => r.server.key === key && r.mode === mode)?.result;
  const line = (label: string, a: number | undefined, b: number | undefined, target: string, ok: (x: number) => boolean): string => {
    if (a === undefined || b === undefined || b <= 0) return `| ${label} | n/a | ${target} | not measured |`;
    const x = a / b;
    return `| ${label} | ${x.toFixed(2)} | ${target} | ${ok(x) ? 'met' : '**missed**'} |`;
  };
  return [
    '| ratio | value | target | |',
    '|---|---:|---:|---|',
    line(
      'hubbub-uWS / bare-uWS deliveries/s (throughput)',
      get('hubbub-uws', 'throughput')?.deliveriesPerSec,
      get('bare-uws', 'throughput')?.deliveriesPerSec,
      '>= 0.8',
      (x) => x >= 0.8,
    ),
    line(
      'hubbub-ws / bare-ws deliveries/s (throughput)',
      get('hubbub-ws', 'throughput')?.deliveriesPerSec,
      get('bare-ws', 'throughput')?.deliveriesPerSec,
      '>= 1.0',
      (x) => x >= 1.0,
    ),
    line(
      'Pusher / native protocol on uWS deliveries/s (throughput)',
      get('pusher-uws', 'throughput')?.deliveriesPerSec,
      get('hubbub-uws', 'throughput')?.deliveriesPerSec,
      '>= 0.9',
      (x) => x >= 0.9,
    ),
    line(
      'Pusher / native protocol on ws deliveries/s (throughput)',
      get('pusher-ws', 'throughput')?.deliveriesPerSec,
      get('hubbub-ws', 'throughput')?.deliveriesPerSec,
      '>= 0.9',
      (x) => x >= 0.9,
    ),
    line(
      'Pusher p99 / native p99 on uWS (latency mode)',
      get('pusher-uws', 'latency')?.p99Ms,
      get('hubbub-uws', 'latency')?.p99Ms,
      '<= 1.1',
      (x) => x <= 1.1,
    ),
    line(
      'hubbub-uWS p99 / bare-uWS p99 (latency mode)',
      get('hubbub-uws', 'latency')?.p99Ms,
      get('bare-uws', 'latency')?.p99Ms,
      '<= 1.2',
      (x) => x <= 1.2,
    ),
  ].join('\n');
}

function section(rows: Row[], opts: Options): string {
  const date = new Date().toISOString().slice(0, 10);
  const pin = opts.pin
    ? `server pinned to core ${SERVER_CPU}, load client to core ${CLIENT_CPU} (taskset)`
    : 'unpinned (--no-pin)';
  return [
    `Command: \`npm run bench:fanout\` on ${date}, ${cpuModel()}, Node ${process.version}; ${pin}.`,
    `1 publisher, ${fmtInt(opts.subs)} subscribers of one channel, ${opts.payload} B payload, ` +
      `${opts.warmupMs / 1000} s warm-up then ${opts.durationMs / 1000} s measured per run, every run on a fresh server; ` +
      `each row is the median of ${opts.repeat} run${opts.repeat > 1 ? 's' : ''} (by deliveries/s, or by p99 in latency mode).`,
    `CPU columns: the process's own CPU % (utime + stime), and in brackets its core's busy % from /proc/stat.`,
    '',
    table(rows, opts),
    '',
    ratios(rows),
  ].join('\n');
}

function record(text: string): string {
  // docs/benchmarks.md when it has the markers, else the draft (created with them when missing).
  if (existsSync(DOC) && readFileSync(DOC, 'utf8').includes(BEGIN)) {
    writeBetweenMarkers(DOC, BEGIN, END, text);
    return DOC;
  }
  writeBetweenMarkers(DRAFT, BEGIN, END, text);
  return DRAFT;
}

// ---- main ----

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  prepare(opts);
  const rows: Row[] = [];
  for (const spec of SERVERS.filter((s) => opts.only.includes(s.key))) {
    for (const mode of opts.modes) {
      const row = await runRepeated(opts, spec, mode);
      rows.push(row);
      // Each row stands alone: skip hubbub's second mode when the first found no server.
      if (row.notes.some((n) => n.startsWith('SKIPPED'))) {
        for (const m of opts.modes.slice(opts.modes.indexOf(mode) + 1)) rows.push({ server: spec, mode: m, notes: [...row.notes] });
        break;
      }
    }
  }
  const text = section(rows, opts);
  console.log(text);
  if (opts.record) console.error(`recorded in ${path.relative(ROOT, record(text))}`);
  if (opts.quick) {
    const lost = rows.flatMap((row) => losses(row).map((why) => `${row.server.label}, ${row.mode}: ${why}`));
    if (lost.length > 0) {
      console.error(`bench:fanout --quick: LOST\n  ${lost.join('\n  ')}`);
      process.exitCode = 1;
    } else {
      console.error(`bench:fanout --quick: nothing lost in ${rows.length} rows`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  killAll();
  process.exitCode = 1;
});

// `npm run bench:conns`: what idle connections cost. For bare uWS, bare ws, hubbub on uWS, hubbub
// on ws and Socket.IO, one after another: the server starts pinned to one core (`taskset -c 1`),
// load processes pinned to the other open N subscribed WebSocket connections (default 19,000, near
// the 20,000 open-files limit of the server process) from source addresses 127.0.0.2, .3, ... (one
// process each, so no load process nears its own limit), then it prints
//   - RSS per connection: (server RSS with every connection subscribed and settled - RSS before) / N,
//     RSS taken after the settle time and again after the idle window, the lower of the two; and
//     the marginal cost: connections come in two waves, and the second wave's growth per connection,
//   - idle CPU: the server's CPU time over an idle window (nothing sent by anyone) / wall time,
//   - broadcast: one publication to all N, time until the last subscriber has it.
// With --nodes K (K >= 2), it runs the multi-node scenario of cluster.ts instead: K hubbub nodes on
// the Redis engine with N connections each (see there).
// Options: --conns N (default 19000; per node with --nodes), --workers W (default 4; per node with
// --nodes), --only bare-uws,bare-uws-pings,bare-ws,hubbub-uws,hubbub-uws-lean,hubbub-ws,socketio,
// --idle-ms (default 10000), --settle-ms (default 3000), --no-pin, --nodes K, --transport uws|ws
// (hubbub's, with --nodes; default uws), --json (progress on stderr, one JSON document on stdout
// instead of the table), --hub PATH (the cli.js the hubbub rows run, default dist/cli.js: before/after comparisons).
// Not a test: it prints a table. Bare servers send no pings (idleTimeout 0; bare-uws-pings has
// hubbub's keepalive); hubbub pings every
// 25 s (server.pingIntervalMs) and Socket.IO every 25 s (pingInterval, answered by the load side
// with `3`), which their idle CPU includes when the window spans a ping round.

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { canPin } from '../lib/proc.js';
import { runCluster } from './cluster.js';
import { cpuSeconds, freePort, type Proto, ROOT, rssKb, SERVER_CPU, sleep, spawnServer, startWorker, stop, sumReady, timeBroadcast, waitHealthy, type Worker } from './procs.js';

const HUB_CONFIG = path.join(ROOT, 'load/bin/hubbub-conns.json');
const API_KEY = 'bench-conns-api-key-0123456789';
const SIO_PATH = '/socket.io/?EIO=4&transport=websocket';

/** The hub the hubbub rows run; `--hub <path to cli.js>` compares another build (e.g. a checkout of an older commit). */
let hubCli = 'dist/cli.js';

type Key = 'bare-uws' | 'bare-uws-pings' | 'bare-ws' | 'hubbub-uws' | 'hubbub-uws-lean' | 'hubbub-ws' | 'socketio';
interface Spec {
  key: Key;
  label: string;
  path: string;
  proto: Proto;
  argv(port: number): string[];
  env(port: number): Record<string, string>;
}

const hubEnv = (transport: string) => (port: number) => ({
  HUBBUB_PORT: String(port),
  HUBBUB_TRANSPORT: transport,
  HUBBUB_LOG_LEVEL: 'warn',
  HUBBUB_API_KEYS: API_KEY,
});

const SPECS: Spec[] = [
  { key: 'bare-uws', label: 'bare uWS', path: '/', proto: 'bare', argv: (p) => ['node', '--import', 'tsx', 'load/fanout/bare-uws.ts', String(p)], env: () => ({}) },
  // The same with hubbub's keepalive (uWS pings a socket idle for ~46 s, closes it at 50 s): what
  // liveness costs on its own, since a bare server that never pings cannot find dead peers.
  { key: 'bare-uws-pings', label: 'bare uWS with pings', path: '/', proto: 'bare', argv: (p) => ['node', '--import', 'tsx', 'load/fanout/bare-uws.ts', String(p), '--pings'], env: () => ({}) },
  { key: 'bare-ws', label: 'bare ws', path: '/', proto: 'bare', argv: (p) => ['node', '--import', 'tsx', 'load/fanout/bare-ws.ts', String(p)], env: () => ({}) },
  { key: 'hubbub-uws', label: 'hubbub on uWS', path: '/ws', proto: 'hubbub', argv: () => ['node', hubCli, '--config', HUB_CONFIG], env: hubEnv('uws') },
  // The same hub with V8's young generation capped at 2 MB per semi-space (docs/operations.md,
  // "Memory"): otherwise it grows to 16 MB each under a connection storm and keeps that RSS.
  {
    key: 'hubbub-uws-lean',
    label: 'hubbub on uWS, --max-semi-space-size=2',
    path: '/ws',
    proto: 'hubbub',
    argv: () => ['node', '--max-semi-space-size=2', hubCli, '--config', HUB_CONFIG],
    env: hubEnv('uws'),
  },
  { key: 'hubbub-ws', label: 'hubbub on ws', path: '/ws', proto: 'hubbub', argv: () => ['node', hubCli, '--config', HUB_CONFIG], env: hubEnv('ws') },
  { key: 'socketio', label: 'Socket.IO', path: SIO_PATH, proto: 'socketio', argv: (p) => ['node', '--import', 'tsx', 'load/fanout/bare-socketio.ts', String(p)], env: () => ({}) },
];

export interface Options {
  conns: number;
  workers: number;
  only: Key[];
  idleMs: number;
  settleMs: number;
  pin: boolean;
  nodes: number;
  transport: 'uws' | 'ws';
  json: boolean;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = {
    conns: 19_000, workers: 4, only: SPECS.map((s) => s.key), idleMs: 10_000, settleMs: 3000, pin: true, nodes: 1, transport: 'uws', json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): number => {
      const n = Number(argv[++i]);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${arg}: expected a positive number`);
      return n;
    };
    if (arg === '--conns') opts.conns = value();
    else if (arg === '--workers') opts.workers = value();
    else if (arg === '--idle-ms') opts.idleMs = value();
    else if (arg === '--settle-ms') opts.settleMs = value();
    else if (arg === '--nodes') opts.nodes = Math.floor(value());
    else if (arg === '--no-pin') opts.pin = false;
    else if (arg === '--hub') hubCli = path.resolve(argv[++i] ?? '');
    else if (arg === '--json') opts.json = true;
    else if (arg === '--transport') {
      const t = argv[++i];
      if (t !== 'uws' && t !== 'ws') throw new Error('--transport: expected uws or ws');
      opts.transport = t;
    } else if (arg === '--only') {
      const keys = (argv[++i] ?? '').split(',') as Key[];
      for (const k of keys) if (!SPECS.some((s) => s.key === k)) throw new Error(`--only: unknown server ${k}`);
      opts.only = keys;
    } else throw new Error(`unknown option ${arg}`);
  }
  return opts;
}

interface Row {
  key: Key;
  label: string;
  opened: number;
  failed: number;
  failures: Record<string, number>;
  kbPerConn: number;
  /** RSS growth per connection of the second half (see runRow). */
  marginalKbPerConn: number;
  idleCpuPct: number;
  /** ms from the publish call until the last subscriber had it; undefined when none arrived. */
  lastMs: number | undefined;
  received: number;
  connectMs: number;
}

/** A Socket.IO client over `ws` that has done its engine.io open and Socket.IO connect. */
async function socketIoPublisher(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${SIO_PATH}&pub=1`);
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('0')) ws.send('40');
      else if (text.startsWith('40')) resolve();
      else if (text === '2') ws.send('3');
    });
  });
  return ws;
}

/** Readies one publisher for the row's server; the returned function publishes once. */
async function publisher(spec: Spec, port: number): Promise<{ publish(): Promise<void>; close(): void }> {
  if (spec.proto === 'hubbub') {
    return {
      publish: async () => {
        const r = await fetch(`http://127.0.0.1:${port}/api/publish`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ channel: 'bench:conns', data: { bench: 'broadcast' } }),
        });
        if (!r.ok) throw new Error(`publish: ${r.status} ${await r.text()}`);
      },
      close: () => undefined,
    };
  }
  if (spec.proto === 'socketio') {
    const ws = await socketIoPublisher(port);
    return { publish: async () => ws.send('42["p",{"bench":"broadcast"}]'), close: () => ws.terminate() };
  }
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?pub=1`);
  ws.on('error', () => undefined);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return { publish: async () => ws.send('{"bench":"broadcast"}'), close: () => ws.terminate() };
}

async function runRow(spec: Spec, opts: Options): Promise<Row> {
  const port = await freePort();
  const server = spawnServer(spec.argv(port), spec.env(port), opts.pin);
  const pid = server.pid as number;
  const workers: Worker[] = [];
  let pub: { close(): void } | undefined;
  try {
    await waitHealthy(port, server);
    // Start-up (tsx compiling a bare server, hubbub loading its modules) leaves garbage V8 frees later.
    await sleep(3000);
    const rssBefore = rssKb(pid);
    const started = Date.now();
    // Two waves (the first half of the load processes, then the rest), RSS sampled after each: the
    // second wave's growth per connection is the marginal cost, without what is paid once whatever
    // the count (V8's young generation grows to its maximum, ~32 MB, under a connection storm).
    const per = Math.ceil(opts.conns / opts.workers);
    const firstWave = Math.max(1, Math.floor(opts.workers / 2));
    const wave = async (from: number, to: number): Promise<ReturnType<typeof sumReady>> => {
      const started: Worker[] = [];
      for (let i = from; i < to; i++) {
        const count = Math.min(per, opts.conns - i * per);
        if (count > 0) started.push(startWorker(port, spec.path, spec.proto, count, `127.0.0.${2 + i}`, opts.pin));
      }
      workers.push(...started);
      return sumReady(await Promise.all(started.map((w) => w.ready)));
    };
    const first = await wave(0, firstWave);
    await sleep(opts.settleMs);
    const halfRss = rssKb(pid);
    const second = await wave(firstWave, opts.workers);
    const opened = first.opened + second.opened;
    const failed = first.failed + second.failed;
    const failures = { ...first.failures };
    for (const [why, n] of Object.entries(second.failures)) failures[why] = (failures[why] ?? 0) + n;
    const connectMs = Date.now() - started - opts.settleMs;
    await sleep(opts.settleMs);
    const settledRss = rssKb(pid);
    const cpu0 = cpuSeconds(pid);
    const t0 = Date.now();
    await sleep(opts.idleMs);
    const idleCpuPct = ((cpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000)) * 100;
    // V8's memory reducer collects what connecting left behind once the server goes quiet: the
    // lower of the two samples is what the connections hold.
    const heldRss = Math.min(settledRss, rssKb(pid));
    const kbPerConn = (heldRss - rssBefore) / Math.max(1, opened);
    const marginalKbPerConn = second.opened > 0 ? (heldRss - halfRss) / second.opened : Number.NaN;

    const p = await publisher(spec, port);
    pub = p;
    const { received, lastMs } = await timeBroadcast(workers, opened, p.publish);
    return { key: spec.key, label: spec.label, opened, failed, failures, kbPerConn, marginalKbPerConn, idleCpuPct, lastMs, received, connectMs };
  } finally {
    pub?.close();
    await Promise.all(workers.map((w) => stop(w.child)));
    await stop(server);
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const log = opts.json ? console.error : console.log;
  if (opts.pin && !canPin(SERVER_CPU)) {
    console.error(`taskset -c ${SERVER_CPU} is not usable here (needs 2 cores); running unpinned`);
    opts.pin = false;
  }
  if (opts.nodes > 1) {
    const ok = await runCluster({ ...opts, apiKey: API_KEY, log });
    process.exitCode = ok ? 0 : 1;
    return;
  }
  mkdirSync(path.dirname(HUB_CONFIG), { recursive: true });
  writeFileSync(
    HUB_CONFIG,
    JSON.stringify({
      server: { host: '127.0.0.1', maxConnections: 1_000_000, maxConnectionsPerIp: 1_000_000 },
      namespaces: { bench: {} },
    }),
  );
  log(`bench:conns: ${opts.conns} idle subscribed connections over ${opts.workers} source addresses; ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`);
  const rows: Row[] = [];
  for (const key of opts.only) {
    const spec = SPECS.find((s) => s.key === key) as Spec;
    const row = await runRow(spec, opts);
    rows.push(row);
    log(
      `${spec.label}: ${row.opened} subscribed (${row.failed} failed${row.failed > 0 ? `: ${JSON.stringify(row.failures)}` : ''}) in ${row.connectMs} ms; ${row.kbPerConn.toFixed(2)} KB/conn (marginal ${row.marginalKbPerConn.toFixed(2)}); idle CPU ${row.idleCpuPct.toFixed(2)}%; ` +
        `broadcast to ${row.received}/${row.opened}: last after ${row.lastMs === undefined ? '-' : row.lastMs.toFixed(0)} ms`,
    );
  }
  if (opts.json) {
    console.log(JSON.stringify({ bench: 'conns', conns: opts.conns, workers: opts.workers, node: process.version, cpu: os.cpus()[0]?.model, rows }, null, 2));
    return;
  }
  const base = rows.find((r) => r.key === 'bare-uws');
  console.log('\n| server | connections | RSS per connection | marginal (second half) | idle CPU | broadcast: last subscriber after |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const ratio = base !== undefined && r !== base ? ` (${(r.kbPerConn / base.kbPerConn).toFixed(1)}x bare uWS)` : '';
    console.log(
      `| ${r.label} | ${r.opened.toLocaleString('en')} | ${r.kbPerConn.toFixed(2)} KB${ratio} | ${r.marginalKbPerConn.toFixed(2)} KB | ${r.idleCpuPct.toFixed(2)}% | ${r.lastMs === undefined ? 'none arrived' : `${r.lastMs.toFixed(0)} ms`}${r.received < r.opened ? ` (${r.received} got it)` : ''} |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

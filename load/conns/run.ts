// `npm run bench:conns`: what idle connections cost. For bare uWS, bare ws, hubbub on uWS and
// hubbub on ws, one after another: the server starts pinned to one core (`taskset -c 1`), load
// processes pinned to the other open N subscribed WebSocket connections (default 19,000, near the
// 20,000 open-files limit of the server process) from source addresses 127.0.0.2, .3, ... (one
// process each, so no load process nears its own limit), then it prints
//   - RSS per connection: (server RSS with every connection subscribed and settled - RSS before) / N,
//     RSS taken after the settle time and again after the idle window, the lower of the two,
//   - idle CPU: the server's CPU time over an idle window (nothing sent by anyone) / wall time,
//   - broadcast: one publication to all N, time until the last subscriber has it.
// Options: --conns N (default 19000), --workers W (default 4), --only bare-uws,bare-ws,hubbub-uws,hubbub-ws,
// --idle-ms (default 10000), --settle-ms (default 3000), --no-pin.
// Not a test: it prints a table. bare servers send no pings (idleTimeout 0); hubbub pings every
// 25 s (server.pingIntervalMs), which its idle CPU includes.

import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { canPin, CLK_TCK, cpuTicks, freePort, now, rssKb, sleep, waitHealthy } from '../lib/proc.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HUB_CONFIG = path.join(ROOT, 'load/bin/hubbub-conns.json');
const API_KEY = 'bench-conns-api-key-0123456789';
const SERVER_CPU = 1;
const LOAD_CPU = 0;

type Key = 'bare-uws' | 'bare-ws' | 'hubbub-uws' | 'hubbub-ws';
interface Spec {
  key: Key;
  label: string;
  path: string;
  proto: 'bare' | 'hubbub';
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
  { key: 'bare-ws', label: 'bare ws', path: '/', proto: 'bare', argv: (p) => ['node', '--import', 'tsx', 'load/fanout/bare-ws.ts', String(p)], env: () => ({}) },
  { key: 'hubbub-uws', label: 'hubbub on uWS', path: '/ws', proto: 'hubbub', argv: () => ['node', 'dist/cli.js', '--config', HUB_CONFIG], env: hubEnv('uws') },
  { key: 'hubbub-ws', label: 'hubbub on ws', path: '/ws', proto: 'hubbub', argv: () => ['node', 'dist/cli.js', '--config', HUB_CONFIG], env: hubEnv('ws') },
];

interface Options {
  conns: number;
  workers: number;
  only: Key[];
  idleMs: number;
  settleMs: number;
  pin: boolean;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = { conns: 19_000, workers: 4, only: SPECS.map((s) => s.key), idleMs: 10_000, settleMs: 3000, pin: true };
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
    else if (arg === '--no-pin') opts.pin = false;
    else if (arg === '--only') {
      const keys = (argv[++i] ?? '').split(',') as Key[];
      for (const k of keys) if (!SPECS.some((s) => s.key === k)) throw new Error(`--only: unknown server ${k}`);
      opts.only = keys;
    } else throw new Error(`unknown option ${arg}`);
  }
  return opts;
}

interface Worker {
  child: ChildProcess;
  next(type: string): Promise<Record<string, unknown>>;
}

function startWorker(port: number, spec: Spec, count: number, address: string, pin: boolean): Worker {
  const child = fork(path.join(ROOT, 'load/conns/worker.ts'), [String(port), spec.path, String(count), address, spec.proto], {
    // Pinned: `taskset -c 0 node --import tsx worker.ts ...` (the IPC channel survives the exec).
    execPath: pin ? 'taskset' : process.execPath,
    execArgv: pin ? ['-c', String(LOAD_CPU), process.execPath, '--import', 'tsx'] : ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<string, (m: Record<string, unknown>) => void>();
  child.on('message', (m: Record<string, unknown>) => {
    const resolve = waiting.get(String(m.type));
    waiting.delete(String(m.type));
    resolve?.(m);
  });
  return {
    child,
    next: (type) => new Promise((resolve) => waiting.set(type, resolve)),
  };
}

interface Row {
  spec: Spec;
  opened: number;
  failed: number;
  failures: Record<string, number>;
  kbPerConn: number;
  idleCpuPct: number;
  lastMs: number | undefined;
  received: number;
  connectMs: number;
}

async function publishOnce(spec: Spec, port: number): Promise<() => Promise<void>> {
  if (spec.proto === 'hubbub') {
    return async () => {
      const r = await fetch(`http://127.0.0.1:${port}/api/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'bench:conns', data: { bench: 'broadcast' } }),
      });
      if (!r.ok) throw new Error(`publish: ${r.status} ${await r.text()}`);
    };
  }
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?pub=1`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return async () => {
    ws.send('{"bench":"broadcast"}');
  };
}

async function runRow(spec: Spec, opts: Options): Promise<Row> {
  const port = await freePort();
  const argv = opts.pin ? ['taskset', '-c', String(SERVER_CPU), ...spec.argv(port)] : spec.argv(port);
  const server = spawn(argv[0] as string, argv.slice(1), { cwd: ROOT, env: { ...process.env, ...spec.env(port) }, stdio: ['ignore', 'inherit', 'inherit'] });
  const pid = server.pid as number;
  const workers: Worker[] = [];
  try {
    await waitHealthy(port, server);
    await sleep(1000);
    const rssBefore = rssKb(pid);
    const started = Date.now();
    const per = Math.ceil(opts.conns / opts.workers);
    for (let i = 0; i < opts.workers; i++) {
      const count = Math.min(per, opts.conns - i * per);
      if (count > 0) workers.push(startWorker(port, spec, count, `127.0.0.${2 + i}`, opts.pin));
    }
    const ready = await Promise.all(workers.map((w) => w.next('ready')));
    const connectMs = Date.now() - started;
    const opened = ready.reduce((n, m) => n + Number(m.opened), 0);
    const failed = ready.reduce((n, m) => n + Number(m.failed), 0);
    const failures: Record<string, number> = {};
    for (const m of ready) for (const [why, n] of Object.entries(m.failures as Record<string, number>)) failures[why] = (failures[why] ?? 0) + n;
    await sleep(opts.settleMs);
    const settledRss = rssKb(pid);
    const cpu0 = cpuTicks(pid);
    const t0 = Date.now();
    await sleep(opts.idleMs);
    const idleCpuPct = ((cpuTicks(pid) - cpu0) / CLK_TCK / ((Date.now() - t0) / 1000)) * 100;
    // V8's memory reducer collects what connecting left behind once the hub goes quiet: the lower
    // of the two samples is what the connections hold.
    const kbPerConn = (Math.min(settledRss, rssKb(pid)) - rssBefore) / Math.max(1, opened);

    const publish = await publishOnce(spec, port);
    await Promise.all(workers.map((w) => { const armed = w.next('armed'); w.child.send({ type: 'arm' }); return armed; }));
    const sentAt = now();
    await publish();
    let times: number[] = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      await sleep(100);
      const reports = await Promise.all(workers.map((w) => { const r = w.next('received'); w.child.send({ type: 'report' }); return r; }));
      times = reports.flatMap((r) => r.times as number[]);
      if (times.length >= opened) break;
    }
    const lastMs = times.length > 0 ? Math.max(...times) - sentAt : undefined;
    return { spec, opened, failed, failures, kbPerConn, idleCpuPct, lastMs, received: times.length, connectMs };
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.pin && !canPin(SERVER_CPU)) {
    console.error(`taskset -c ${SERVER_CPU} is not usable here (needs 2 cores); running unpinned`);
    opts.pin = false;
  }
  mkdirSync(path.dirname(HUB_CONFIG), { recursive: true });
  writeFileSync(
    HUB_CONFIG,
    JSON.stringify({
      server: { host: '127.0.0.1', maxConnections: 1_000_000, maxConnectionsPerIp: 1_000_000 },
      namespaces: { bench: {} },
    }),
  );
  console.log(`bench:conns: ${opts.conns} idle subscribed connections over ${opts.workers} source addresses; ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`);
  const rows: Row[] = [];
  for (const key of opts.only) {
    const spec = SPECS.find((s) => s.key === key) as Spec;
    process.stdout.write(`${spec.label}: `);
    const row = await runRow(spec, opts);
    rows.push(row);
    console.log(
      `${row.opened} subscribed (${row.failed} failed${row.failed > 0 ? `: ${JSON.stringify(row.failures)}` : ''}) in ${row.connectMs} ms; ${row.kbPerConn.toFixed(2)} KB/conn; idle CPU ${row.idleCpuPct.toFixed(2)}%; ` +
        `broadcast to ${row.received}/${row.opened}: last after ${row.lastMs === undefined ? '-' : row.lastMs.toFixed(0)} ms`,
    );
  }
  const base = rows.find((r) => r.spec.key === 'bare-uws');
  console.log('\n| server | connections | RSS per connection | idle CPU | broadcast: last subscriber after |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) {
    const ratio = base !== undefined && r !== base ? ` (${(r.kbPerConn / base.kbPerConn).toFixed(1)}x bare uWS)` : '';
    console.log(
      `| ${r.spec.label} | ${r.opened.toLocaleString('en')} | ${r.kbPerConn.toFixed(2)} KB${ratio} | ${r.idleCpuPct.toFixed(2)}% | ${r.lastMs === undefined ? 'none arrived' : `${r.lastMs.toFixed(0)} ms`}${r.received < r.opened ? ` (${r.received} got it)` : ''} |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

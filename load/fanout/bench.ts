// The fan-out benchmark's machinery, shared by `npm run bench:fanout` (load/fanout/run.ts) and
// `npm run bench:compare` (load/compare/run.ts): the servers under test, starting one pinned to a
// core, running the C load client (load/fanout/client.c) against it, repeating a row and taking the
// median, and the notes that say when a row cannot be trusted (CLIENT SATURATED, NOISY, missing).
// Each row starts its server pinned to core 1 (`taskset -c 1`) and the client on core 0.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canPin } from '../lib/proc.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLIENT_SRC = path.join(ROOT, 'load/fanout/client.c');
const CLIENT_BIN = path.join(ROOT, 'load/bin/fanout-client');
const HUB_CONFIG = path.join(ROOT, 'load/bin/hubbub-fanout.json');
/**
 * hubbub's configuration for the fan-out rows (`--config`; port and transport come from the env):
 * a `bench` namespace clients may publish to, without history or presence, so the rows compare
 * fan-out with fan-out; per-connection command and byte limits out of the way (the publisher
 * sends thousands of commands a second); all 1,001 connections come from 127.0.0.1.
 */
const HUB_CONFIG_JSON = {
  server: { host: '127.0.0.1', maxConnectionsPerIp: 100_000 },
  limits: { commands: { rate: 1e9, burst: 1e9 }, bytes: { rate: 1e12, burst: 1e12 } },
  namespaces: { bench: { clientPublish: true } },
  // The Pusher rows: subscribers on /app/bench-key, channel `bench` (hub channel pusher_bench:bench).
  pusher: { apps: [{ id: 'bench', key: 'bench-key', secret: 'bench-secret-0123456789' }] },
};
/** What the Pusher rows' client is told: subscribers' endpoint and channel, the publisher's hub channel. */
const PUSHER_CLIENT_ARGS = ['--sub-path', '/app/bench-key?protocol=7', '--sub-channel', 'bench', '--channel', 'pusher_bench:bench'];
export const SERVER_CPU = 1;
export const CLIENT_CPU = 0;
const HEALTH_TIMEOUT_MS = 10_000;
/** The client counts as saturated above this share of its core. */
const SATURATED_PCT = 90;
/** Other processes using more CPU than this during a row make it NOISY (and it is run again). */
const FOREIGN_PCT = 10;
/** Before a row, wait for every core to be at most this busy, for at most QUIET_WAIT_MS. */
const QUIET_PCT = 10;
const QUIET_WAIT_MS = 60_000;

/**
 * Throughput-mode windows. uWS corks each subscriber's frames per event-loop turn, so its rate
 * grows with the publishes it finds per turn: below ~200 in flight it is latency-bound (10 gives
 * ~0.6 M deliveries/s with the core half idle). ws writes every frame on its own and saturates
 * its core with 10; a bigger window only adds queueing (500 would mean seconds of it).
 */
export const UWS_WINDOW = 500;
export const WS_WINDOW = 20;
/**
 * Throughput mode: after a wake-up that found few sockets ready, the client sleeps this long so
 * frames pile up and each read takes several. Halves the client's CPU at the same server rate
 * (ws: 82% -> 42% at ~190k/s; uWS: 94% -> 64% at ~6.8M/s); latency mode never sleeps.
 */
const THROUGHPUT_COALESCE_US = 10_000;

export type Mode = 'throughput' | 'latency';
export type ServerKey = 'bare-uws' | 'bare-ws' | 'hubbub-uws' | 'hubbub-ws' | 'pusher-uws' | 'pusher-ws' | 'socketio';

/** How to run a row (one server, one mode): what the load client is asked for, and how often. */
export interface RowOptions {
  subs: number;
  /** Overrides every server's own window when set. */
  window: number | undefined;
  repeat: number;
  rate: number;
  payload: number;
  warmupMs: number;
  durationMs: number;
  sample: number;
  pin: boolean;
  retries: number;
  /** Overrides THROUGHPUT_COALESCE_US when set. */
  coalesceUs: number | undefined;
  /** Wait for a quiet machine before each run (off for the short CI run). */
  waitQuiet: boolean;
  /** Tests only: the client leaves every Nth delivery uncounted, so the row shows deliveries missing. */
  testDropEvery: number | undefined;
}

/** Defaults shared by the runners: 100 B payload, 3 s warm-up, 5 s measured, median of 3 runs. */
export const ROW_DEFAULTS: RowOptions = {
  subs: 1000,
  window: undefined,
  repeat: 3,
  rate: 100,
  payload: 100,
  warmupMs: 3000,
  durationMs: 5000,
  sample: 1,
  pin: true,
  retries: 2,
  coalesceUs: undefined,
  waitQuiet: true,
  testDropEvery: undefined,
};

export interface ServerSpec {
  key: ServerKey;
  label: string;
  proto: 'bare' | 'hubbub' | 'pusher' | 'socketio';
  /** More arguments for the load client. */
  clientArgs?: string[];
  /** Throughput-mode window (publishes in flight): enough to keep this transport's core busy. */
  window: number;
  wsPath: string;
  pubQuery: string;
  argv(port: number): string[];
  env(port: number): Record<string, string>;
  /** Shown when the server does not come up, e.g. hubbub before its WebSocket server exists. */
  skipHint: string;
}

export interface CoreStat {
  cpu: number;
  busyPct: number;
  stealPct: number;
}

export interface ClientResult {
  ok: true;
  deliveries: number;
  deliveriesPerSec: number;
  publishes: number;
  publishesPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  latencySamples: number;
  unparsed: number;
  clientCpuPct: number;
  serverCpuPct: number | null;
  cores: CoreStat[];
  foreignCpuPct: number;
  foreignTop: string;
  minPerSub: number;
  maxPerSub: number;
  publishesTotal: number;
  publishErrors: number;
  missing: number;
  firstPublishError: string | null;
  seconds: number;
}

export interface Row {
  server: ServerSpec;
  mode: Mode;
  result?: ClientResult;
  /** Busy % of the server's and the client's core (everything that ran there), when pinned. */
  serverCorePct?: number | undefined;
  clientCorePct?: number | undefined;
  notes: string[];
}

export const SERVERS: ServerSpec[] = [
  {
    key: 'bare-uws',
    label: 'bare uWS',
    proto: 'bare',
    window: UWS_WINDOW,
    wsPath: '/',
    pubQuery: 'pub=1',
    argv: (port) => ['node', '--import', 'tsx', 'load/fanout/bare-uws.ts', String(port)],
    env: () => ({}),
    skipHint: '',
  },
  {
    key: 'bare-ws',
    label: 'bare ws',
    proto: 'bare',
    window: WS_WINDOW,
    wsPath: '/',
    pubQuery: 'pub=1',
    argv: (port) => ['node', '--import', 'tsx', 'load/fanout/bare-ws.ts', String(port)],
    env: () => ({}),
    skipHint: '',
  },
  {
    key: 'hubbub-uws',
    label: 'hubbub on uWS',
    proto: 'hubbub',
    window: UWS_WINDOW,
    wsPath: '/ws',
    pubQuery: '',
    argv: () => ['node', 'dist/cli.js', '--config', HUB_CONFIG],
    env: (port) => ({ HUBBUB_PORT: String(port), HUBBUB_TRANSPORT: 'uws', HUBBUB_LOG_LEVEL: 'warn' }),
    skipHint: 'is dist/ built from a hub with the WebSocket server (`npm run build`)?',
  },
  {
    key: 'hubbub-ws',
    label: 'hubbub on ws',
    proto: 'hubbub',
    window: WS_WINDOW,
    wsPath: '/ws',
    pubQuery: '',
    argv: () => ['node', 'dist/cli.js', '--config', HUB_CONFIG],
    env: (port) => ({ HUBBUB_PORT: String(port), HUBBUB_TRANSPORT: 'ws', HUBBUB_LOG_LEVEL: 'warn' }),
    skipHint: 'is dist/ built from a hub with the WebSocket server (`npm run build`)?',
  },
  {
    key: 'pusher-uws',
    label: 'hubbub Pusher on uWS',
    proto: 'pusher',
    clientArgs: PUSHER_CLIENT_ARGS,
    window: UWS_WINDOW,
    wsPath: '/ws',
    pubQuery: '',
    argv: () => ['node', 'dist/cli.js', '--config', HUB_CONFIG],
    env: (port) => ({ HUBBUB_PORT: String(port), HUBBUB_TRANSPORT: 'uws', HUBBUB_LOG_LEVEL: 'warn' }),
    skipHint: 'is dist/ built from a hub with the Pusher endpoint (`npm run build`)?',
  },
  {
    key: 'pusher-ws',
    label: 'hubbub Pusher on ws',
    proto: 'pusher',
    clientArgs: PUSHER_CLIENT_ARGS,
    window: WS_WINDOW,
    wsPath: '/ws',
    pubQuery: '',
    argv: () => ['node', 'dist/cli.js', '--config', HUB_CONFIG],
    env: (port) => ({ HUBBUB_PORT: String(port), HUBBUB_TRANSPORT: 'ws', HUBBUB_LOG_LEVEL: 'warn' }),
    skipHint: 'is dist/ built from a hub with the Pusher endpoint (`npm run build`)?',
  },
  {
    // Socket.IO rooms (load/fanout/bare-socketio.ts), WebSocket transport only. Its server, like
    // ws, writes every frame from JS, so it gets ws's window.
    key: 'socketio',
    label: 'Socket.IO rooms',
    proto: 'socketio',
    window: WS_WINDOW,
    wsPath: '/socket.io/?EIO=4&transport=websocket',
    pubQuery: 'pub=1',
    argv: (port) => ['node', '--import', 'tsx', 'load/fanout/bare-socketio.ts', String(port)],
    env: () => ({}),
    skipHint: '',
  },
];

/** An integer option value in [min, max], or an error naming the option. */
export function intArg(name: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} wants an integer in [${min}, ${max}]`);
  return n;
}

/**
 * Reads one of the row options both runners take (--subs, --window, --repeat, --rate, --payload,
 * --warmup-ms, --duration-ms, --sample, --retries, --coalesce-us, --no-pin, --test-drop-every)
 * into `opts`; `next` yields the option's value. Returns false for an option it does not know.
 */
export function parseRowArg(opts: RowOptions, arg: string, next: () => string | undefined): boolean {
  switch (arg) {
    case '--no-pin':
      opts.pin = false;
      return true;
    case '--subs':
      opts.subs = intArg(arg, next(), 1, 15_000);
      return true;
    case '--window':
      opts.window = intArg(arg, next(), 1, 100_000);
      return true;
    case '--repeat':
      opts.repeat = intArg(arg, next(), 1, 20);
      return true;
    case '--rate':
      opts.rate = intArg(arg, next(), 1, 1_000_000);
      return true;
    case '--payload':
      opts.payload = intArg(arg, next(), 20, 250_000);
      return true;
    case '--warmup-ms':
      opts.warmupMs = intArg(arg, next(), 0, 60_000);
      return true;
    case '--duration-ms':
      opts.durationMs = intArg(arg, next(), 100, 120_000);
      return true;
    case '--sample':
      opts.sample = intArg(arg, next(), 1, 1_000_000);
      return true;
    case '--retries':
      opts.retries = intArg(arg, next(), 0, 10);
      return true;
    case '--coalesce-us':
      opts.coalesceUs = intArg(arg, next(), 0, 100_000);
      return true;
    case '--test-drop-every':
      opts.testDropEvery = intArg(arg, next(), 1, 1_000_000_000);
      return true;
    default:
      return false;
  }
}

/** Why a row counts as lost for the CI guard: it did not run, or messages went missing. */
export function losses(row: Row): string[] {
  const r = row.result;
  if (!r) return [`did not run (${row.notes.join('; ') || 'no result'})`];
  const out: string[] = [];
  if (r.missing > 0) out.push(`${r.missing} deliveries missing`);
  if (r.publishErrors > 0) out.push(`${r.publishErrors} publish errors (first: ${r.firstPublishError ?? '?'})`);
  return out;
}

export function windowFor(opts: RowOptions, spec: ServerSpec): number {
  return opts.window ?? spec.window;
}

// ---- child processes ----

const children = new Set<ChildProcess>();

/** Signals a child's whole process group (servers run under tsx, which may start helpers). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

export function killAll(): void {
  for (const child of children) signalGroup(child, 'SIGKILL');
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

function startChild(argv: string[], env: Record<string, string>, cpu: number | undefined): ChildProcess {
  const [cmd, ...args] = cpu === undefined ? argv : ['taskset', '-c', String(cpu), ...argv];
  const child = spawn(cmd as string, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so the whole group can be killed
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopChild(child: ChildProcess): Promise<void> {
  signalGroup(child, 'SIGTERM');
  const done = await Promise.race([exited(child).then(() => true), timeout(3000).then(() => false)]);
  if (!done) {
    signalGroup(child, 'SIGKILL');
    await exited(child);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A sleep that does not keep the process alive: the losing side of a race must not delay exit. */
function timeout(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Keeps the last `max` characters a stream wrote, for error messages. */
function tail(stream: NodeJS.ReadableStream | null, max = 4000): () => string {
  let text = '';
  stream?.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-max);
  });
  return () => text.trim();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function healthOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode !== undefined && res.statusCode < 500);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Polls GET /health until it answers, the child exits, or HEALTH_TIMEOUT_MS passes. */
async function waitHealthy(port: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (await healthOnce(port)) return true;
    await sleep(100);
  }
  return false;
}

// ---- a quiet machine ----

/** Per-core [busy, total] jiffies from /proc/stat. */
function coreJiffies(): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = (m[2] ?? '').trim().split(/\s+/).map(Number).slice(0, 8);
    const total = v.reduce((x, y) => x + y, 0);
    out.set(Number(m[1]), [total - (v[3] ?? 0) - (v[4] ?? 0), total]);
  }
  return out;
}

/** The busiest core's busy % over `ms`. */
async function busiestCorePct(ms: number): Promise<number> {
  const a = coreJiffies();
  await sleep(ms);
  const b = coreJiffies();
  let max = 0;
  for (const [cpu, [busy, total]] of b) {
    const [busy0, total0] = a.get(cpu) ?? [0, 0];
    if (total > total0) max = Math.max(max, ((busy - busy0) / (total - total0)) * 100);
  }
  return max;
}

/**
 * Waits (at most QUIET_WAIT_MS) until no core is more than QUIET_PCT busy, so a row does not share
 * its cores with a test run or a build. Returns the last busy % seen.
 */
async function waitQuiet(): Promise<number> {
  const deadline = Date.now() + QUIET_WAIT_MS;
  let pct = await busiestCorePct(500);
  let said = false;
  while (pct > QUIET_PCT && Date.now() < deadline) {
    if (!said) console.error(`  waiting for a quiet machine (a core is ${pct.toFixed(0)}% busy)...`);
    said = true;
    pct = await busiestCorePct(1000);
  }
  return pct;
}

// ---- one row ----

function isClientResult(v: unknown): v is ClientResult {
  return typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === true;
}

async function runClient(opts: RowOptions, spec: ServerSpec, mode: Mode, port: number, serverPid: number): Promise<ClientResult> {
  const args = [
    CLIENT_BIN,
    ['--port', String(port)],
    ['--path', spec.wsPath],
    ['--proto', spec.proto],
    ['--mode', mode],
    ['--subs', String(opts.subs)],
    ['--window', String(windowFor(opts, spec))],
    ['--rate', String(opts.rate)],
    ['--payload', String(opts.payload)],
    ['--sample', String(opts.sample)],
    ['--warmup-ms', String(opts.warmupMs)],
    ['--duration-ms', String(opts.durationMs)],
    ['--server-pid', String(serverPid)],
    ['--coalesce-us', String(mode === 'throughput' ? (opts.coalesceUs ?? THROUGHPUT_COALESCE_US) : 0)],
    spec.pubQuery ? ['--pub-query', spec.pubQuery] : [],
    spec.clientArgs ?? [],
    opts.testDropEvery ? ['--test-drop-every', String(opts.testDropEvery)] : [],
  ].flat();
  const client = startChild(args, {}, opts.pin ? CLIENT_CPU : undefined);
  const out = tail(client.stdout, 20_000);
  const err = tail(client.stderr);
  const limitMs = 60_000 + opts.warmupMs + opts.durationMs + 3000 + 15_000;
  const finished = await Promise.race([exited(client).then(() => true), timeout(limitMs).then(() => false)]);
  if (!finished) {
    await stopChild(client);
    throw new Error(`load client did not finish within ${limitMs} ms`);
  }
  const line = out().split('\n').filter(Boolean).pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(`load client printed no result (exit ${String(client.exitCode)}): ${err() || line}`);
  }
  if (!isClientResult(parsed)) {
    const msg = (parsed as { error?: unknown }).error;
    throw new Error(`load client failed: ${typeof msg === 'string' ? msg : line}`);
  }
  return parsed;
}

function core(result: ClientResult, cpu: number): CoreStat | undefined {
  return result.cores.find((c) => c.cpu === cpu);
}

/**
 * Fills in saturation and noise notes. A process's CPU % (utime + stime) includes the softirq work
 * the kernel did in its context (loopback TCP delivery runs in the sender's); the core busy % from
 * /proc/stat also counts ksoftirqd and interrupts taken while the process slept. Other processes'
 * CPU during the window (a build, a test run) is measured by the client and makes the row NOISY.
 */
function annotate(row: Row, opts: RowOptions): void {
  const r = row.result;
  if (!r) return;
  if (opts.pin) {
    row.serverCorePct = core(r, SERVER_CPU)?.busyPct;
    row.clientCorePct = core(r, CLIENT_CPU)?.busyPct;
  }
  if (r.foreignCpuPct > FOREIGN_PCT) row.notes.push(`NOISY: other processes used ${r.foreignCpuPct.toFixed(0)}% CPU (${r.foreignTop})`);
  const steal = Math.max(0, ...r.cores.map((c) => c.stealPct));
  if (steal > FOREIGN_PCT) row.notes.push(`NOISY: ${steal.toFixed(0)}% steal`);
  if (r.clientCpuPct > SATURATED_PCT) row.notes.push('CLIENT SATURATED');
  else if ((row.clientCorePct ?? 0) > 97) row.notes.push(`client core ${(row.clientCorePct ?? 0).toFixed(0)}% busy`);
  if (row.mode === 'throughput' && (row.serverCorePct ?? r.serverCpuPct ?? 100) < 90 && r.clientCpuPct <= SATURATED_PCT)
    row.notes.push(`server core only ${(row.serverCorePct ?? r.serverCpuPct ?? 0).toFixed(0)}% busy: window too small?`);
  if (row.mode === 'latency' && r.publishesPerSec < opts.rate * 0.98)
    row.notes.push(`published only ${r.publishesPerSec.toFixed(0)}/s`);
  // A server slower than the fixed rate queues without bound: its p99 then measures the queue.
  // 10% slack: at 10 publishes/s a short window ends mid-publish (one publish is 5% of 2 s).
  else if (row.mode === 'latency' && r.deliveriesPerSec < opts.rate * opts.subs * 0.9)
    row.notes.push(`OVERLOADED: delivered ${fmtInt(r.deliveriesPerSec)}/s of ${fmtInt(opts.rate * opts.subs)}/s published`);
  if (r.publishErrors > 0) row.notes.push(`${r.publishErrors} publish errors, first: ${r.firstPublishError ?? '?'}`);
  if (r.missing > 0) row.notes.push(`${r.missing} deliveries missing after the drain`);
  if (r.unparsed > 0) row.notes.push(`${r.unparsed} frames without a timestamp`);
  if (r.minPerSub * 2 < r.maxPerSub) row.notes.push(`unfair: ${r.minPerSub}..${r.maxPerSub} per subscriber`);
}

async function runRow(opts: RowOptions, spec: ServerSpec, mode: Mode): Promise<Row> {
  const row: Row = { server: spec, mode, notes: [] };
  if (opts.waitQuiet) {
    const busy = await waitQuiet();
    if (busy > QUIET_PCT) row.notes.push(`machine busy before the row (${busy.toFixed(0)}% on a core)`);
  }
  const port = await freePort();
  const server = startChild(spec.argv(port), spec.env(port), opts.pin ? SERVER_CPU : undefined);
  const serverErr = tail(server.stderr);
  const serverOut = tail(server.stdout);
  try {
    if (!(await waitHealthy(port, server))) {
      const why = server.exitCode !== null ? `exited with ${server.exitCode}` : `no answer within ${HEALTH_TIMEOUT_MS / 1000} s`;
      const output = (serverErr() || serverOut()).split('\n').slice(-3).join(' | ');
      row.notes.push(`SKIPPED: /health on port ${port}: ${why}${spec.skipHint ? `; ${spec.skipHint}` : ''}`);
      console.error(`  ${spec.label}: skipped, /health ${why}${output ? ` (server said: ${output.slice(0, 300)})` : ''}`);
      return row;
    }
    if (server.pid === undefined) throw new Error('server has no pid');
    row.result = await runClient(opts, spec, mode, port, server.pid);
    annotate(row, opts);
  } catch (err) {
    row.notes.push(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await stopChild(server);
  }
  return row;
}

/** Runs a row again (up to --retries times) while other processes disturbed it; keeps the quietest. */
async function runRowQuietly(opts: RowOptions, spec: ServerSpec, mode: Mode): Promise<Row> {
  let best: Row | undefined;
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    if (attempt > 0) console.error(`  disturbed by other processes; running the row again (${attempt}/${opts.retries})`);
    const row = await runRow(opts, spec, mode);
    if (!row.result) return row; // skipped or failed: retrying would not help
    if (!best?.result || row.result.foreignCpuPct < best.result.foreignCpuPct) best = row;
    if (row.result.foreignCpuPct <= FOREIGN_PCT) break;
    await sleep(2000);
  }
  if (best === undefined) throw new Error('unreachable');
  return best;
}

/**
 * Every row runs --repeat times, each on a fresh server, and reports the median run: by
 * deliveries/s in throughput mode (uWS settles run by run into states ~1.5x apart, see docs), by
 * p99 in latency mode (one stall in a run moves it).
 */
export async function runRepeated(opts: RowOptions, spec: ServerSpec, mode: Mode): Promise<Row> {
  const runs = opts.repeat;
  const done: Row[] = [];
  for (let i = 0; i < runs; i++) {
    console.error(`${spec.label}, ${mode}${runs > 1 ? ` (run ${i + 1}/${runs})` : ''}...`);
    const row = await runRowQuietly(opts, spec, mode);
    const r = row.result;
    console.error(
      r
        ? `  ${fmtInt(r.deliveriesPerSec)} deliveries/s, p50 ${fmtMs(r.p50Ms)} ms, p99 ${fmtMs(r.p99Ms)} ms, ` +
            `server ${fmtCpu(r.serverCpuPct, row.serverCorePct)}% CPU, client ${fmtCpu(r.clientCpuPct, row.clientCorePct)}%` +
            `${row.notes.length ? `; ${row.notes.join('; ')}` : ''}`
        : `  ${row.notes.join('; ')}`,
    );
    if (!r) return row;
    done.push(row);
    await sleep(500); // let the previous server's sockets and exit settle
  }
  const key = (row: Row): number => (mode === 'throughput' ? (row.result?.deliveriesPerSec ?? 0) : (row.result?.p99Ms ?? 0));
  const sorted = [...done].sort((a, b) => key(a) - key(b));
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (median === undefined) throw new Error('no runs');
  if (done.length > 1) {
    const each = done.map((r) => (mode === 'throughput' ? fmtInt(key(r)) : `${fmtMs(key(r))} ms`)).join(' / ');
    median.notes.unshift(`median of ${done.length} runs by ${mode === 'throughput' ? 'deliveries/s' : 'p99'}: ${each}`);
  }
  return median;
}

// ---- output ----

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number): string => (n < 0 ? '-' : n < 10 ? n.toFixed(2) : n.toFixed(1));

export function fmtCpu(processPct: number | null | undefined, corePct: number | undefined): string {
  if (processPct === null || processPct === undefined) return '-';
  return corePct === undefined ? processPct.toFixed(0) : `${processPct.toFixed(0)} (${corePct.toFixed(0)})`;
}

export function cpuModel(): string {
  const model = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${os.cpus().length} cores (${model}), ${Math.round(os.totalmem() / 2 ** 30)} GiB`;
}

/**
 * Puts `text` between the `begin` and `end` marker lines of `file`, or appends the markers and
 * the text when the file lacks them (creating the file). Returns whether the markers were there.
 */
export function writeBetweenMarkers(file: string, begin: string, end: string, text: string): boolean {
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a >= 0 && b > a) {
    writeFileSync(file, `${doc.slice(0, a + begin.length)}\n${text}\n${doc.slice(b)}`);
    return true;
  }
  writeFileSync(file, `${doc}${doc.endsWith('\n') || doc === '' ? '' : '\n'}\n${begin}\n${text}\n${end}\n`);
  return false;
}

// ---- setup ----

function buildClient(): void {
  mkdirSync(path.dirname(CLIENT_BIN), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-o', CLIENT_BIN, CLIENT_SRC], { stdio: 'inherit', timeout: 60_000 });
}

/**
 * Before the first row: turns pinning off (with a word) where taskset cannot pin to two cores,
 * builds the load client, writes hubbub's bench configuration.
 */
export function prepare(opts: RowOptions): void {
  if (opts.pin && (os.availableParallelism() < 2 || !canPin(SERVER_CPU))) {
    console.error(`taskset -c ${SERVER_CPU} is not usable here (needs 2 cores); running unpinned`);
    opts.pin = false;
  }
  buildClient();
  writeFileSync(HUB_CONFIG, `${JSON.stringify(HUB_CONFIG_JSON, null, 2)}\n`);
}


// `npm run bench:fanout`: deliveries per second and publish-to-receive latency for one publisher
// and N subscribers (default 1,000) of one channel, for bare uWS (the ceiling), bare ws, hubbub on
// uWS and hubbub on ws, and hubbub's Pusher endpoint on both (the same channel size and client, its
// subscribers speaking the Pusher protocol). Each row starts its server pinned to one core (`taskset -c 1`), runs the C
// load client (load/fanout/client.c, built here with gcc into load/bin/) pinned to the other
// (`taskset -c 0`), and stops the server. Modes: `throughput` (publish as fast as a window of
// in-flight publishes allows) and `latency` (fixed publish rate, default 100/s).
//
// Options: --record (rewrite the bench:fanout section of docs/benchmarks.md, or write
// docs/benchmarks-fanout-draft.md when the markers are absent), --only bare-uws,bare-ws,hubbub-uws,
// hubbub-ws,pusher-uws,pusher-ws, --modes throughput,latency, --subs N, --window W (default per transport), --repeat N
// (runs per row, each on a fresh server, median reported; default 3), --rate R, --payload BYTES,
// --warmup-ms, --duration-ms, --sample K (latency parsed on 1 frame in K), --no-pin, --retries N
// (run a row again when other processes used the CPU meanwhile; default 2), --coalesce-us US
// (throughput-mode read batching, default 10000).
// Not a test: it prints a table and the ratios the project targets.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
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
const DOC = path.join(ROOT, 'docs/benchmarks.md');
const DRAFT = path.join(ROOT, 'docs/benchmarks-fanout-draft.md');
const BEGIN = '<!-- bench:fanout:begin -->';
const END = '<!-- bench:fanout:end -->';
const SERVER_CPU = 1;
const CLIENT_CPU = 0;
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
const UWS_WINDOW = 500;
const WS_WINDOW = 20;
/**
 * Throughput mode: after a wake-up that found few sockets ready, the client sleeps this long so
 * frames pile up and each read takes several. Halves the client's CPU at the same server rate
 * (ws: 82% -> 42% at ~190k/s; uWS: 94% -> 64% at ~6.8M/s); latency mode never sleeps.
 */
const THROUGHPUT_COALESCE_US = 10_000;

type Mode = 'throughput' | 'latency';
type ServerKey = 'bare-uws' | 'bare-ws' | 'hubbub-uws' | 'hubbub-ws' | 'pusher-uws' | 'pusher-ws';

interface Options {
  record: boolean;
  only: ServerKey[];
  modes: Mode[];
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
}

interface ServerSpec {
  key: ServerKey;
  label: string;
  proto: 'bare' | 'hubbub' | 'pusher';
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

interface CoreStat {
  cpu: number;
  busyPct: number;
  stealPct: number;
}

interface ClientResult {
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

interface Row {
  server: ServerSpec;
  mode: Mode;
  result?: ClientResult;
  /** Busy % of the server's and the client's core (everything that ran there), when pinned. */
  serverCorePct?: number | undefined;
  clientCorePct?: number | undefined;
  notes: string[];
}

const SERVERS: ServerSpec[] = [
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
];

// ---- options ----

function parseOptions(argv: string[]): Options {
  const opts: Options = {
    record: false,
    only: SERVERS.map((s) => s.key),
    modes: ['throughput', 'latency'],
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
  };
  const int = (name: string, value: string | undefined, min: number, max: number): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} wants an integer in [${min}, ${max}]`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = (): string | undefined => argv[++i];
    switch (arg) {
      case '--record':
        opts.record = true;
        break;
      case '--no-pin':
        opts.pin = false;
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
      case '--subs':
        opts.subs = int(arg, next(), 1, 15_000);
        break;
      case '--window':
        opts.window = int(arg, next(), 1, 100_000);
        break;
      case '--repeat':
        opts.repeat = int(arg, next(), 1, 20);
        break;
      case '--rate':
        opts.rate = int(arg, next(), 1, 1_000_000);
        break;
      case '--payload':
        opts.payload = int(arg, next(), 20, 250_000);
        break;
      case '--warmup-ms':
        opts.warmupMs = int(arg, next(), 0, 60_000);
        break;
      case '--duration-ms':
        opts.durationMs = int(arg, next(), 100, 120_000);
        break;
      case '--sample':
        opts.sample = int(arg, next(), 1, 1_000_000);
        break;
      case '--retries':
        opts.retries = int(arg, next(), 0, 10);
        break;
      case '--coalesce-us':
        opts.coalesceUs = int(arg, next(), 0, 100_000);
        break;
      default:
        throw new Error(`unknown option ${arg ?? ''}`);
    }
  }
  return opts;
}

function windowFor(opts: Options, spec: ServerSpec): number {
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

function killAll(): void {
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
  const done = await Promise.race([exited(child).then(() => true), sleep(3000).then(() => false)]);
  if (!done) {
    signalGroup(child, 'SIGKILL');
    await exited(child);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

async function runClient(opts: Options, spec: ServerSpec, mode: Mode, port: number, serverPid: number): Promise<ClientResult> {
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
  ].flat();
  const client = startChild(args, {}, opts.pin ? CLIENT_CPU : undefined);
  const out = tail(client.stdout, 20_000);
  const err = tail(client.stderr);
  const limitMs = 60_000 + opts.warmupMs + opts.durationMs + 3000 + 15_000;
  const finished = await Promise.race([exited(client).then(() => true), sleep(limitMs).then(() => false)]);
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
function annotate(row: Row, opts: Options): void {
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
  if (r.publishErrors > 0) row.notes.push(`${r.publishErrors} publish errors, first: ${r.firstPublishError ?? '?'}`);
  if (r.missing > 0) row.notes.push(`${r.missing} deliveries missing after the drain`);
  if (r.unparsed > 0) row.notes.push(`${r.unparsed} frames without a timestamp`);
  if (r.minPerSub * 2 < r.maxPerSub) row.notes.push(`unfair: ${r.minPerSub}..${r.maxPerSub} per subscriber`);
}

async function runRow(opts: Options, spec: ServerSpec, mode: Mode): Promise<Row> {
  const row: Row = { server: spec, mode, notes: [] };
  const busy = await waitQuiet();
  if (busy > QUIET_PCT) row.notes.push(`machine busy before the row (${busy.toFixed(0)}% on a core)`);
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
async function runRowQuietly(opts: Options, spec: ServerSpec, mode: Mode): Promise<Row> {
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
async function runRepeated(opts: Options, spec: ServerSpec, mode: Mode): Promise<Row> {
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

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number): string => (n < 0 ? '-' : n < 10 ? n.toFixed(2) : n.toFixed(1));

function fmtCpu(processPct: number | null | undefined, corePct: number | undefined): string {
  if (processPct === null || processPct === undefined) return '-';
  return corePct === undefined ? processPct.toFixed(0) : `${processPct.toFixed(0)} (${corePct.toFixed(0)})`;
}

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

function cpuModel(): string {
  const model = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${os.cpus().length} cores (${model}), ${Math.round(os.totalmem() / 2 ** 30)} GiB`;
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
  if (existsSync(DOC)) {
    const doc = readFileSync(DOC, 'utf8');
    const a = doc.indexOf(BEGIN);
    const b = doc.indexOf(END);
    if (a >= 0 && b > a) {
      writeFileSync(DOC, `${doc.slice(0, a + BEGIN.length)}\n${text}\n${doc.slice(b)}`);
      return DOC;
    }
  }
  const draft = existsSync(DRAFT) ? readFileSync(DRAFT, 'utf8') : '';
  const a = draft.indexOf(BEGIN);
  const b = draft.indexOf(END);
  if (a >= 0 && b > a) writeFileSync(DRAFT, `${draft.slice(0, a + BEGIN.length)}\n${text}\n${draft.slice(b)}`);
  else writeFileSync(DRAFT, `${draft}${draft.endsWith('\n') || draft === '' ? '' : '\n'}\n${BEGIN}\n${text}\n${END}\n`);
  return DRAFT;
}

// ---- main ----

function buildClient(): void {
  mkdirSync(path.dirname(CLIENT_BIN), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-o', CLIENT_BIN, CLIENT_SRC], { stdio: 'inherit', timeout: 60_000 });
}

function canPin(): boolean {
  if (os.availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['-c', String(SERVER_CPU), 'true'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.pin && !canPin()) {
    console.error(`taskset -c ${SERVER_CPU} is not usable here (needs 2 cores); running unpinned`);
    opts.pin = false;
  }
  buildClient();
  writeFileSync(HUB_CONFIG, `${JSON.stringify(HUB_CONFIG_JSON, null, 2)}\n`);
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
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  killAll();
  process.exitCode = 1;
});

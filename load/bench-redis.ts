// `npm run bench:redis`: what the Redis engine costs, beside what Redis itself can do, measured in
// one run on a throwaway redis-server: (a) publishes/s through one RedisEngine with history
// (auto-pipelined, a window in flight), (b) cross-node publications/s from node A's engine to
// node B's, delivered in order (engine level), and a real hub with 1,000 WebSocket subscribers on
// the Redis engine (the C load client of bench:fanout) beside the same hub on the memory engine,
// (c) bare Redis: ioredis PUBLISH to one subscriber connection. Each row is the median of 3
// rounds, each taken when the machine is quiet. `-- --record` writes the table between the
// bench:redis markers of docs/benchmarks.md. Not a test: it prints numbers.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisEngine } from '../src/engine/index.js';
import type { EngineHandler } from '../src/engine/types.js';
import { freePort } from '../test/helpers/process.js';
import { RedisServer } from '../test/helpers/redis-server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOC = path.join(ROOT, 'docs/benchmarks.md');
const CLIENT_BIN = path.join(ROOT, 'load/bin/fanout-client');
const BEGIN = '<!-- bench:redis:begin -->';
const END = '<!-- bench:redis:end -->';
const ROUNDS = 3;
const ROUND_MS = 2000;
const WINDOW = 64;
const SUBSCRIBERS = 1000;
/**
 * Publishes in flight for the hub rows. The Redis engine acknowledges a publish after a round
 * trip to Redis, so a window that saturates the memory-engine hub (10) leaves it latency-bound;
 * both rows use the same, larger window.
 */
const HUB_WINDOW = 40;
const PAYLOAD = JSON.stringify('x'.repeat(98)); // 100 bytes of JSON text
const log = pino({ level: 'warn' });

interface Row {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const noop = () => undefined;

// ---- a quiet machine: other agents run tests on these cores ----

function busyJiffies(): [number, number] {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((x, y) => x + y, 0);
  return [total - (v[3] ?? 0) - (v[4] ?? 0), total];
}

let roundsRun = 0;
let busyRounds = 0;

/** Waits (at most 60 s) until the machine as a whole is under 15% busy; counts rounds it gave up on. */
async function waitQuiet(): Promise<void> {
  const deadline = Date.now() + 60_000;
  let said = false;
  roundsRun++;
  for (;;) {
    const [b0, t0] = busyJiffies();
    await sleep(500);
    const [b1, t1] = busyJiffies();
    const pct = t1 > t0 ? ((b1 - b0) / (t1 - t0)) * 100 : 0;
    if (pct < 15) return;
    if (Date.now() > deadline) {
      busyRounds++;
      return;
    }
    if (!said) process.stderr.write(`  waiting for a quiet machine (${pct.toFixed(0)}% busy)...\n`);
    said = true;
  }
}

/** Median over ROUNDS of `round()`, each after the machine went quiet. */
async function rounds(name: string, round: () => Promise<number>): Promise<number> {
  const results: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await waitQuiet();
    results.push(await round());
  }
  process.stderr.write(`  ${name}: ${results.map(fmt).join(', ')}\n`);
  return median(results);
}

/** Runs `op` with `window` calls in flight for `ms`; returns how many completed. */
async function windowed(op: (i: number) => Promise<unknown>, window: number, ms: number): Promise<number> {
  let done = 0;
  let i = 0;
  const end = performance.now() + ms;
  const lane = async () => {
    while (performance.now() < end) {
      await op(i++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return done;
}

/** Calls per second of `windowed`. */
async function rate(op: (i: number) => Promise<unknown>, window: number, ms: number): Promise<number> {
  const start = performance.now();
  const done = await windowed(op, window, ms);
  return (done * 1000) / (performance.now() - start);
}

/**
 * Publishes for ROUND_MS and waits for the receiving side to count every acknowledged message;
 * returns messages received per second, from the first publish to the last arrival.
 */
async function endToEnd(publish: () => Promise<unknown>, received: () => number): Promise<number> {
  const before = received();
  const start = performance.now();
  const published = await windowed(publish, WINDOW, ROUND_MS);
  const deadline = performance.now() + 10_000;
  while (received() - before < published) {
    if (performance.now() > deadline) throw new Error(`only ${received() - before} of ${published} arrived`);
    await sleep(1);
  }
  return (published * 1000) / (performance.now() - start);
}

function handler(onPublication: EngineHandler['onPublication']): EngineHandler {
  return { onPublication, onJoin: noop, onLeave: noop, onLeaderboardUpdate: noop, onUnrecoverable: noop };
}

// ---- (a) and (b1): engine level ----

async function enginePublish(url: string, window: number): Promise<number> {
  const engine = new RedisEngine({ url, keyPrefix: `bench-a${window}:` }, log);
  await engine.start(handler(noop));
  const history = { history: { size: 1000, ttlMs: 0 } };
  try {
    await windowed(() => engine.publish('bench:a', PAYLOAD, history), window, 300);
    return await rounds(`engine.publish, ${window} in flight`, () =>
      rate(() => engine.publish('bench:a', PAYLOAD, history), window, ROUND_MS),
    );
  } finally {
    await engine.close();
  }
}

/** Node A publishes as fast as the window allows; node B's handler counts what it receives in order. */
async function crossNode(url: string): Promise<number> {
  let received = 0;
  let last = 0;
  let disorder = 0;
  const a = new RedisEngine({ url, keyPrefix: 'bench-b:' }, log);
  const b = new RedisEngine({ url, keyPrefix: 'bench-b:' }, log);
  await a.start(handler(noop));
  await b.start(
    handler((_channel, publication) => {
      if (publication.offset !== last + 1) disorder++;
      last = publication.offset;
      received++;
    }),
  );
  await b.subscribe('bench:b');
  const history = { history: { size: 1000, ttlMs: 0 } };
  try {
    const result = await rounds('cross-node, engine level', () =>
      endToEnd(
        () => a.publish('bench:b', PAYLOAD, history),
        () => received,
      ),
    );
    if (disorder > 0) throw new Error(`node B saw ${disorder} publications out of order`);
    if ((await b.stats()).unrecoverable !== 0) throw new Error('node B lost publications during the benchmark');
    return result;
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

// ---- (c): bare Redis ----

async function barePublish(url: string): Promise<number> {
  const publisher = new Redis(url, { enableAutoPipelining: true });
  const subscriber = new Redis(url);
  let received = 0;
  subscriber.on('message', () => received++);
  await subscriber.subscribe('bench:bare');
  try {
    return await rounds('bare PUBLISH -> one subscriber', () =>
      endToEnd(
        () => publisher.publish('bench:bare', PAYLOAD),
        () => received,
      ),
    );
  } finally {
    publisher.disconnect();
    subscriber.disconnect();
  }
}

// ---- (b2): a real hub with 1,000 WebSocket subscribers ----

function canPin(): boolean {
  if (os.cpus().length < 2) return false;
  try {
    execFileSync('taskset', ['-c', '1', 'true'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

async function startHub(engine: Record<string, unknown>, dir: string, pin: boolean): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const config = path.join(dir, `hub-${port}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      logLevel: 'warn',
      engine,
      server: { host: '127.0.0.1', transport: 'ws', maxConnectionsPerIp: 100_000 },
      limits: { commands: { rate: 1e9, burst: 1e9 }, bytes: { rate: 1e12, burst: 1e12 } },
      namespaces: { bench: { clientPublish: true } },
    }),
  );
  const argv = [process.execPath, '--import', 'tsx', 'src/cli.ts', '--config', config];
  const [cmd, ...args] = pin ? ['taskset', '-c', '1', ...argv] : argv;
  const child = spawn(cmd as string, args, {
    cwd: ROOT,
    env: { ...process.env, HUBBUB_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 20_000;
  while (!(await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('the hub did not start');
    await sleep(100);
  }
  return { child, port };
}

interface ClientResult {
  ok: boolean;
  deliveriesPerSec: number;
  missing: number;
  serverCpuPct: number | null;
}

async function hubFanout(engine: Record<string, unknown>, label: string, pin: boolean): Promise<{ rate: number; cpu: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hubbub-bench-redis-'));
  const cpus: number[] = [];
  try {
    const rate = await rounds(`hub fan-out, ${label}`, async () => {
      const hub = await startHub(engine, dir, pin);
      try {
        const argv = [
          CLIENT_BIN,
          ...['--port', String(hub.port), '--path', '/ws', '--proto', 'hubbub', '--channel', 'bench:fanout'],
          ...['--subs', String(SUBSCRIBERS), '--mode', 'throughput', '--window', String(HUB_WINDOW), '--payload', '100'],
          ...['--warmup-ms', '1000', '--duration-ms', '4000', '--server-pid', String(hub.child.pid ?? 0)],
        ];
        const [cmd, ...args] = pin ? ['taskset', '-c', '0', ...argv] : argv;
        const out = execFileSync(cmd as string, args, { encoding: 'utf8', timeout: 120_000 });
        const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as ClientResult;
        if (!result.ok || result.missing > 0) throw new Error(`the load client failed: ${out}`);
        if (result.serverCpuPct !== null) cpus.push(result.serverCpuPct);
        return result.deliveriesPerSec;
      } finally {
        hub.child.kill('SIGTERM');
        await new Promise((resolve) => hub.child.once('exit', resolve));
      }
    });
    return { rate, cpu: median(cpus) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- report ----

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

function table(rows: Row[]): string {
  const lines = ['| scenario | rate | unit | note |', '|---|---:|---|---|'];
  for (const r of rows) lines.push(`| ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.note ?? ''} |`);
  return lines.join('\n');
}

function record(section: string): void {
  let doc = readFileSync(DOC, 'utf8');
  if (!doc.includes(BEGIN) || !doc.includes(END)) doc = `${doc.trimEnd()}\n\n${BEGIN}\n${END}\n`;
  const from = doc.indexOf(BEGIN);
  const to = doc.indexOf(END) + END.length;
  writeFileSync(DOC, doc.slice(0, from) + `${BEGIN}\n${section}\n${END}` + doc.slice(to));
  process.stdout.write('\nrecorded in docs/benchmarks.md\n');
}

async function main(): Promise<void> {
  const redis = await RedisServer.start();
  const pin = canPin();
  // Redis beside the load client on core 0; the hub under test alone on core 1.
  if (pin && redis.pid !== undefined) execFileSync('taskset', ['-pc', '0', String(redis.pid)], { stdio: 'ignore' });
  const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1] ?? '?';
  const rows: Row[] = [];
  try {
    const bare = await barePublish(redis.url);
    rows.push({
      name: `(a) engine.publish with history 1000, 100 B, ${WINDOW} in flight`,
      value: await enginePublish(redis.url, WINDOW),
      unit: 'publishes/s',
      note: 'one Lua script per publication, auto-pipelined',
    });
    rows.push({
      name: '(a) engine.publish with history 1000, 100 B, 1 in flight',
      value: await enginePublish(redis.url, 1),
      unit: 'publishes/s',
      note: 'round-trip bound',
    });
    const cross = await crossNode(redis.url);
    rows.push({
      name: `(b) cross-node: node A's engine publishes, node B's engine delivers in order`,
      value: cross,
      unit: 'publications/s',
      note: `engine level, ${(cross / bare).toFixed(2)}x the bare row; with ${fmt(SUBSCRIBERS)} local subscribers each, ${fmt(cross * SUBSCRIBERS)} deliveries/s if the hub's fan-out kept up (the hub rows measure that)`,
    });
    if (existsSync(CLIENT_BIN)) {
      const redisHub = await hubFanout({ type: 'redis', url: redis.url, keyPrefix: 'bench-hub:' }, 'Redis engine', pin);
      const memoryHub = await hubFanout({ type: 'memory' }, 'memory engine', pin);
      rows.push({
        name: `(b) hub on the Redis engine, ${fmt(SUBSCRIBERS)} ws subscribers (C client)`,
        value: redisHub.rate,
        unit: 'deliveries/s',
        note: `publisher on the same hub; each publication goes through Redis pub/sub and back; hub CPU ${redisHub.cpu.toFixed(0)}%`,
      });
      rows.push({
        name: `(b) same hub on the memory engine (reference)`,
        value: memoryHub.rate,
        unit: 'deliveries/s',
        note: `hub CPU ${memoryHub.cpu.toFixed(0)}%; Redis row is ${(redisHub.rate / memoryHub.rate).toFixed(2)}x`,
      });
    } else {
      process.stderr.write(`  ${CLIENT_BIN} missing (npm run bench:fanout builds it): hub rows skipped\n`);
    }
    rows.push({
      name: `(c) bare Redis: ioredis PUBLISH (${WINDOW} in flight) -> one subscriber connection`,
      value: bare,
      unit: 'messages/s',
      note: 'reference: what the pub/sub path alone gives',
    });
  } finally {
    await redis.stop();
  }
  const pinning = pin ? 'hub pinned to core 1, redis-server and load client to core 0 (taskset)' : 'unpinned';
  const noise =
    busyRounds === 0
      ? 'every round started on a quiet machine'
      : `${busyRounds} of ${roundsRun} rounds started while other processes kept the machine busy (read those rows as lower bounds)`;
  const section = [
    '## Redis engine (`npm run bench:redis`)',
    '',
    'One throwaway redis-server, in one run: (a) what one node can publish through the engine (one Lua',
    'script per publication: offset, stream append, TTLs, pub/sub); (b) cross-node delivery, at the',
    "engine level (node A's RedisEngine publishes, node B's delivers in order to a counting handler)",
    'and through a real hub with 1,000 WebSocket subscribers (the C load client of `bench:fanout`; it',
    'has one port, so its publisher is on the same hub, and every publication still makes the round',
    "trip through Redis pub/sub that a cross-node one makes), beside the same hub on the memory engine;",
    '(c) bare Redis pub/sub through ioredis, the ceiling for (b). Engine rows run in this process.',
    '',
    `Command: \`npm run bench:redis\` on ${new Date().toISOString().slice(0, 10)}, ${machine()}, Redis ${version}; median of ${ROUNDS} rounds (${ROUND_MS} ms each for engine rows, 4 s for hub rows, ${HUB_WINDOW} publishes in flight there); ${noise}; ${pinning}.`,
    '',
    table(rows),
  ].join('\n');
  process.stdout.write(`hubbub Redis engine benchmark\n\n${section}\n`);
  if (process.argv.includes('--record')) record(section);
}

await main();

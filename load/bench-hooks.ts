// `npm run bench:hooks`: what proxy hooks and webhooks cost. A trivial backend (node:http, answers
// at once, keep-alive) runs in a child process, and two hubs run as child processes from
// src/cli.ts with the same namespaces: one asking the backend (connect, subscribe, publish, rpc
// hooks), one not. Measured: (a) client publishes/s through the publish hook beside the same load
// without it, (b) the latency each hook adds (p50/p99 of one connection's sequential commands,
// hooked minus plain; rpc beside ping), (c) webhook throughput: publication events delivered to the
// receiver per second. `-- --record` writes the table between the bench:hooks markers of
// docs/benchmarks.md. Not a test: it prints numbers.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { freePort } from '../test/helpers/process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOC = path.join(ROOT, 'docs/benchmarks.md');
const BEGIN = '<!-- bench:hooks:begin -->';
const END = '<!-- bench:hooks:end -->';
const CONNECTIONS = 20;
const WINDOW = 10;
const THROUGHPUT_MS = 3000;
const SAMPLES = 2000;
const WEBHOOK_EVENTS = 20_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms2 = (n: number) => n.toFixed(2);

/** The backend: every hook says yes at once; /events counts webhook events; GET /count reports them. */
const BACKEND = `
const http = require('node:http');
let events = 0;
const server = http.createServer((req, res) => {
  if (req.method === 'GET') return res.end(String(events));
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.url === '/events') {
      events += JSON.parse(Buffer.concat(chunks).toString()).events.length;
      res.writeHead(204).end();
      return;
    }
    const body = req.url === '/connect' ? '{"result":{"user":"bench","caps":{"*":["subscribe","publish"]}}}' : '{"result":{}}';
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

interface Child {
  child: ChildProcess;
  port: number;
}

const children: ChildProcess[] = [];

async function startBackend(): Promise<Child> {
  const child = spawn(process.execPath, ['-e', BACKEND], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise<number>((resolve) => child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  return { child, port };
}

async function startHub(dir: string, name: string, config: Record<string, unknown>): Promise<Child> {
  const port = await freePort();
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ logLevel: 'warn', server: { host: '127.0.0.1', port, pingIntervalMs: 60_000 }, ...config }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--config', file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return { child, port };
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`hub ${name} did not start`);
    await sleep(100);
  }
}

/** A protocol client: numbered commands, replies matched by id. */
class Conn {
  private next = 1;
  private readonly waiting = new Map<number, (frame: { result?: unknown; error?: { code: string } }) => void>();
  onPush: (frame: Record<string, unknown>) => void = () => {};

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as Record<string, unknown> | Record<string, unknown>[];
      for (const frame of Array.isArray(parsed) ? parsed : [parsed]) {
        if (typeof frame.id !== 'number') {
          this.onPush(frame);
          continue;
        }
        const w = this.waiting.get(frame.id);
        this.waiting.delete(frame.id);
        w?.(frame);
      }
    });
  }

  static async open(port: number, connect = true): Promise<Conn> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { cookie: 'sid=bench' } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const c = new Conn(ws);
    if (connect) await c.call('connect');
    return c;
  }

  async call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.next++;
    const reply = new Promise<{ result?: unknown; error?: { code: string } }>((resolve) => this.waiting.set(id, resolve));
    this.ws.send(JSON.stringify({ id, method, ...params }));
    const frame = await reply;
    if (frame.error !== undefined) throw new Error(`${method}: ${frame.error.code}`);
    return frame.result;
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Client publishes acknowledged per second: CONNECTIONS connections, WINDOW in flight each. */
async function publishRate(port: number): Promise<number> {
  const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => Conn.open(port)));
  let done = 0;
  const start = performance.now();
  const end = start + THROUGHPUT_MS;
  await Promise.all(
    conns.flatMap((c, i) =>
      Array.from({ length: WINDOW }, async () => {
        while (performance.now() < end) {
          await c.call('publish', { channel: `room:t${i}`, data: { text: 'x'.repeat(90) } });
          done++;
        }
      }),
    ),
  );
  const rate = (done * 1000) / (performance.now() - start);
  for (const c of conns) c.close();
  return rate;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** p50 and p99 (ms) of SAMPLES sequential runs of `op`. */
async function latency(op: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 100; i++) await op(-i - 1); // warm-up
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t = performance.now();
    const measured = await op(i);
    // An op may time its own part (connect: the command, not the socket opening).
    times.push(typeof measured === 'number' ? measured : performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

async function hookLatencies(port: number, hooked: boolean): Promise<Record<string, { p50: number; p99: number }>> {
  const out: Record<string, { p50: number; p99: number }> = {};
  out.connect = await latency(async () => {
    const c = await Conn.open(port, false);
    const t = performance.now();
    await c.call('connect');
    const elapsed = performance.now() - t;
    c.close();
    return elapsed;
  }).catch(() => ({ p50: NaN, p99: NaN }));
  const c = await Conn.open(port);
  out.subscribe = await latency(async (i) => {
    await c.call('subscribe', { channel: `room:l${i}` });
    await c.call('unsubscribe', { channel: `room:l${i}` });
  });
  out.publish = await latency(() => c.call('publish', { channel: 'room:lat', data: { text: 'x'.repeat(90) } }));
  out.rpc = await latency(() => (hooked ? c.call('rpc', { method_name: 'noop', data: 1 }) : c.call('ping')));
  c.close();
  return out;
}

/** Publication events delivered to the receiver per second, from the first publish to the last arrival. */
async function webhookRate(hubPort: number, backendPort: number): Promise<number> {
  const count = async () => Number(await (await fetch(`http://127.0.0.1:${backendPort}/count`)).text());
  const before = await count();
  const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => Conn.open(hubPort)));
  const start = performance.now();
  let sent = 0;
  await Promise.all(
    conns.flatMap((c, i) =>
      Array.from({ length: WINDOW }, async () => {
        while (sent < WEBHOOK_EVENTS) {
          sent++;
          await c.call('publish', { channel: `room:w${i}`, data: { text: 'x'.repeat(90) } });
        }
      }),
    ),
  );
  const deadline = performance.now() + 60_000;
  while ((await count()) - before < sent) {
    if (performance.now() > deadline) throw new Error(`only ${(await count()) - before} of ${sent} webhook events arrived`);
    await sleep(5);
  }
  const rate = (sent * 1000) / (performance.now() - start);
  for (const c of conns) c.close();
  return rate;
}

async function main(): Promise<void> {
  const record = process.argv.includes('--record');
  const loadAtStart = os.loadavg()[0] ?? 0;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hubbub-bench-hooks-'));
  try {
    const backend = await startBackend();
    const url = (hook: string) => `http://127.0.0.1:${backend.port}/${hook}`;
    const room = { clientPublish: true, history: { size: 100 } };
    const commands = { commands: { rate: 1_000_000, burst: 1_000_000 }, bytes: { rate: 1e9, burst: 1e9 } };
    const hooked = await startHub(dir, 'hooked', {
      limits: commands,
      namespaces: { room: { ...room, hooks: { subscribe: true, publish: true } } },
      hooks: { connect: { url: url('connect') }, subscribe: { url: url('subscribe') }, publish: { url: url('publish') }, rpc: { url: url('rpc') } },
    });
    const plain = await startHub(dir, 'plain', { limits: commands, namespaces: { room } });
    const webhooked = await startHub(dir, 'webhooked', {
      limits: commands,
      namespaces: { room },
      webhooks: { url: url('events'), secret: 'bench-secret-0123456789', events: ['publication'], maxQueued: 1_000_000 },
    });
    process.stderr.write('(a) publish throughput\n');
    const viaHook = await publishRate(hooked.port);
    const direct = await publishRate(plain.port);
    process.stderr.write('(b) latency per hook\n');
    const withHooks = await hookLatencies(hooked.port, true);
    const without = await hookLatencies(plain.port, false);
    process.stderr.write('(c) webhooks\n');
    const webhooks = await webhookRate(webhooked.port, backend.port);

    const rows: string[] = [
      `| (a) client publishes through the publish hook (${CONNECTIONS} connections x ${WINDOW} in flight) | ${fmt(viaHook)} publishes/s | ${(viaHook / direct).toFixed(2)}x the same load without the hook (${fmt(direct)}/s) |`,
    ];
    for (const hook of ['connect', 'subscribe', 'publish', 'rpc'] as const) {
      const a = withHooks[hook] as { p50: number; p99: number };
      const b = without[hook] as { p50: number; p99: number };
      const what = hook === 'subscribe' ? 'subscribe + unsubscribe' : hook === 'rpc' ? 'rpc (beside ping)' : hook;
      rows.push(
        `| (b) ${what}: p50 / p99 with the hook, without | ${ms2(a.p50)} / ${ms2(a.p99)} ms vs ${ms2(b.p50)} / ${ms2(b.p99)} ms | added p99: ${ms2(a.p99 - b.p99)} ms |`,
      );
    }
    rows.push(`| (c) webhook publication events delivered (batched, signed) | ${fmt(webhooks)} events/s | ${fmt(WEBHOOK_EVENTS)} publications from ${CONNECTIONS} connections, first publish to last event received |`);
    const cpus = os.cpus();
    const section = [
      BEGIN,
      '## Hooks and webhooks (`npm run bench:hooks`)',
      '',
      'A trivial backend (node:http in a child process, answers at once, keep-alive) and hubs as child',
      'processes (`src/cli.ts`, uWS when it loads) with the same namespaces, one asking the backend',
      '(connect, subscribe, publish and rpc hooks) and one not; the load client is this process.',
      `Latency rows: ${fmt(SAMPLES)} sequential commands on one connection after 100 of warm-up.`,
      '',
      `Command: \`npm run bench:hooks\` on ${new Date().toISOString().slice(0, 10)}, ${cpus.length} cores (${cpus[0]?.model.trim() ?? '?'}), Node ${process.version}; load average at the start ${loadAtStart.toFixed(1)} (the cores are shared: the rows compare hooked and plain hubs measured back to back, the absolute numbers move with the load).`,
      '',
      '| scenario | measured | note |',
      '|---|---:|---|',
      ...rows,
      END,
    ].join('\n');
    process.stdout.write(`\n${section}\n`);
    if (record) {
      const doc = readFileSync(DOC, 'utf8');
      const from = doc.indexOf(BEGIN);
      const to = doc.indexOf(END);
      const next = from >= 0 && to >= 0 ? doc.slice(0, from) + section + doc.slice(to + END.length) : `${doc.trimEnd()}\n\n${section}\n`;
      writeFileSync(DOC, next);
      process.stdout.write('\nrecorded in docs/benchmarks.md\n');
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  },
);

// `npm run bench:conns -- --nodes 3`: idle connections on several hubbub nodes sharing state
// through the Redis engine. A throwaway redis-server (no persistence) on a free port, K hubbub
// processes (`node dist/cli.js`, engine redis) on free ports, all pinned to the server core; then
// W load processes per node (pinned to the load core, each from its own source address 127.0.0.2,
// .3, ..., so no process nears the 20,000 open-files limit) open N subscribed connections to each
// node, one node after another, K x N in all. It reports per node RSS per connection and idle CPU
// (as run.ts does for one server), redis-server's RSS and idle CPU, and one broadcast: a publish
// through node 1's HTTP API that Redis carries to every node, the time until the last subscriber
// on any node has it, and the count that got it. A connection that failed or a subscriber that
// missed the publication (not there within 30 s) makes the run fail (exit code 1). Everything
// started is killed on exit and on Ctrl-C (procs.ts).

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type Broadcast,
  cpuSeconds,
  freePort,
  type Ready,
  ROOT,
  rssKb,
  sleep,
  spawnServer,
  startWorker,
  stop,
  sumReady,
  timeBroadcast,
  waitHealthy,
  waitPong,
  type Worker,
} from './procs.js';

const CONFIG = path.join(ROOT, 'load/bin/hubbub-cluster.json');
const CHANNEL = 'bench:conns';
/**
 * How long the broadcast may take before a subscriber that has not got it counts as missing. One
 * trial on the shared machine took 10 s to reach the last of 57,000 (12 load processes on one busy
 * core read it late), so this is far above what the cluster itself needs.
 */
const BROADCAST_TIMEOUT_MS = 30_000;

export interface ClusterOptions {
  nodes: number;
  /** Connections per node. */
  conns: number;
  /** Load processes per node. */
  workers: number;
  idleMs: number;
  settleMs: number;
  pin: boolean;
  transport: 'uws' | 'ws';
  json: boolean;
  apiKey: string;
  log(line: string): void;
}

interface NodeRow {
  node: number;
  port: number;
  opened: number;
  failed: number;
  failures: Record<string, number>;
  connectMs: number;
  kbPerConn: number;
  /** Before any connection, and held with every connection open (the lower of two samples). */
  rssBeforeMb: number;
  rssMb: number;
  idleCpuPct: number;
  received: number;
  /** ms from the publish until the last subscriber of this node had it. */
  lastMs: number | undefined;
}

interface Result {
  bench: 'conns-cluster';
  nodes: number;
  connsPerNode: number;
  transport: string;
  node: string;
  cpu: string | undefined;
  rows: NodeRow[];
  redis: { rssBeforeMb: number; rssMb: number; idleCpuPct: number };
  broadcast: { expected: number; received: number; lastMs: number | undefined };
}

const mb = (kb: number) => kb / 1024;

export async function runCluster(opts: ClusterOptions): Promise<boolean> {
  const lastAddress = 1 + opts.nodes * opts.workers;
  if (lastAddress > 254) throw new Error(`--nodes ${opts.nodes} x --workers ${opts.workers} needs more source addresses than 127.0.0.2-254`);
  const perWorker = Math.ceil(opts.conns / opts.workers);
  if (perWorker > 18_000) throw new Error(`${perWorker} connections per load process is too near its 20,000 open-files limit: raise --workers`);

  const redisPort = await freePort();
  const redis = spawnServer(
    ['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    {},
    opts.pin,
  );
  const hubs: { port: number; pid: number; child: ReturnType<typeof spawnServer> }[] = [];
  const workers: Worker[][] = [];
  try {
    await waitPong(redisPort, redis);
    const redisPid = redis.pid as number;
    mkdirSync(path.dirname(CONFIG), { recursive: true });
    writeFileSync(
      CONFIG,
      JSON.stringify({
        server: { host: '127.0.0.1', maxConnections: 1_000_000, maxConnectionsPerIp: 1_000_000 },
        namespaces: { bench: {} },
        engine: { type: 'redis', url: `redis://127.0.0.1:${redisPort}` },
      }),
    );
    for (let k = 0; k < opts.nodes; k++) {
      const port = await freePort();
      const child = spawnServer(['node', 'dist/cli.js', '--config', CONFIG], {
        HUBBUB_PORT: String(port),
        HUBBUB_TRANSPORT: opts.transport,
        HUBBUB_LOG_LEVEL: 'warn',
        HUBBUB_API_KEYS: opts.apiKey,
      }, opts.pin);
      hubs.push({ port, pid: child.pid as number, child });
    }
    await Promise.all(hubs.map((h) => waitHealthy(h.port, h.child)));
    await sleep(1000);
    const rssBefore = hubs.map((h) => rssKb(h.pid));
    const redisRssBefore = rssKb(redisPid);
    opts.log(
      `bench:conns --nodes ${opts.nodes}: ${opts.conns} idle subscribed connections per node (${opts.nodes * opts.conns} in all), ` +
        `hubbub on ${opts.transport}, Redis on port ${redisPort}, load from 127.0.0.2-${lastAddress}; ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
    );

    // One node at a time: all of them at once puts three connection storms plus Redis on the one
    // server core, and on a shared machine that stalled the hubs' event loops past the engine's
    // 2 s command timeout (Redis reconnects, subscribes fail with `unavailable`). The bench is
    // about what idle connections cost, so it spreads the storms out.
    const ready: (Ready & { connectMs: number })[] = [];
    for (const [k, h] of hubs.entries()) {
      const started = Date.now();
      const mine: Worker[] = [];
      for (let i = 0; i < opts.workers; i++) {
        const count = Math.min(perWorker, opts.conns - i * perWorker);
        if (count > 0) mine.push(startWorker(h.port, '/ws', 'hubbub', count, `127.0.0.${2 + k * opts.workers + i}`, opts.pin));
      }
      workers.push(mine);
      const r = { ...sumReady(await Promise.all(mine.map((w) => w.ready))), connectMs: Date.now() - started };
      ready.push(r);
      opts.log(`node ${k + 1}: ${r.opened} subscribed (${r.failed} failed${r.failed > 0 ? `: ${JSON.stringify(r.failures)}` : ''}) in ${r.connectMs} ms`);
    }

    await sleep(opts.settleMs);
    const settledRss = hubs.map((h) => rssKb(h.pid));
    const cpu0 = hubs.map((h) => cpuSeconds(h.pid));
    const redisCpu0 = cpuSeconds(redisPid);
    const t0 = Date.now();
    await sleep(opts.idleMs);
    const wall = (Date.now() - t0) / 1000;
    const idleCpu = hubs.map((h, k) => ((cpuSeconds(h.pid) - (cpu0[k] as number)) / wall) * 100);
    const redisIdleCpu = ((cpuSeconds(redisPid) - redisCpu0) / wall) * 100;
    const endRss = hubs.map((h) => rssKb(h.pid));
    const redisRss = rssKb(redisPid);

    const first = hubs[0] as { port: number };
    const total = ready.reduce((n, r) => n + r.opened, 0);
    const broadcast: Broadcast = await timeBroadcast(workers.flat(), total, async () => {
      const r = await fetch(`http://127.0.0.1:${first.port}/api/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${opts.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: CHANNEL, data: { bench: 'broadcast' } }),
      });
      if (!r.ok) throw new Error(`publish through node 1: ${r.status} ${await r.text()}`);
    }, BROADCAST_TIMEOUT_MS);

    const rows: NodeRow[] = hubs.map((h, k) => {
      const r = ready[k] as (typeof ready)[number];
      const mine = broadcast.perWorker.slice(k * opts.workers, k * opts.workers + (workers[k] ?? []).length);
      const lasts = mine.flatMap((w) => (w.lastMs === undefined ? [] : [w.lastMs]));
      const held = Math.min(settledRss[k] as number, endRss[k] as number);
      return {
        node: k + 1,
        port: h.port,
        opened: r.opened,
        failed: r.failed,
        failures: r.failures,
        connectMs: r.connectMs,
        // The lower of the two samples, as in run.ts: what connecting left behind is collected once idle.
        kbPerConn: (held - (rssBefore[k] as number)) / Math.max(1, r.opened),
        rssBeforeMb: mb(rssBefore[k] as number),
        rssMb: mb(held),
        idleCpuPct: idleCpu[k] as number,
        received: mine.reduce((n, w) => n + w.count, 0),
        lastMs: lasts.length > 0 ? Math.max(...lasts) : undefined,
      };
    });
    const expected = opts.nodes * opts.conns;
    const result: Result = {
      bench: 'conns-cluster',
      nodes: opts.nodes,
      connsPerNode: opts.conns,
      transport: opts.transport,
      node: process.version,
      cpu: os.cpus()[0]?.model,
      rows,
      redis: { rssBeforeMb: mb(redisRssBefore), rssMb: mb(redisRss), idleCpuPct: redisIdleCpu },
      broadcast: { expected, received: broadcast.received, lastMs: broadcast.lastMs },
    };
    print(result, opts);
    const ok = broadcast.received === expected && rows.every((r) => r.failed === 0);
    if (!ok) {
      console.error(
        `ERROR: ${expected - total} connection(s) failed to subscribe and ${total - broadcast.received} subscriber(s) did not get the publication ` +
          `(${broadcast.received} of ${expected} expected)`,
      );
    }
    return ok;
  } finally {
    await Promise.all(workers.flat().map((w) => stop(w.child)));
    await Promise.all(hubs.map((h) => stop(h.child)));
    await stop(redis);
  }
}

function print(result: Result, opts: ClusterOptions): void {
  if (opts.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const ms = (v: number | undefined) => (v === undefined ? 'none arrived' : `${v.toFixed(0)} ms`);
  console.log(`\n| node | connections | RSS per connection | RSS (before) | idle CPU | broadcast: last subscriber after | got it |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of result.rows) {
    console.log(
      `| hubbub ${r.node}${r.node === 1 ? ' (published here)' : ''} | ${r.opened.toLocaleString('en')} | ${r.kbPerConn.toFixed(2)} KB | ${r.rssMb.toFixed(0)} MB (${r.rssBeforeMb.toFixed(0)} MB) | ` +
        `${r.idleCpuPct.toFixed(2)}% | ${ms(r.lastMs)} | ${r.received.toLocaleString('en')} |`,
    );
  }
  const { redis, broadcast } = result;
  console.log(`| redis-server | - | - | ${redis.rssMb.toFixed(1)} MB (${redis.rssBeforeMb.toFixed(1)} MB) | ${redis.idleCpuPct.toFixed(2)}% | - | - |`);
  console.log(
    `| all nodes | ${result.rows.reduce((n, r) => n + r.opened, 0).toLocaleString('en')} | - | - | - | ${ms(broadcast.lastMs)} | ` +
      `${broadcast.received.toLocaleString('en')} of ${broadcast.expected.toLocaleString('en')} |`,
  );
}

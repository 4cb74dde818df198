// `npm run load -- <scenario> [options]`: the Node load harness, for where k6 is not at hand.
// Starts (or targets) a hub, forks worker processes holding raw-socket clients on source
// addresses 127.0.0.2, .3, ... (worker.ts), publishes over their sockets or the HTTP API, runs a
// few SDK subscribers (publishers.ts), prints a progress line a second, then checks every
// client's deliveries against the acknowledged publications (report.ts). See --help (options.ts).

import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLK_TCK, canPin, sleep } from '../lib/proc.js';
import { Histogram } from './histogram.js';
import { HUB_CPU, type HubTarget, hubHeapBytes, hubUsage, LOAD_CPUS, remoteHub, startOwnHub, type Usage } from './hub.js';
import type { FromWorker, Position, Tally, ToWorker, WorkerFinal, WorkerInit, WorkerStats } from './messages.js';
import { HELP, type Options, parseOptions } from './options.js';
import { HttpPublisher, SdkSample } from './publishers.js';
import { latency, printSummary, type Sample, type Summary, soakVerdicts } from './report.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** After the load stops, how long deliveries may take to catch up before the rest counts as lost. */
const DRAIN_MS = 5000;
/** ...or once this many polls 100 ms apart saw no new delivery. */
const DRAIN_STILL_POLLS = 10;

interface Worker {
  child: ChildProcess;
  next<T extends FromWorker['type']>(type: T): Promise<Extract<FromWorker, { type: T }>>;
  send(m: ToWorker): void;
}

function startWorker(pin: boolean): Worker {
  const child = fork(path.join(HERE, 'worker.ts'), [], {
    // Pinned: `taskset -c <LOAD_CPUS> node --import tsx worker.ts` (the IPC channel survives the exec).
    execPath: pin ? 'taskset' : process.execPath,
    execArgv: pin ? ['-c', LOAD_CPUS, process.execPath, '--import', 'tsx'] : ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<string, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>();
  child.on('message', (m: FromWorker) => {
    const w = waiting.get(m.type);
    waiting.delete(m.type);
    w?.resolve(m);
  });
  child.once('exit', (code) => {
    for (const [type, w] of waiting) w.reject(new Error(`a worker exited (${code}) before sending ${type}`));
  });
  return {
    child,
    next: <T extends FromWorker['type']>(type: T) =>
      new Promise<Extract<FromWorker, { type: T }>>((resolve, reject) => {
        waiting.set(type, { resolve: resolve as (m: FromWorker) => void, reject });
      }),
    send: (m) => child.send(m),
  };
}

/** The channel of each client, by scenario. */
function channelsFor(o: Options): string[] {
  return Array.from({ length: o.conns }, (_, i) => {
    if (o.scenario === 'fanout') return `${o.namespace}:fanout`;
    if (o.scenario === 'notify') return `${o.namespace}:user-${i}`;
    return `${o.namespace}:room-${i % o.rooms}`;
  });
}

/** Keeps the newest acknowledged position per channel (a new epoch replaces the old one). */
function mergeAcked(into: Map<string, Position>, from: Iterable<[string, Position]>): void {
  for (const [channel, pos] of from) {
    const had = into.get(channel);
    if (had === undefined || (had[0] === pos[0] && had[1] < pos[1])) into.set(channel, pos);
  }
}

function addTally(a: Tally, b: Tally): Tally {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof Tally)[]) out[k] += b[k];
  return out;
}

async function run(o: Options): Promise<Summary> {
  const pin = o.pin && o.url === undefined && canPin(HUB_CPU);
  if (o.pin && o.url === undefined && !pin) console.error(`taskset -c ${HUB_CPU} is not usable here; running unpinned`);
  const storm = o.scenario === 'reconnect-storm';
  const per = Math.ceil(o.conns / o.workers);
  // Forked before the hub starts: loading a worker (tsx) takes as long as starting a hub.
  const workers: Worker[] = Array.from({ length: Math.ceil(o.conns / per) }, () => startWorker(pin));
  let hub: HubTarget | undefined;
  let sdk: SdkSample | undefined;
  try {
    hub =
      o.url === undefined
        ? await startOwnHub({ namespace: o.namespace, pin, transport: o.transport, historySize: o.history, dataDir: o.dataDir ?? (storm ? true : undefined) })
        : remoteHub(o.url, o.api as string, o.apiKey ?? '', o.hubPid);
    const channels = channelsFor(o);
    // Over a socket: fanout's one publisher, chat's every member. Otherwise the HTTP API.
    const wsPublishing = o.scenario === 'fanout' || o.scenario === 'chat';
    for (const [w, worker] of workers.entries()) {
      const mine = channels.slice(w * per, (w + 1) * per);
      const share = mine.length / o.conns;
      const publishers = o.scenario === 'fanout' ? (w === 0 ? 1 : 0) : o.scenario === 'chat' ? mine.length : 0;
      const init: WorkerInit = {
        host: hub.host,
        port: hub.port,
        path: hub.wsPath,
        localAddress: `127.0.0.${2 + w}`,
        channels: mine,
        publishers,
        rate: o.scenario === 'fanout' ? (w === 0 ? o.rate : 0) : o.scenario === 'chat' ? o.rate * share : 0,
        payload: o.payload,
        churnable: Math.floor(mine.length * o.churnShare),
        churnPerSec: o.churn * share,
        reconnectJitterMs: o.reconnectJitterMs,
      };
      worker.send({ type: 'init', init });
    }
    const t0 = Date.now();
    const ready = await Promise.all(workers.map((w) => w.next('ready')));
    const connections = ready.reduce((a, r) => a + r.subscribed, 0);
    const connectFailures = ready.reduce((a, r) => a + r.failed, 0);
    if (o.progress) console.error(`${connections} clients subscribed (${connectFailures} failed) in ${Date.now() - t0} ms`);

    const url = `ws://${hub.host}:${hub.port}${hub.wsPath}`;
    sdk = new SdkSample(url, channels.slice(0, o.sdk));
    await sdk.ready(10_000);
    const http = wsPublishing ? undefined : new HttpPublisher(hub.api, hub.apiKey, [...new Set(channels)], o.rate, o.payload);

    const hist = new Histogram();
    let stats: WorkerStats[] = [];
    const poll = async (): Promise<void> => {
      stats = await Promise.all(workers.map((w) => { const s = w.next('stats'); w.send({ type: 'stats' }); return s; }));
      for (const s of stats) hist.merge(s.hist);
    };
    const errorsNow = (): Record<string, number> => {
      const all: Record<string, number> = {};
      const add = (e: Record<string, number>): void => {
        for (const [k, v] of Object.entries(e)) all[k] = (all[k] ?? 0) + v;
      };
      for (const s of stats) add(s.errors);
      if (http !== undefined) add(http.errors);
      if (sdk !== undefined) add(sdk.errors);
      return all;
    };

    // The load itself, with a progress line a second and (soak) RSS samples.
    for (const w of workers) w.send({ type: 'start' });
    http?.start();
    const start = Date.now();
    const cpu0 = hubUsage(hub.pid);
    let cpuTicks = 0;
    let lastCpu: Usage | undefined = cpu0;
    let peakRssKb = 0;
    let lastRssKb: number | undefined;
    let lastDeliveries = 0;
    let lastAt = start;
    const samples: Sample[] = [];
    let nextSampleAt = start;
    let restarted = false;
    let restartDowntimeMs: number | undefined;
    let restarting: Promise<void> | undefined;
    // One tick a second (soak: as often as --sample-s asks, if more often), a progress line a second.
    const tickMs = o.scenario === 'soak' ? Math.min(1000, o.sampleS * 1000) : 1000;
    let printedAt = start;
    while (Date.now() - start < o.durationS * 1000) {
      await sleep(Math.min(tickMs, start + o.durationS * 1000 - Date.now()));
      await poll();
      const usage = hubUsage(hub.pid);
      if (usage !== undefined) {
        // Summed per interval, so a restart (a new process, counting from zero) does not go negative.
        if (lastCpu !== undefined && usage.cpuTicks >= lastCpu.cpuTicks) cpuTicks += usage.cpuTicks - lastCpu.cpuTicks;
        lastCpu = usage;
        peakRssKb = Math.max(peakRssKb, usage.rssKb);
        lastRssKb = usage.rssKb;
      }
      const at = Date.now();
      const deliveries = stats.reduce((a, s) => a + s.deliveries, 0);
      if (o.scenario === 'soak' && at >= nextSampleAt) {
        nextSampleAt += o.sampleS * 1000;
        const heap = await hubHeapBytes(hub.api);
        samples.push({ atS: (at - start) / 1000, rssMb: usage === undefined ? undefined : usage.rssKb / 1024, heapMb: heap === undefined ? undefined : heap / 2 ** 20 });
      }
      if (o.progress && at - printedAt >= 1000 - tickMs / 2) {
        printedAt = at;
        const errs = Object.values(errorsNow()).reduce((a, v) => a + v, 0);
        const p99 = hist.quantile(0.99);
        console.error(
          `[${((at - start) / 1000).toFixed(0).padStart(4)}s] connected ${stats.reduce((a, s) => a + s.connected, 0)}/${o.conns}  ` +
            `deliveries/s ${Math.round(((deliveries - lastDeliveries) * 1000) / Math.max(1, at - lastAt))}  p99 ${p99 === undefined ? '-' : p99.toFixed(2)} ms  ` +
            `errors ${errs}  hub RSS ${usage === undefined ? '-' : (usage.rssKb / 1024).toFixed(0)} MB CPU ${lastCpu === undefined ? '-' : ((cpuTicks / CLK_TCK / ((at - start) / 1000)) * 100).toFixed(0)}%`,
        );
      }
      lastDeliveries = deliveries;
      lastAt = at;
      if (storm && !restarted && at - start >= o.restartAtS * 1000 && hub.restart !== undefined) {
        restarted = true;
        if (o.progress) console.error('restarting the hub (SIGTERM, then start again on the same port and data dir)');
        const own = hub;
        lastCpu = undefined;
        restarting = hub.restart().then((d) => {
          restartDowntimeMs = d;
          lastCpu = hubUsage(own.pid);
        });
      }
    }
    await restarting;
    const loadSeconds = (Date.now() - start) / 1000;
    const deliveriesDuringLoad = stats.reduce((a, s) => a + s.deliveries, 0);

    // Stop publishing, collect every acknowledged position, then let deliveries catch up.
    await http?.stop();
    const stopped = await Promise.all(workers.map((w) => { const s = w.next('stopped'); w.send({ type: 'stop-load' }); return s; }));
    const finals = new Map<string, Position>();
    if (http !== undefined) mergeAcked(finals, http.acked);
    for (const s of stopped) mergeAcked(finals, Object.entries(s.acked));
    const finalsObj = Object.fromEntries(finals);
    let results: WorkerFinal[] = [];
    const drainUntil = Date.now() + DRAIN_MS;
    let lastReceived = -1;
    let still = 0;
    for (;;) {
      results = await Promise.all(workers.map((w) => { const f = w.next('final'); w.send({ type: 'final', finals: finalsObj }); return f; }));
      const lost = results.reduce((a, r) => a + r.stayed.lost + r.reconnected.lost, 0);
      const received = results.reduce((a, r) => a + r.stayed.received + r.reconnected.received, 0);
      // Done when nothing is missing, or nothing more arrived for a while (the rest is lost).
      still = received === lastReceived ? still + 1 : 0;
      lastReceived = received;
      if (lost === 0 || still >= DRAIN_STILL_POLLS || Date.now() > drainUntil) break;
      await sleep(100);
    }
    await poll();

    const zero: Tally = { clients: 0, expected: 0, received: 0, lost: 0, silentGaps: 0, reportedGaps: 0, resumed: 0, duplicates: 0 };
    const stayed = results.reduce((a, r) => addTally(a, r.stayed), zero);
    const reconnected = results.reduce((a, r) => addTally(a, r.reconnected), zero);
    const all = addTally(stayed, reconnected);
    const wall = (Date.now() - start) / 1000;
    const summary: Summary = {
      scenario: o.scenario,
      seconds: loadSeconds,
      connections,
      connectFailures,
      publications: stats.reduce((a, s) => a + s.acks, http?.acks ?? 0),
      deliveries: deliveriesDuringLoad,
      deliveriesPerSec: deliveriesDuringLoad / loadSeconds,
      latencyMs: latency(hist),
      sdk: { clients: o.sdk, received: sdk.received, reportedGaps: sdk.reportedGaps, latencyMs: latency(sdk.hist) },
      expected: all.expected,
      received: all.received,
      lost: all.lost,
      silentGaps: all.silentGaps,
      reportedGaps: all.reportedGaps,
      resumed: all.resumed,
      duplicates: all.duplicates,
      stayed,
      reconnected,
      unplannedCloses: stats.reduce((a, s) => a + s.unplannedCloses, 0),
      retries: stats.reduce((a, s) => a + s.retries, 0),
      epochMismatch: results.reduce((a, r) => a + r.epochMismatch, 0),
      errors: errorsNow(),
      hub: {
        rssMb: lastRssKb === undefined ? undefined : lastRssKb / 1024,
        peakRssMb: peakRssKb === 0 ? undefined : peakRssKb / 1024,
        cpuPct: cpu0 === undefined ? undefined : (cpuTicks / CLK_TCK / wall) * 100,
        ...(restartDowntimeMs === undefined ? {} : { restartDowntimeMs }),
      },
      pass: all.lost === 0 && all.silentGaps === 0 && all.expected > 0,
    };
    if (o.scenario === 'soak') {
      const verdicts = soakVerdicts(samples, o.rssBoundMb, stayed, reconnected);
      summary.soak = { samples, verdicts };
      summary.pass = summary.pass && verdicts.every((v) => v.pass);
    }
    return summary;
  } finally {
    for (const w of workers) {
      if (w.child.connected) w.send({ type: 'exit' });
      w.child.kill('SIGKILL');
    }
    await sdk?.close();
    await hub?.stop();
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts === 'help') {
    console.log(HELP);
    return;
  }
  const summary = await run(opts);
  if (opts.json) console.log(JSON.stringify(summary, null, 2));
  else printSummary(summary);
  process.exitCode = summary.pass ? 0 : 1;
}

// Exit through process.exit on a signal or a closed stdout, so the own hub is killed ('exit' in hub.ts).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => process.exit(130));
process.stdout.on('error', () => process.exit(2));

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
});

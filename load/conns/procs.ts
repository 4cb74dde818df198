// Process plumbing shared by `npm run bench:conns` (run.ts) and its multi-node mode (cluster.ts):
// free ports, RSS and CPU time from /proc, readiness by polling /health, load workers over IPC,
// and one registry of every child started, killed on exit, on an error and on Ctrl-C (SIGINT) or
// SIGTERM, so a run never leaves a server, a redis-server or a load process behind. Children write
// to our stderr, so stdout holds only the results (--json).

import { type ChildProcess, fork, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLK_TCK, cpuTicks, freePort, now, rssKb, sleep, waitHealthy } from '../lib/proc.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Servers (hubs, redis-server) run on this core, load processes on the other. */
export const SERVER_CPU = 1;
export const LOAD_CPU = 0;

export type Proto = 'bare' | 'hubbub' | 'socketio';

export { freePort, now, rssKb, sleep, waitHealthy };

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}
process.on('exit', killAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

/** Starts a server process (pinned to SERVER_CPU with `taskset`, which execs it: same pid), tracked for teardown. */
export function spawnServer(argv: string[], env: Record<string, string>, pin: boolean): ChildProcess {
  const full = pin ? ['taskset', '-c', String(SERVER_CPU), ...argv] : argv;
  const child = spawn(full[0] as string, full.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 2, 2] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Kills a tracked child and waits until it has exited. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  return cpuTicks(pid) / CLK_TCK;
}

/** Resolves once something on the port answers a RESP PING with +PONG. */
export async function waitPong(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.setTimeout(500, () => (s.destroy(), resolve(false)));
      s.on('connect', () => s.write('PING\r\n'));
      s.on('data', (d) => (s.destroy(), resolve(d.toString().startsWith('+PONG'))));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`);
    await sleep(20);
  }
}

export interface Ready {
  opened: number;
  failed: number;
  failures: Record<string, number>;
}

export interface Worker {
  child: ChildProcess;
  /** Resolves with the worker's next message of this type. */
  next(type: string): Promise<Record<string, unknown>>;
  ready: Promise<Ready>;
  /** Arms delivery timing: from now on the worker times each socket's first delivery. */
  arm(): Promise<void>;
  /** How many sockets have had a delivery since arm, and when the last of them got it (ms, or 0). */
  received(): Promise<{ count: number; last: number }>;
}

/** One load process (worker.ts) opening `count` connections from `address`, pinned to LOAD_CPU. */
export function startWorker(port: number, wsPath: string, proto: Proto, count: number, address: string, pin: boolean): Worker {
  const child = fork(path.join(ROOT, 'load/conns/worker.ts'), [String(port), wsPath, String(count), address, proto], {
    // Pinned: `taskset -c 0 node --import tsx worker.ts ...` (the IPC channel survives the exec).
    execPath: pin ? 'taskset' : process.execPath,
    execArgv: pin ? ['-c', String(LOAD_CPU), process.execPath, '--import', 'tsx'] : ['--import', 'tsx'],
    stdio: ['ignore', 2, 2, 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const waiting = new Map<string, (m: Record<string, unknown>) => void>();
  child.on('message', (m: Record<string, unknown>) => {
    const resolve = waiting.get(String(m.type));
    waiting.delete(String(m.type));
    resolve?.(m);
  });
  const next = (type: string) => new Promise<Record<string, unknown>>((resolve) => waiting.set(type, resolve));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => reject(new Error(`load worker ${address} exited (${signal ?? code}) before it was ready`))),
  );
  exited.catch(() => undefined);
  const ready = Promise.race([next('ready'), exited]).then((m) => ({
    opened: Number(m.opened),
    failed: Number(m.failed),
    failures: m.failures as Record<string, number>,
  }));
  return {
    child,
    next,
    ready,
    arm: async () => {
      const armed = next('armed');
      child.send({ type: 'arm' });
      await armed;
    },
    received: async () => {
      const r = next('received');
      child.send({ type: 'report' });
      const m = await r;
      return { count: Number(m.count), last: Number(m.last) };
    },
  };
}

/** Sums the workers' ready reports. */
export function sumReady(ready: Ready[]): Ready {
  const failures: Record<string, number> = {};
  for (const m of ready) for (const [why, n] of Object.entries(m.failures)) failures[why] = (failures[why] ?? 0) + n;
  return { opened: ready.reduce((n, m) => n + m.opened, 0), failed: ready.reduce((n, m) => n + m.failed, 0), failures };
}

export interface Broadcast {
  received: number;
  /** ms from just before the publish call until the last subscriber had it; undefined when none did. */
  lastMs: number | undefined;
  /** The same, per worker (in the order given). */
  perWorker: { count: number; lastMs: number | undefined }[];
}

/**
 * Arms every worker, publishes once, and polls until all `opened` have it or `timeoutMs` passed. The
 * times are taken in the workers as each socket reads the frame, so the polling interval does not
 * add to them.
 */
export async function timeBroadcast(workers: Worker[], opened: number, publish: () => Promise<void>, timeoutMs = 10_000): Promise<Broadcast> {
  await Promise.all(workers.map((w) => w.arm()));
  const sentAt = now();
  await publish();
  let reports: { count: number; last: number }[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await sleep(100);
    reports = await Promise.all(workers.map((w) => w.received()));
    if (reports.reduce((n, r) => n + r.count, 0) >= opened) break;
  }
  const received = reports.reduce((n, r) => n + r.count, 0);
  const last = Math.max(0, ...reports.map((r) => r.last));
  return {
    received,
    lastMs: received > 0 ? last - sentAt : undefined,
    perWorker: reports.map((r) => ({ count: r.count, lastMs: r.count > 0 ? r.last - sentAt : undefined })),
  };
}

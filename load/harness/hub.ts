// The hub under load: by default the harness's own (`node dist/cli.js` with a generated config on
// a free port, pinned to core 1 with taskset when it can), or a running one given by --url/--api.
// Also where its RSS, CPU time and heap are read: /proc for a local pid, /metrics for the heap.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuTicks, freePort, rssKb, waitHealthy } from '../lib/proc.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HUB_CPU = 1;
/** Where the client processes run when pinned: every core but the hub's (core 0 on a 2-core machine). */
export const LOAD_CPUS = os
  .cpus()
  .map((_, i) => i)
  .filter((i) => i !== HUB_CPU)
  .join(',');
/** The API key of the harness's own hub (any 16+ characters). */
export const OWN_API_KEY = 'load-harness-api-key-0123456789';

/**
 * The own hub's configuration: limits out of the way of a load test (every connection comes from
 * a handful of addresses and publishers send thousands of commands a second), one namespace
 * clients may publish to, with history so a reconnecting client resumes, and no `from` on
 * publications (53 bytes less per delivery, as a feed would run).
 */
export function ownHubConfig(namespace: string, historySize: number): object {
  return {
    server: { host: '127.0.0.1', maxConnections: 10_000_000, maxConnectionsPerIp: 10_000_000 },
    limits: { commands: { rate: 1e9, burst: 1e9 }, bytes: { rate: 1e12, burst: 1e12 } },
    api: { keys: [OWN_API_KEY], rateLimit: { rate: 1e9, burst: 1e9 } },
    namespaces: { [namespace]: { clientPublish: true, publisherInfo: false, history: { size: historySize } } },
  };
}

/**
 * Own hubs still running, killed when the harness exits however it exits (an error, Ctrl-C, a
 * closed stdout pipe): a hub has no IPC channel to notice its parent is gone, unlike the workers.
 */
const running = new Map<ChildProcess, string>();
process.on('exit', () => {
  for (const [child, tmp] of running) {
    child.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
});

export interface HubTarget {
  host: string;
  port: number;
  wsPath: string;
  api: string;
  apiKey: string;
  /** The hub's pid when it is on this machine (own hub, or --hub-pid): RSS and CPU come from /proc. */
  pid: number | undefined;
  /** Own hub only: SIGTERM, wait for the exit, start again on the same port and data dir. */
  restart: (() => Promise<number>) | undefined;
  stop(): Promise<void>;
}

export interface OwnHubOptions {
  namespace: string;
  pin: boolean;
  transport: string;
  historySize: number;
  /** Keep history in DIR/hubbub.aof (survives a restart); `true`: a temp dir removed at stop. */
  dataDir: string | true | undefined;
}

export async function startOwnHub(o: OwnHubOptions): Promise<HubTarget> {
  const port = await freePort();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hubbub-load-'));
  const config = path.join(tmp, 'hubbub.json');
  writeFileSync(config, JSON.stringify(ownHubConfig(o.namespace, o.historySize)));
  const dataDir = o.dataDir === true ? path.join(tmp, 'data') : o.dataDir;
  const argv = ['node', path.join(ROOT, 'dist/cli.js'), '--config', config, '--port', String(port), '--transport', o.transport, '--log-level', 'error'];
  if (dataDir !== undefined) argv.push('--data-dir', dataDir);
  const command = o.pin ? ['taskset', '-c', String(HUB_CPU), ...argv] : argv;
  let child: ChildProcess;
  const start = async (): Promise<void> => {
    // The hub's output goes to stderr: stdout is the summary's (--json).
    child = spawn(command[0] as string, command.slice(1), { cwd: ROOT, stdio: ['ignore', process.stderr, 'inherit'] });
    const started = child;
    running.set(started, tmp);
    started.once('exit', () => running.delete(started));
    await waitHealthy(port, child);
    target.pid = child.pid;
  };
  const exited = (c: ChildProcess): Promise<void> =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
  const target: HubTarget = {
    host: '127.0.0.1',
    port,
    wsPath: '/ws',
    api: `http://127.0.0.1:${port}`,
    apiKey: OWN_API_KEY,
    pid: undefined,
    restart: async () => {
      const t0 = Date.now();
      child.kill('SIGTERM');
      await exited(child);
      await start();
      return Date.now() - t0;
    },
    stop: async () => {
      child.kill('SIGKILL');
      await exited(child);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  await start();
  return target;
}

export function remoteHub(url: string, api: string, apiKey: string, pid: number | undefined): HubTarget {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || (u.protocol === 'wss:' ? 443 : 80)),
    wsPath: u.pathname + u.search,
    api: api.replace(/\/$/, ''),
    apiKey,
    pid,
    restart: undefined,
    stop: async () => {},
  };
}

export interface Usage {
  rssKb: number;
  cpuTicks: number;
}

/** The hub's RSS and CPU time, or undefined when there is no pid (or it is gone, e.g. restarting). */
export function hubUsage(pid: number | undefined): Usage | undefined {
  if (pid === undefined) return undefined;
  try {
    return { rssKb: rssKb(pid), cpuTicks: cpuTicks(pid) };
  } catch {
    return undefined;
  }
}

/** V8 heap in use, from the hub's /metrics (prom-client's default metrics); undefined when absent. */
export async function hubHeapBytes(api: string): Promise<number | undefined> {
  try {
    const r = await fetch(`${api}/metrics`);
    if (!r.ok) return undefined;
    const m = /^hubbub_nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+?\d+)?)$/m.exec(await r.text());
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

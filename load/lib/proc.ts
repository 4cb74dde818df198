// Shared by the load runners (bench:conns, the load harness): a free port, a server's RSS and CPU
// time from /proc, waiting for /health, and whether `taskset` can pin to a core here.

import { type ChildProcess, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these. */
export const CLK_TCK = 100;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one machine. */
export const now = (): number => performance.timeOrigin + performance.now();

/**
 * Milliseconds on the system-wide monotonic clock (CLOCK_MONOTONIC, since boot): comparable across
 * processes on one machine, sub-millisecond, and immune to wall-clock steps, unlike
 * `performance.timeOrigin`, which each process fixes from the wall clock when it starts.
 */
export function monoMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

export function rssKb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

/** utime + stime of a process, in clock ticks. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Polls `GET /health` until it answers 200; throws if the child exits first or after `timeoutMs`. */
export async function waitHealthy(port: number, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error('server did not answer /health');
    await sleep(50);
  }
}

/** Whether `taskset -c <cpu>` works here (the binary exists and the core does). */
export function canPin(cpu: number): boolean {
  try {
    execFileSync('taskset', ['-c', String(cpu), 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// `npm run bench:conns -- --nodes 3`, small: three hubbub processes (dist/, built by `npm install`)
// on a throwaway Redis, 300 subscribed connections each from real load processes; one publish
// through node 1's HTTP API reaches every subscriber on every node, and the run leaves no process
// of its own behind.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { redisAvailable } from '../helpers/redis-server.js';

interface ClusterResult {
  rows: { node: number; opened: number; failed: number; received: number }[];
  broadcast: { expected: number; received: number };
}

/** Pids whose parent is `ppid`, from /proc. */
function childrenOf(ppid: number): number[] {
  const line = readFileSync(`/proc/${ppid}/task/${ppid}/children`, 'utf8').trim();
  return line === '' ? [] : line.split(' ').map(Number);
}

/** What the runner starts (not tsx's own esbuild helper, which exits after the runner). */
const BENCH_PROCESS = /redis-server|dist\/cli\.js|conns\/worker\.ts/;

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('bench:conns --nodes 3', () => {
  if (!redisAvailable('bench:conns --nodes 3')) return;

  it('delivers one publication through node 1 to every subscriber on all three nodes', { timeout: 60_000 }, async () => {
    const args = ['--import', 'tsx', 'load/conns/run.ts', '--nodes', '3', '--conns', '300', '--workers', '1', '--idle-ms', '500', '--settle-ms', '200', '--no-pin', '--json'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const started = new Map<number, string>();
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Note what the runner starts (redis-server, hubs, load processes), to check they are gone after.
    const watch = setInterval(() => {
      if (child.pid === undefined || !alive(child.pid)) return;
      for (const pid of childrenOf(child.pid)) {
        const command = started.get(pid) ?? commandOf(pid);
        if (BENCH_PROCESS.test(command)) started.set(pid, command);
      }
    }, 100);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearInterval(watch);

    expect(code, stderr).toBe(0);
    expect(() => JSON.parse(stdout) as unknown, `stdout is not one JSON document:\n${stdout}`).not.toThrow();
    const result = JSON.parse(stdout) as ClusterResult;
    expect(result.rows.map((r) => [r.node, r.opened, r.failed, r.received])).toEqual([
      [1, 300, 0, 300],
      [2, 300, 0, 300],
      [3, 300, 0, 300],
    ]);
    expect(result.broadcast).toMatchObject({ expected: 900, received: 900 });
    // redis-server, three hubs, three load processes; none of them still running.
    expect(started.size).toBe(7);
    // Killed by the runner on its way out; the kernel may take a moment to finish them after it exits.
    const deadline = Date.now() + 5000;
    while ([...started.keys()].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect([...started].filter(([pid]) => alive(pid))).toEqual([]);
  });
});

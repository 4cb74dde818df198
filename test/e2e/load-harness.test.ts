// The Node load harness (`npm run load`), run for real in short: its own hub, worker processes on
// 127.0.0.2.., SDK subscribers. A summary that says "nothing lost" proves little unless the same
// harness says "lost" when deliveries do go missing: the last test points it at a tiny server
// that speaks the protocol but drops some publications for some subscribers.

import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';

interface Run {
  code: number | null;
  summary: Record<string, unknown> & {
    expected: number;
    received: number;
    lost: number;
    silentGaps: number;
    latencyMs: Record<string, number | undefined>;
    soak?: { verdicts: { name: string; pass: boolean; detail: string }[]; samples: unknown[] };
  };
  stderr: string;
}

function runHarness(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'load/harness/run.ts', ...args, '--json', '--quiet', '--no-pin'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      try {
        resolve({ code, summary: JSON.parse(stdout) as Run['summary'], stderr });
      } catch {
        reject(new Error(`no JSON summary (exit ${code}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

describe('npm run load', () => {
  it('runs a short fanout against its own hub: every acknowledged publication reaches every subscriber', async () => {
    const { code, summary, stderr } = await runHarness(['fanout', '--conns', '300', '--workers', '2', '--duration', '2', '--rate', '50']);
    expect(summary, stderr).toMatchObject({ lost: 0, silentGaps: 0, duplicates: 0, connections: 300, pass: true });
    expect(summary.expected).toBeGreaterThan(0);
    expect(summary.received).toBe(summary.expected);
    for (const q of ['p50', 'p90', 'p99', 'p999']) expect(summary.latencyMs[q]).toBeGreaterThan(0);
    expect(code).toBe(0);
  }, 40_000);

  it('passes a short soak: RSS flat, nothing lost by those who stayed, no silent gap for those who churned', async () => {
    const { code, summary, stderr } = await runHarness(['soak', '--duration', '6', '--sample-s', '0.5', '--conns', '200', '--churn', '20']);
    const verdicts = summary.soak?.verdicts ?? [];
    expect(verdicts.map((v) => v.name)).toEqual([
      'RSS flat after warm-up',
      'nothing lost by clients that stayed connected',
      'no silent gap for clients that reconnected',
    ]);
    for (const v of verdicts) expect(v.pass, `${v.name}: ${v.detail}\n${stderr}`).toBe(true);
    expect(summary).toMatchObject({ lost: 0, silentGaps: 0, stayed: { lost: 0 }, reconnected: { silentGaps: 0 } });
    expect((summary.reconnected as { resumed: number }).resumed).toBeGreaterThan(0);
    expect(code).toBe(0);
  }, 40_000);

  describe('against a server that drops publications', () => {
    let server: Server;
    let port: number;

    beforeAll(async () => {
      // Speaks just enough of the protocol (docs/protocol.md): connect, subscribe, publish. Every
      // fifth publication is not sent to every other subscriber, and nothing says so.
      const channels = new Map<string, { offset: number; subs: Set<WebSocket> }>();
      let connections = 0;
      const lossy = new WeakSet<WebSocket>();
      server = createServer((_req, res) => res.writeHead(404).end());
      const wss = new WebSocketServer({ server, path: '/ws' });
      wss.on('connection', (ws) => {
        if (connections++ % 2 === 1) lossy.add(ws);
        ws.on('message', (raw) => {
          const msg = JSON.parse(raw.toString()) as Cmd | Cmd[];
          const replies = (Array.isArray(msg) ? msg : [msg]).map((cmd) => {
            const ch = channels.get(cmd.channel ?? '') ?? { offset: 0, subs: new Set<WebSocket>() };
            if (cmd.channel !== undefined) channels.set(cmd.channel, ch);
            if (cmd.method === 'connect') return { id: cmd.id, result: { client: 'c', user: '', version: 'fake', pingIntervalMs: 25_000 } };
            if (cmd.method === 'subscribe') {
              ch.subs.add(ws);
              return { id: cmd.id, result: { offset: ch.offset, epoch: 'fake' } };
            }
            const offset = ++ch.offset;
            const push = JSON.stringify({ push: 'pub', channel: cmd.channel, offset, epoch: 'fake', data: cmd.data });
            setImmediate(() => {
              for (const sub of ch.subs) if (!(offset % 5 === 0 && lossy.has(sub)) && sub.readyState === sub.OPEN) sub.send(push);
            });
            return { id: cmd.id, result: { offset, epoch: 'fake' } };
          });
          ws.send(JSON.stringify(Array.isArray(msg) ? replies : replies[0]));
        });
        ws.on('close', () => {
          for (const ch of channels.values()) ch.subs.delete(ws);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    interface Cmd {
      id: number;
      method: string;
      channel?: string;
      data?: unknown;
    }

    it('reports the loss and the silent gaps, and exits non-zero', async () => {
      const { code, summary, stderr } = await runHarness([
        'fanout', '--url', `ws://127.0.0.1:${port}/ws`, '--api', `http://127.0.0.1:${port}`,
        '--conns', '40', '--workers', '2', '--duration', '1.5', '--rate', '40', '--sdk', '0',
      ]);
      expect(summary.expected, stderr).toBeGreaterThan(0);
      expect(summary.lost).toBeGreaterThan(0);
      expect(summary.received).toBe(summary.expected - summary.lost);
      expect(summary.silentGaps).toBeGreaterThan(0);
      expect(summary.pass).toBe(false);
      expect(code).toBe(1);
    }, 30_000);
  });
});

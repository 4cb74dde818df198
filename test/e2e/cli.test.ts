// `npm start` as users run it: a real process on HUBBUB_PORT with the default configuration.

import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HubTestClient } from '../helpers/hub-client.js';
import { spawnHub } from '../helpers/process.js';

describe.each(['ws', 'uws'])('hubbub process on %s', (transport) => {
  it('serves the default chat and scores namespaces, then shuts down on SIGTERM with the shutdown code', async () => {
    const hub = await spawnHub({ HUBBUB_TRANSPORT: transport });
    try {
      expect(await (await fetch(`http://127.0.0.1:${hub.port}/health`)).json()).toEqual({ status: 'ok' });
      const client = await HubTestClient.open(`ws://127.0.0.1:${hub.port}/ws`);
      await client.call('subscribe', { channel: 'chat:lobby' });
      expect(await client.call('publish', { channel: 'chat:lobby', data: { text: 'hello' } })).toMatchObject({ offset: 1 });
      await client.until(() => client.pushesOf('pub').length === 1);
      expect(await client.call('subscribe', { channel: 'scores:weekly' })).toMatchObject({ entries: [] });
      hub.child.kill('SIGTERM');
      expect((await client.closed).code).toBe(4000);
      expect(await hub.exited).toBe(0);
      expect(hub.output()).toContain(`"transport":"${transport}"`);
    } finally {
      hub.child.kill('SIGKILL');
    }
  });
});

describe('hubbub process configuration', () => {
  it('refuses an invalid configuration with a message naming the field', async () => {
    await expect(spawnHub({ HUBBUB_TRANSPORT: 'carrier-pigeon' })).rejects.toThrow(/server\.transport/);
  });
});

describe.each(['ws', 'uws'])('hubbub process operations on %s', (transport) => {
  it('on SIGTERM delivers every acknowledged publication, closes every client with 4000 and exits 0', async () => {
    const hub = await spawnHub({ HUBBUB_TRANSPORT: transport, HUBBUB_LOG_LEVEL: 'warn' });
    try {
      const url = `ws://127.0.0.1:${hub.port}/ws`;
      const subscribers = await Promise.all([1, 2, 3].map(() => HubTestClient.open(url)));
      for (const s of subscribers) await s.call('subscribe', { channel: 'chat:deploy' });
      const publisher = await HubTestClient.open(url);
      const acks = await Promise.all(
        Array.from({ length: 150 }, (_, i) => publisher.call('publish', { channel: 'chat:deploy', data: i })),
      );
      expect(acks.map((a) => a.offset)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
      hub.child.kill('SIGTERM');
      for (const c of [...subscribers, publisher]) expect((await c.closed).code).toBe(4000);
      for (const s of subscribers) {
        expect(s.pushesOf('pub').map((p) => p.data)).toEqual(Array.from({ length: 150 }, (_, i) => i));
        expect(s.pushesOf('disconnect')).toEqual([expect.objectContaining({ code: 4000, reconnect: true })]);
      }
      expect(await hub.exited).toBe(0);
    } finally {
      hub.child.kill('SIGKILL');
    }
  });

  it('survives an upgrade request with 2,000 headers and keeps serving', async () => {
    const hub = await spawnHub({ HUBBUB_TRANSPORT: transport, HUBBUB_LOG_LEVEL: 'warn' });
    try {
      const headers = Array.from({ length: 2000 }, (_, i) => `x-h${i}: ${i}`).join('\r\n');
      const request =
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${headers}\r\n\r\n`;
      const answer = await new Promise<string>((resolve) => {
        const socket = connect(hub.port, '127.0.0.1', () => socket.end(request));
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('error', () => resolve(text));
        socket.on('close', () => resolve(text));
      });
      // Refused (431/400) or cut off, never a crash.
      expect(answer === '' || /^HTTP\/1\.1 (4\d\d|101)/.test(answer)).toBe(true);
      expect((await fetch(`http://127.0.0.1:${hub.port}/health`)).status).toBe(200);
      const client = await HubTestClient.open(`ws://127.0.0.1:${hub.port}/ws`);
      expect(await client.call('ping')).toEqual({});
      client.close();
      expect(hub.child.exitCode).toBeNull();
    } finally {
      hub.child.kill('SIGKILL');
    }
  });
});

describe('hubbub --help', () => {
  it('prints the usage with every option and exits 0 without starting', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(out).toMatch(/^Usage: hubbub/);
    expect(out).toContain('--config');
    expect(out).toContain('HUBBUB_REDIS_URL');
  });
});

describe('hubbub process with a stuck or gone log reader', () => {
  /** Opens and closes `n` connections, each logging an open and a close line. */
  async function churn(port: number, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const c = await HubTestClient.open(`ws://127.0.0.1:${port}/ws`, { connect: false });
      c.close();
      await c.closed;
    }
  }

  it('still shuts down on SIGTERM when nobody reads its stdout (logging never blocks)', async () => {
    const hub = await spawnHub({ HUBBUB_TRANSPORT: 'ws' });
    try {
      // Stop reading: the pipe fills (64 KiB) and a blocking write would freeze the event loop.
      hub.child.stdout?.pause();
      hub.child.stdout?.removeAllListeners('data');
      await churn(hub.port, 400);
      expect((await fetch(`http://127.0.0.1:${hub.port}/health`)).status).toBe(200);
      hub.child.kill('SIGTERM');
      expect(await hub.exited).toBe(0);
    } finally {
      hub.child.kill('SIGKILL');
    }
  });

  it('still shuts down on SIGTERM after its stdout reader went away', async () => {
    const hub = await spawnHub({ HUBBUB_TRANSPORT: 'ws' });
    try {
      hub.child.stdout?.destroy();
      await churn(hub.port, 50);
      expect((await fetch(`http://127.0.0.1:${hub.port}/health`)).status).toBe(200);
      hub.child.kill('SIGTERM');
      expect(await hub.exited).toBe(0);
    } finally {
      hub.child.kill('SIGKILL');
    }
  });
});

describe('hubbub process last resort', () => {
  it('logs a fault that escaped all containment and exits 70 instead of serving on', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/fixtures/escaped-fault.mjs', 'src/cli.ts', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(70);
    expect(stderr).toContain('escaped fault for the test');
    expect(stderr).toContain('"level":60');
  });
});

describe.each(['ws', 'uws'])('hubbub process on a taken port, %s', (transport) => {
  it('refuses to start with one line and exit code 2', async () => {
    const holder = await spawnHub({ HUBBUB_TRANSPORT: transport });
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
        env: { ...process.env, HUBBUB_PORT: String(holder.port), HUBBUB_HOST: '127.0.0.1', HUBBUB_TRANSPORT: transport },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(2);
      expect(stderr.trim()).toBe(`hubbub: port ${holder.port} is already in use`);
      // The first hub still has the port to itself.
      expect((await fetch(`http://127.0.0.1:${holder.port}/health`)).status).toBe(200);
    } finally {
      holder.child.kill('SIGKILL');
    }
  });
});

describe('hubbub process where no native uWebSockets.js build loads', () => {
  const noUws = ['--import', './test/fixtures/no-native-uws.mjs', '--import', 'tsx', 'src/cli.ts', '--port', '0', '--host', '127.0.0.1'];

  it("refuses transport 'uws' with one line naming the Node versions that have a build, and exit code 2", async () => {
    const child = spawn(process.execPath, [...noUws, '--transport', 'uws'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^hubbub: transport 'uws' needs a native uWebSockets\.js build and none loads: .*Node 20, 22, 24/);
    expect(stderr).toContain(`this is Node ${process.version} (ABI ${process.versions.modules})`);
    expect(stderr).toContain('@btc-vision/uwebsockets.js: no binary for this platform (test fixture)');
  });

  it("runs ws under 'auto' and logs why", async () => {
    const child = spawn(process.execPath, [...noUws, '--transport', 'auto'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    try {
      await until(() => stdout.includes('hubbub listening'), () => `no listening line:\n${stdout}`);
      const choice = stdout.split('\n').find((l) => l.includes('"msg":"transport: ws"'));
      expect(JSON.parse(choice ?? '{}')).toMatchObject({
        transport: 'ws',
        reason: expect.stringMatching(/^no native uWebSockets\.js build loads on Node v\d+.*@btc-vision\/uwebsockets\.js: no binary for this platform/),
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
  });
});

async function until(done: () => boolean, message: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(message());
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Both transports against the same expectations, on real sockets: ws clients on port 0, server
// events observed through the hooks. Every wait is on an event (message, close), never a sleep.

import { createRequire } from 'node:module';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createTransport, describeRuntime, isNativeUws, loadUws } from '../../../src/transport/index.js';
import {
  baseOptions,
  Harness,
  http,
  NO_PONG,
  opened,
  refusedUpgrade,
  silent,
  SLOW,
  start,
  until,
} from '../../helpers/transport-harness.js';

describe.each(['ws', 'uws'] as const)('%s transport', (kind) => {
  it('hands text to the listener and sends replies; reports address, url and headers', async () => {
    const { connect, harness, transport } = await start(kind);
    const client = await connect('/ws?token=abc', { headers: { 'x-test': 'yes' } });
    await client.ask('hi', 'echo:hi');
    const side = await harness.side(1);
    expect(side.texts).toEqual(['hi']);
    expect(side.req.url).toBe('/ws?token=abc');
    expect(side.req.headers['x-test']).toBe('yes');
    expect(side.conn.remoteAddress).toMatch(/127\.0\.0\.1/);
    expect(transport.connections).toBe(1);
    client.ws.close(1000, 'bye');
    expect(await harness.closedOf(side)).toEqual({ code: 1000, reason: 'bye' });
    expect(transport.connections).toBe(0);
  });

  it('refuses an upgrade with the status onUpgrade returns, and other paths with 404', async () => {
    const { port } = await start(kind);
    expect(await refusedUpgrade(`ws://127.0.0.1:${port}/ws?deny=1`)).toEqual({ status: 403, body: 'denied' });
    expect((await refusedUpgrade(`ws://127.0.0.1:${port}/other`)).status).toBe(404);
  });

  it('closes a frame over maxPayloadBytes with 1009 and keeps serving others', async () => {
    const { connect, harness } = await start(kind);
    const big = await connect();
    big.ws.send('x'.repeat(1500));
    expect((await big.closing).code).toBe(1009);
    expect((await harness.closedOf(await harness.side(1))).code).toBe(1009);
    // Far over the limit uWS drops the socket without a close frame; the listener still hears 1009.
    const huge = await connect();
    huge.ws.send('y'.repeat(64 * 1024));
    expect((await huge.closing).code).toBe(kind === 'ws' ? 1009 : 1006);
    expect((await harness.closedOf(await harness.side(2))).code).toBe(1009);
    const other = await connect();
    await other.ask('still there', 'echo:still there');
  });

  it('reports a binary frame through onBinary', async () => {
    const { connect, harness } = await start(kind);
    const client = await connect();
    client.ws.send(Buffer.from([1, 2, 3]));
    const side = await harness.side(1);
    await until(() => side.binaries === 1);
    expect(side.texts).toEqual([]);
  });

  it('publishes to subscribers only, in order, and not after unsubscribe', async () => {
    const { connect, transport } = await start(kind);
    const a = await connect();
    const b = await connect();
    await a.ask('sub:t', 'subscribed:t');
    await a.ask('sub:end', 'subscribed:end');
    await b.ask('sub:end', 'subscribed:end');
    for (let i = 0; i < 20; i++) transport.publish('t', i % 2 === 0 ? `m${i}` : Buffer.from(`m${i}`));
    transport.publish('nobody', 'lost');
    transport.publish('end', 'end1');
    await until(() => a.messages.includes('end1') && b.messages.includes('end1'));
    const expected = Array.from({ length: 20 }, (_, i) => `m${i}`);
    expect(a.messages.filter((m) => m.startsWith('m'))).toEqual(expected);
    expect(b.messages).toEqual(['subscribed:end', 'end1']);
    await a.ask('unsub:t', 'unsubscribed:t');
    transport.publish('t', 'after');
    transport.publish('end', 'end2');
    await until(() => a.messages.includes('end2'));
    expect(a.messages).not.toContain('after');
  });

  it('delivers publications of every frame-length encoding intact (7-bit, 16-bit, 64-bit)', async () => {
    const { connect, transport } = await start(kind, { maxBackpressureBytes: 16 * 1024 * 1024 });
    const client = await connect();
    await client.ask('sub:sizes', 'subscribed:sizes');
    const sizes = [0, 1, 125, 126, 127, 65_535, 65_536, 200_001];
    const bodies = sizes.map((n, i) => 'abcdefghij'[i]!.repeat(n));
    for (const body of bodies) transport.publish('sizes', body);
    transport.publish('sizes', 'done');
    await until(() => client.messages.includes('done'));
    expect(client.messages.slice(1, -1).map((m) => m.length)).toEqual(sizes);
    expect(client.messages.slice(1, -1)).toEqual(bodies);
  });

  it('does not deliver to a socket what was published before it subscribed, in the same tick', async () => {
    const { connect, harness, transport } = await start(kind);
    const early = await connect();
    await early.ask('sub:t', 'subscribed:t');
    const late = await connect();
    await late.ask('hello', 'echo:hello');
    const lateSide = await harness.side(2);
    transport.publish('t', 'before');
    lateSide.conn.subscribe('t');
    transport.publish('t', 'after');
    await until(() => early.messages.includes('after') && late.messages.includes('after'));
    expect(early.messages).toEqual(['subscribed:t', 'before', 'after']);
    expect(late.messages).toEqual(['echo:hello', 'after']);
  });

  it('reports backpressure from send() and onDrain once the client reads again', async () => {
    const { connect, harness } = await start(kind, { maxBackpressureBytes: 64 * 1024 * 1024 });
    const client = await connect();
    const side = await harness.side(1);
    client.socket.pause();
    const frame = 'z'.repeat(1000);
    let sent = 0;
    // The kernel buffers take megabytes first; yield so uWS and libuv actually write.
    while (side.conn.send(frame)) {
      if (++sent % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(side.conn.bufferedAmount()).toBeGreaterThan(0);
    client.socket.resume();
    await until(() => side.drains === 1);
    expect(side.conn.bufferedAmount()).toBe(0);
    await until(() => client.messages.length === sent + 1);
  });

  it('closes a slow consumer with slowConsumerCode while a reading subscriber gets everything', async () => {
    const { connect, harness, transport } = await start(kind);
    const slow = await connect();
    const reader = await connect();
    await slow.ask('sub:fire', 'subscribed:fire');
    await reader.ask('sub:fire', 'subscribed:fire');
    const slowSide = await harness.side(1);
    slow.socket.pause();
    const pad = 'p'.repeat(1000);
    let seq = 0;
    while (slowSide.closed === undefined) {
      for (let i = 0; i < 16; i++) transport.publish('fire', `${seq++}:${pad}`);
      // Publish only as fast as the reader reads: it must never become a slow consumer itself.
      await until(() => reader.messages.length >= seq - 16 || slowSide.closed !== undefined);
      await new Promise((r) => setImmediate(r));
      expect(seq).toBeLessThan(200_000);
    }
    expect(slowSide.closed).toEqual({ code: SLOW, reason: 'slow consumer' });
    transport.publish('fire', 'done');
    await until(() => reader.messages.includes('done'));
    const seqs = reader.messages.slice(1, -1).map((m) => Number(m.slice(0, m.indexOf(':'))));
    expect(seqs).toEqual(Array.from({ length: seq }, (_, i) => i));
    expect(reader.closed).toBeUndefined();
    // The slow client's socket is released: once it reads again it sees the end of the connection.
    slow.socket.resume();
    await slow.closing;
  });

  it(
    'closes a client that never answers pings with noPongCode',
    async () => {
      // uWS's idle timeout floor is 8 s (ping after ~4 s, close after ~8 s): this case takes ~8-12 s there.
      const { connect, harness } = await start(kind, { pingIntervalMs: 100 });
      const silentClient = await connect('/ws', { autoPong: false });
      const healthy = await connect();
      const side = await harness.side(1);
      expect(await harness.closedOf(side)).toEqual({ code: NO_PONG, reason: 'no pong' });
      // ws sends the close frame before dropping the socket; uWS drops it without one.
      expect((await silentClient.closing).code).toBe(kind === 'ws' ? NO_PONG : 1006);
      await healthy.ask('alive?', 'echo:alive?');
      expect((await harness.side(2)).closed).toBeUndefined();
    },
    30_000,
  );

  it('serves plain HTTP through onHttp and refuses bodies over maxHttpBodyBytes with 413', async () => {
    const { port } = await start(kind);
    const health = await http(port, 'GET', '/health');
    expect(health).toMatchObject({ status: 200, body: 'ok', headers: { 'content-type': 'text/plain' } });
    expect(await http(port, 'POST', '/api', Buffer.alloc(1000, 1))).toMatchObject({ status: 200, body: 'got 1000 bytes' });
    // Declared too large (Content-Length), and found too large while reading (chunked).
    expect((await http(port, 'POST', '/api', Buffer.alloc(4096, 1))).status).toBe(413);
    const chunked = await http(port, 'POST', '/api', Buffer.alloc(4096, 1), { 'transfer-encoding': 'chunked' });
    expect(chunked.status).toBe(413);
  });

  it('close(code, reason) delivers the code to every client and listener', async () => {
    const { connect, harness, transport } = await start(kind);
    const a = await connect();
    const b = await connect();
    await transport.close(4000, 'shutdown');
    expect(await a.closing).toEqual({ code: 4000, reason: 'shutdown' });
    expect(await b.closing).toEqual({ code: 4000, reason: 'shutdown' });
    for (const side of harness.sides) expect(side.closed).toEqual({ code: 4000, reason: 'shutdown' });
    expect(transport.connections).toBe(0);
  });
});

describe('createTransport', () => {
  it("'auto' picks native uWS on this machine and says so", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const transport = createTransport('auto', { ...baseOptions(), hooks: new Harness().hooks }, log);
    expect(transport.name).toBe('uws');
    expect(lines).toContainEqual(expect.objectContaining({ transport: 'uws', msg: 'transport: uws' }));
    opened.push({ transport, clients: [] });
    await transport.listen();
    expect(createTransport('ws', { ...baseOptions(), hooks: new Harness().hooks }, silent).name).toBe('ws');
  });

  it('names the runtime that decides which uWS binary loads (Node, ABI, platform, glibc)', () => {
    const libc = process.platform === 'linux' ? String.raw`, glibc \d+\.\d+` : '';
    const shape = new RegExp(String.raw`^Node v\d+\.\d+\.\d+ \(ABI \d+\) on ${process.platform} ${process.arch}${libc}$`);
    expect(describeRuntime()).toMatch(shape);
    expect(describeRuntime()).toContain(`ABI ${process.versions.modules}`);
  });

  it('falls back to the uWS 20.30 build only where glibc is older than the newer builds need (2.38)', () => {
    const probe = loadUws();
    const minor = /glibc 2\.(\d+)/.exec(describeRuntime())?.[1];
    const oldGlibc = minor !== undefined && Number(minor) < 38;
    expect(probe.ok).toBe(true);
    expect(probe.ok && probe.from === '@trufflesuite/uws-js-unofficial').toBe(oldGlibc);
  });

  it('tells the native addon from the JS fallback', () => {
    const probe = loadUws();
    expect(probe.ok).toBe(true);
    const require = createRequire(import.meta.url);
    const dir = require.resolve('@trufflesuite/uws-js-unofficial').replace(/src[/\\]uws\.js$/, '');
    expect(isNativeUws(require(`${dir}dist/index.js`))).toBe(false);
    expect(isNativeUws(probe.ok ? probe.module : undefined)).toBe(true);
  });
});

// The chaos run, bounded: SDK subscribers behind a proxy that kills, half-opens, delays and
// refuses their connections while publishers keep a ledger, on the memory engine and on Redis
// (redis-server killed and restarted mid-run), over both transports. Every acknowledged
// publication reaches every subscriber once and in order, or inside a reported `recovered: false`.
// The ledger check and the proxy are tested first: a chaos test is only as good as its oracle.

import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChaosProxy } from '../helpers/chaos-proxy.js';
import { type ChaosReport, ChannelLedger, chaosSeed, checkAgainstLedger, type Observed, runChaos, summary, until } from '../helpers/chaos.js';
import type { TransportName } from '../helpers/hub-server.js';
import { redisAvailable, RedisServer } from '../helpers/redis-server.js';

const seed = chaosSeed();
const chaosMs = 5000;
console.log(`chaos seed ${seed} (replay with CHAOS_SEED=${seed})`);

describe('the ledger check', () => {
  const ledger = new ChannelLedger();
  for (let offset = 1; offset <= 6; offset++) ledger.ack({ offset, epoch: 'e1' }, `p${offset}`);
  for (let offset = 1; offset <= 3; offset++) ledger.ack({ offset, epoch: 'e2' }, `q${offset}`);
  const sub = (offset: number, epoch = 'e1', recovered = false): Observed => ({ kind: 'subscribed', recovered, offset, epoch });
  const msg = (offset: number, epoch = 'e1', id = `${epoch === 'e1' ? 'p' : 'q'}${offset}`): Observed => ({
    kind: 'message',
    offset,
    epoch,
    id,
  });
  const check = (events: Observed[]) => {
    const problems: string[] = [];
    return { ...checkAgainstLedger(ledger, events, (p) => problems.push(p)), problems: problems.length };
  };

  it('expects everything after the first subscribed, across epochs', () => {
    expect(check([sub(2), msg(3), msg(4), msg(5), msg(6), sub(0, 'e2'), msg(1, 'e2'), msg(2, 'e2'), msg(3, 'e2')])).toMatchObject({
      delivered: 7,
      lost: 0,
      reported: 1,
      problems: 0,
    });
  });

  it('counts a silent gap, a duplicate and a reorder', () => {
    expect(check([sub(0), msg(1), msg(3), msg(3), msg(2), msg(4), msg(5), msg(6)])).toMatchObject({
      delivered: 5,
      lost: 1,
      duplicated: 1,
      reordered: 1,
      problems: 3,
    });
  });

  it('excuses only what a recovered: false skipped, not a recovered: true', () => {
    expect(check([sub(0), msg(1), sub(4, 'e1', false), msg(5), sub(5, 'e1', true), msg(6)])).toMatchObject({ lost: 0, reported: 1 });
    expect(check([sub(0), msg(1), sub(4, 'e1', true), msg(5), msg(6)])).toMatchObject({ lost: 3, reported: 0 });
  });

  it('counts the same payload twice in one epoch as a duplicate, and a wrong payload as lost', () => {
    expect(check([sub(4), msg(5), msg(6, 'e1', 'p5')])).toMatchObject({ duplicated: 1, delivered: 1 });
    expect(check([sub(4), msg(5, 'e1', 'other'), msg(6)])).toMatchObject({ lost: 1, delivered: 1 });
  });
});

describe('the chaos proxy', () => {
  let server: Server;
  const received = new Map<number, string>();
  let connections = 0;
  const opened: Socket[] = [];
  let proxy: ChaosProxy;

  beforeAll(async () => {
    // An echo server that remembers what each connection sent.
    server = createServer((socket) => {
      const n = connections++;
      received.set(n, '');
      socket.on('data', (d: Buffer) => {
        received.set(n, `${received.get(n) ?? ''}${d.toString()}`);
        socket.write(d);
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) s.destroy();
    await proxy.close();
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function start(lifetimeMs = 10_000): Promise<void> {
    proxy = await ChaosProxy.start({ target: { host: '127.0.0.1', port: (server.address() as AddressInfo).port }, seed, lifetimeMs });
  }
  function open(): { socket: Socket; echoed: () => string; closed: () => boolean } {
    const socket = connect(proxy.port, '127.0.0.1');
    opened.push(socket);
    let echoed = '';
    let closed = false;
    socket.on('data', (d: Buffer) => (echoed += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    return { socket, echoed: () => echoed, closed: () => closed };
  }
  /** A round trip on a fresh link: what was written before it has been handled by then. */
  async function barrier(): Promise<void> {
    const b = open();
    b.socket.write('barrier');
    expect(await until(() => b.echoed() === 'barrier', 5000)).toBe(true);
  }

  it('refuses a target that is not loopback', async () => {
    await start();
    await expect(ChaosProxy.start({ target: { host: '10.0.0.1', port: 1 }, seed, lifetimeMs: 1000 })).rejects.toThrow(/loopback only/);
  });

  it('forwards faithfully, and in order through delays and split chunks', async () => {
    await start();
    const a = open();
    const text = Array.from({ length: 2000 }, (_, i) => `${i},`).join('');
    a.socket.write(text.slice(0, 3000));
    expect(await until(() => proxy.openLinks === 1, 5000)).toBe(true);
    proxy.injureAll({ kind: 'delay', ms: 300 });
    a.socket.write(text.slice(3000));
    expect(await until(() => a.echoed().length === text.length, 5000)).toBe(true);
    expect(a.echoed()).toBe(text);
  });

  it('kills both ends of a link', async () => {
    await start();
    const a = open();
    a.socket.write('x');
    expect(await until(() => a.echoed() === 'x', 5000)).toBe(true);
    proxy.injureAll({ kind: 'kill' });
    expect(await until(() => a.closed() && proxy.openLinks === 0, 5000)).toBe(true);
  });

  it('half-opens a link: nothing passes and nothing closes', async () => {
    await start();
    const a = open();
    a.socket.write('x');
    expect(await until(() => a.echoed() === 'x', 5000)).toBe(true);
    const n = connections - 1;
    proxy.injureAll({ kind: 'half-open', mode: 'drop', directions: ['up'] });
    a.socket.write('lost');
    await barrier();
    expect(received.get(n)).toBe('x');
    expect(a.closed()).toBe(false);
    // The client giving up is not passed on either: the hub's side must notice by itself.
    a.socket.destroy();
    await barrier();
    expect(proxy.openLinks).toBeGreaterThanOrEqual(1);
  });

  it('refuses new connections for a while, without reaching the target', async () => {
    await start();
    const before = connections;
    proxy.refuse(60_000);
    const refused = open();
    refused.socket.write('never');
    expect(await until(() => proxy.counts.refused === 1, 5000)).toBe(true);
    proxy.stopChaos();
    await barrier();
    expect(connections).toBe(before + 1);
  });

  it('closes itself at the end of its lifetime', async () => {
    await start(100);
    const reachable = () =>
      new Promise<boolean>((resolve) => {
        const s = connect(proxy.port, '127.0.0.1');
        s.on('connect', () => (s.destroy(), resolve(true)));
        s.on('error', () => resolve(false));
      });
    expect(await until(async () => !(await reachable()), 5000)).toBe(true);
  });
});

function expectClean(report: ChaosReport): void {
  console.log(summary(report));
  for (const p of report.problems) console.log(`  ${p}`);
  // The chaos happened: links broke, publications were acknowledged and delivered throughout.
  expect(report.forcedDisconnects).toBeGreaterThan(0);
  expect(report.acknowledged).toBeGreaterThan(100);
  expect(report.delivered).toBeGreaterThan(0);
  expect({
    lost: report.lost,
    duplicated: report.duplicated,
    reordered: report.reordered,
    stuck: report.stuck,
    problems: report.problems,
  }).toEqual({ lost: 0, duplicated: 0, reordered: 0, stuck: 0, problems: [] });
  expect(report.leftover).toEqual({
    connections: 0,
    channels: 0,
    subscriptions: 0,
    transportConnections: 0,
    handshakes: 0,
    presenceMembers: 0,
    engineInterest: 1,
  });
}

describe.each(['ws', 'uws'] as TransportName[])('chaos on the memory engine over %s', (transport) => {
  it('delivers every acknowledged publication once, in order, or reports the loss', async () => {
    expectClean(await runChaos({ engine: 'memory', transport, seed, chaosMs }));
  }, 40_000);
});

describe('chaos on the Redis engine, with redis-server killed and restarted', () => {
  if (!redisAvailable('chaos on the Redis engine')) return;
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it.each(['ws', 'uws'] as TransportName[])(
    'delivers every acknowledged publication once, in order, or reports the loss (%s)',
    async (transport) => {
      const report = await runChaos({ engine: 'redis', transport, seed, chaosMs, redis, redisKills: 1 });
      expectClean(report);
      expect(report.redisKills).toBe(1);
      expect(report.publishFailures).toBeGreaterThan(0);
    },
    40_000,
  );
});

// The SDK against the real hub on both transports, as source and as the minified ESM bundle
// users import: exactly-once delivery while the server keeps killing the subscriber's
// connection, presence, leaderboards, acks, error codes, and a hub restart.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildClient } from '../../client/build.mjs';
import type * as Sdk from '../../client/src/index.js';
import * as source from '../../client/src/index.js';
import type { ConfigInput } from '../../src/config/index.js';
import type { Session } from '../../src/session.js';
import { startTestHub, type TestHub, type TransportName } from '../helpers/hub-server.js';
import { argsOf, Signal, watch } from './wait.js';

type SdkModule = typeof Sdk;

const namespaces: ConfigInput['namespaces'] = {
  chat: { history: { size: 1000, ttlMs: 0 }, presence: true, joinLeave: true, clientPublish: true },
  quiet: { clientPublish: false },
  scores: { leaderboard: { clientIncr: true, top: 3, updateIntervalMs: 20 } },
};
const config: ConfigInput = { namespaces, limits: { commands: { rate: 100_000, burst: 100_000 } } };

let bundleDir: string;
let bundle: SdkModule;

beforeAll(async () => {
  bundleDir = mkdtempSync(join(tmpdir(), 'hubbub-client-'));
  await buildClient({ outdir: bundleDir, declarations: false });
  bundle = (await import(/* @vite-ignore */ pathToFileURL(join(bundleDir, 'index.js')).href)) as SdkModule;
});

afterAll(() => {
  rmSync(bundleDir, { recursive: true, force: true });
});

/** Every session the hub opens, so a test can close or drop a client's connection from the server side. */
function trackSessions(running: TestHub): Set<Session> {
  const sessions = new Set<Session>();
  const hub = running.hub;
  const open = hub.onOpen.bind(hub);
  hub.onOpen = (conn, req) => {
    const session = open(conn, req);
    sessions.add(session);
    return session;
  };
  return sessions;
}

const cases: [TransportName, 'source' | 'bundle'][] = [
  ['ws', 'source'],
  ['uws', 'source'],
  ['ws', 'bundle'],
  ['uws', 'bundle'],
];

describe.each(cases)('HubClient against the hub over %s (%s)', (transport, impl) => {
  let running: TestHub;
  let sessions: Set<Session>;
  let sdk: SdkModule;
  const clients: Sdk.HubClient[] = [];
  const signal = new Signal();

  function client(options: Sdk.HubClientOptions = {}): Sdk.HubClient {
    const c = new sdk.HubClient(running.url, { WebSocket, reconnect: { minDelayMs: 5, maxDelayMs: 50 }, ...options });
    clients.push(c);
    watch(signal, c, 'state');
    return c;
  }

  beforeAll(async () => {
    sdk = impl === 'source' ? source : bundle;
    running = await startTestHub(transport, config);
    sessions = trackSessions(running);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await running.close();
  });

  it('refuses a command larger than the hub takes with message_too_big, without losing the connection', async () => {
    const c = client();
    await signal.until(() => c.state === 'connected', 5000, 'connected');
    expect(c.info?.maxPayloadBytes).toBe(64 * 1024);
    const drops = watch(signal, c, 'disconnected');
    const big = 'x'.repeat(70 * 1024);
    await expect(c.publish('chat:big', { big })).rejects.toMatchObject({ code: 'message_too_big' });
    // Commands of one tick that fit one by one but not together go out in several frames.
    const parts = 'y'.repeat(20 * 1024);
    const acks = await Promise.all([1, 2, 3, 4, 5].map((i) => c.publish('chat:big', { i, parts })));
    expect(acks.map((a) => a.offset)).toEqual([1, 2, 3, 4, 5]);
    expect(drops).toHaveLength(0);
    expect(c.state).toBe('connected');
  });

  it('publishes with an ack and delivers to subscribers with the publisher as from', async () => {
    const alice = client();
    const bob = client();
    const sub = bob.subscribe('chat:basic');
    const seen = watch(signal, sub, 'message');
    const first = await sub.ready;
    expect(first).toMatchObject({ recovered: false, offset: 0 });
    const ack = await alice.publish('chat:basic', { text: 'hi' });
    expect(ack).toEqual({ offset: 1, epoch: first.epoch });
    await signal.until(() => seen.length === 1, 5000, 'the publication');
    expect(argsOf<Sdk.Message>(seen, 'message')[0]).toMatchObject({
      channel: 'chat:basic',
      offset: 1,
      epoch: first.epoch,
      data: { text: 'hi' },
      from: { client: alice.info?.client, user: '' },
    });
  });

  it('delivers every publication exactly once, in order, while the server keeps killing the subscriber', async () => {
    const subscriber = client();
    const publisher = client();
    const sub = subscriber.subscribe('chat:stream');
    const events = watch(signal, sub, 'message', 'subscribed');
    const drops = watch(signal, subscriber, 'disconnected');
    await sub.ready;
    const current = () => [...sessions].find((s) => s.isOpen && s.info.client === subscriber.info?.client);
    const kills = 12;
    const total = kills * 32;
    // Bursts of 8 publications in one frame; after every fourth burst the server closes the
    // subscriber's connection (alternately with the shutdown code and a disconnect push, and by
    // dropping the socket), and the next burst goes out while it is away or resubscribing.
    for (let i = 1, burst = 1; i <= total; i += 8, burst++) {
      await Promise.all(Array.from({ length: 8 }, (_, k) => publisher.publish('chat:stream', i + k)));
      if (burst % 4 !== 0) continue;
      await signal.until(() => sub.state === 'subscribed' && current() !== undefined, 5000, 'the subscriber back');
      const session = current() as Session;
      const away = new Promise<void>((resolve) => {
        const off = subscriber.on('disconnected', () => {
          off();
          resolve();
        });
      });
      if (burst % 8 === 0) session.close(4000, 'test restart');
      else session.conn.terminate();
      await away;
    }
    await signal.until(
      () => argsOf(events, 'message').length >= total && argsOf(events, 'subscribed').length === kills + 1,
      15_000,
      `${total} messages`,
    );
    expect(argsOf<Sdk.Message>(events, 'message').map((m) => m.data)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const codes = argsOf<Sdk.DisconnectInfo>(drops, 'disconnected').map((d) => [d.code, d.reconnect]);
    expect(codes).toEqual(Array.from({ length: kills }, (_, k) => (k % 2 === 0 ? [1006, true] : [4000, true])));
    // Every resubscribe after the first recovered what was missed.
    expect(argsOf<Sdk.SubscribedInfo>(events, 'subscribed').map((s) => s.recovered)).toEqual([
      false,
      ...Array<boolean>(kills).fill(true),
    ]);
  });

  it('shows presence with join and leave', async () => {
    const a = client();
    const b = client();
    const subA = a.subscribe('chat:room');
    const seen = watch(signal, subA, 'join', 'leave');
    await subA.ready;
    const subB = b.subscribe('chat:room');
    await subB.ready;
    await signal.until(() => argsOf(seen, 'join').length === 2, 5000, 'two joins');
    const members = await subA.presence();
    expect(members.map((m) => m.client).sort()).toEqual([a.info?.client, b.info?.client].sort());
    expect(await subA.presenceStats()).toEqual({ clients: 2, users: 1 });
    subB.unsubscribe();
    await signal.until(() => argsOf(seen, 'leave').length === 1, 5000, 'the leave');
    expect(argsOf<Sdk.ClientInfo>(seen, 'leave')[0]?.client).toBe(b.info?.client);
    expect(await subA.presenceStats()).toEqual({ clients: 1, users: 1 });
  });

  it('keeps a live leaderboard and answers its commands', async () => {
    const watcher = client();
    const player = client();
    const board = watcher.leaderboard('scores:weekly', { top: 2 });
    const updates = watch(signal, board, 'update');
    await board.ready;
    expect(argsOf(updates, 'update')).toEqual([[]]);
    const mine = player.leaderboard('scores:weekly');
    expect(await mine.incr('alice', 5)).toBe(5);
    expect(await mine.incr('bob', 7)).toBe(7);
    expect(await mine.incr('carol')).toBe(1);
    const expected = [
      { member: 'bob', score: 7, rank: 0 },
      { member: 'alice', score: 5, rank: 1 },
    ];
    await signal.until(() => JSON.stringify(board.entries) === JSON.stringify(expected), 5000, 'the final top');
    expect(await board.top(3)).toEqual([...expected, { member: 'carol', score: 1, rank: 2 }]);
    expect(await board.rank('alice')).toEqual({ rank: 1, score: 5 });
    expect(await board.rank('nobody')).toEqual({ rank: null, score: null });
    expect((await board.around('alice', 1)).map((e) => e.member)).toEqual(['bob', 'alice', 'carol']);
  });

  it('surfaces the server error codes', async () => {
    const c = client();
    const nowhere = c.subscribe('nope:x');
    const errors = watch(signal, nowhere, 'error');
    await expect(nowhere.ready).rejects.toMatchObject({ code: 'unknown_namespace', temporary: false });
    expect(argsOf<Sdk.HubError>(errors, 'error').map((e) => e.code)).toEqual(['unknown_namespace']);
    expect(nowhere.state).toBe('unsubscribed');
    await expect(c.publish('quiet:x', 1)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(c.publish('no channel', 1)).rejects.toMatchObject({ code: 'invalid_channel' });
    await expect(c.subscribe('chat:hist').history({ since: { offset: 0, epoch: 'nope' } })).rejects.toMatchObject({
      code: 'unrecoverable_position',
    });
    const err = await c.publish('quiet:x', 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(sdk.HubError);
    expect(c.state).toBe('connected');
  });

  it('reads history with the epoch and channel on every publication', async () => {
    const c = client();
    const sub = c.subscribe('chat:history');
    const { epoch } = await sub.ready;
    for (const n of [1, 2, 3]) await sub.publish(n);
    const h = await sub.history({ limit: 2, reverse: true });
    expect(h.publications.map((p) => [p.data, p.offset, p.epoch, p.channel])).toEqual([
      [3, 3, epoch, 'chat:history'],
      [2, 2, epoch, 'chat:history'],
    ]);
  });

  it('replays the newest publications asked for with last', async () => {
    const c = client();
    for (const n of [1, 2, 3, 4]) await c.publish('chat:last', n);
    const sub = c.subscribe('chat:last', { last: 2 });
    const seen = watch(signal, sub, 'message');
    await sub.ready;
    await signal.until(() => seen.length === 2);
    expect(argsOf<Sdk.Message>(seen, 'message').map((m) => m.data)).toEqual([3, 4]);
  });
});

describe.each(['ws', 'uws'] as const)('HubClient across a hub restart over %s', (transport) => {
  it('reconnects to the restarted hub and says recovered: false for the lost stream', async () => {
    const first = await startTestHub(transport, config);
    const signal = new Signal();
    const c = new source.HubClient(first.url, { WebSocket, reconnect: { minDelayMs: 10, maxDelayMs: 50 } });
    let second: TestHub | undefined;
    try {
      const drops = watch(signal, c, 'disconnected', 'connected');
      const sub = c.subscribe('chat:restart');
      const events = watch(signal, sub, 'subscribed', 'message');
      await sub.ready;
      await c.publish('chat:restart', 'before');
      await signal.until(() => argsOf(events, 'message').length === 1);
      await first.close();
      await signal.until(() => argsOf(drops, 'disconnected').length > 0);
      expect(argsOf<Sdk.DisconnectInfo>(drops, 'disconnected')[0]).toMatchObject({ code: 4000, reconnect: true });
      second = await startTestHub(transport, { ...config, server: { port: first.port } });
      await signal.until(() => argsOf(events, 'subscribed').length === 2, 10_000, 'resubscribed on the new hub');
      expect(argsOf<Sdk.SubscribedInfo>(events, 'subscribed')[1]?.recovered).toBe(false);
      await c.publish('chat:restart', 'after');
      await signal.until(() => argsOf(events, 'message').length === 2);
      expect(argsOf<Sdk.Message>(events, 'message').map((m) => m.data)).toEqual(['before', 'after']);
    } finally {
      await c.close();
      await first.close();
      await second?.close();
    }
  });
});

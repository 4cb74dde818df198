// One chaos run, shared by the suite (test/e2e/chaos.test.ts) and the long run (load/chaos.ts):
// SDK subscribers behind a ChaosProxy, publishers straight to the hub keeping a ledger of every
// acknowledged publication, and a check of what each subscriber saw against that ledger. Every
// acknowledged publication must arrive exactly once and in order, or lie inside a reported
// `recovered: false`; after chaos everyone must catch up, and the hub must end with nothing left.

import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { HubClient, type Message, type StreamPosition, type Subscription } from '../../client/src/index.js';
import type { ConfigInput } from '../../src/config/index.js';
import { ChaosProxy, type FaultCounts, Random } from './chaos-proxy.js';
import { startTestHub, type TestHub, type TransportName } from './hub-server.js';
import type { RedisServer } from './redis-server.js';

export type EngineName = 'memory' | 'redis';

export interface ChaosOptions {
  engine: EngineName;
  transport: TransportName;
  seed: number;
  /** How long the proxy injures connections (and publishers run). */
  chaosMs: number;
  /** Required for the Redis engine: killed and restarted `redisKills` times during chaos. */
  redis?: RedisServer;
  redisKills?: number;
  /** SDK clients behind the proxy. */
  subscribers?: number;
  /** After chaos: how long every subscriber has to be connected again and caught up. */
  settleMs?: number;
  /** Progress lines (not the report). */
  log?: (line: string) => void;
}

export interface ChaosReport {
  engine: EngineName;
  transport: TransportName;
  seed: number;
  chaosMs: number;
  /** `disconnected` events the subscribers saw. */
  forcedDisconnects: number;
  /** The same by close code (1006 dropped, 4003 no reply to ping, 4004 handshake timeout, ...). */
  disconnectCodes: Record<string, number>;
  acknowledged: number;
  /** Acknowledged publications delivered in place, over every subscriber and channel. */
  delivered: number;
  /** Acknowledged publications a subscriber skipped without being told (silent gaps). */
  lost: number;
  duplicated: number;
  reordered: number;
  /** `subscribed` with `recovered: false` after the first. */
  reported: number;
  /** Subscribers not connected and caught up on every channel within settleMs after chaos. */
  stuck: number;
  /** Publications delivered whose publish failed or got no answer (they may have happened). */
  unacknowledgedSeen: number;
  publishFailures: number;
  /** Acknowledged publications by publisher (HTTP API and direct SDK clients). */
  publishers: Record<string, number>;
  redisKills: number;
  /** Pub/sub connections of the hub killed in Redis (CLIENT KILL TYPE pubsub), Redis staying up. */
  pubsubKills: number;
  /** Subscriptions the subscribers ended and made again during chaos. */
  resubscribed: number;
  faults: FaultCounts;
  /** The hub once every client is gone: all zero (presence too), and the engine's interest 1 (the control channel). */
  leftover: {
    connections: number;
    channels: number;
    subscriptions: number;
    /** The transport's own counts: open sockets, and TCP connections still in their handshake. */
    transportConnections: number;
    handshakes: number;
    presenceMembers: number;
    engineInterest: number;
  };
  /** The first violations, described, to start minimising from. */
  problems: string[];
  ms: number;
}

const API_KEY = 'chaos-test-api-key-0123456789';
/** Three channels keep everything, one keeps ten: a subscriber away longer must be told, never skipped. */
const SHARED = ['chaos:a', 'chaos:b', 'chaos:c', 'brief:d'] as const;
/**
 * Each subscriber also has a channel of its own, so that its every reconnect or resubscribe makes
 * the hub release the channel and the engine's interest, and take them again.
 */
const ownChannel = (i: number) => `chaos:own${i}`;
const PROBLEMS_KEPT = 20;

interface Position {
  offset: number;
  epoch: string;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls a condition until it holds or the time is up; resolves with whether it held. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await pause(everyMs);
  }
}

/** Every acknowledged publication of one channel, and the order its epochs appeared in. */
export class ChannelLedger {
  readonly acked: (Position & { id: string })[] = [];
  private readonly epochs = new Map<string, number>();

  /** Epochs are ordered by when anyone (a publisher or a subscriber) first saw them. */
  see(epoch: string): void {
    if (!this.epochs.has(epoch)) this.epochs.set(epoch, this.epochs.size);
  }

  ack(position: StreamPosition, id: string): void {
    this.see(position.epoch);
    this.acked.push({ offset: position.offset, epoch: position.epoch, id });
  }

  compare(a: Position, b: Position): number {
    const byEpoch = (this.epochs.get(a.epoch) ?? Infinity) - (this.epochs.get(b.epoch) ?? Infinity);
    if (Number.isNaN(byEpoch)) return a.offset - b.offset;
    return byEpoch !== 0 ? byEpoch : a.offset - b.offset;
  }

  last(): Position | undefined {
    let last: Position | undefined;
    for (const p of this.acked) if (last === undefined || this.compare(p, last) > 0) last = p;
    return last;
  }
}

export type Observed =
  | { kind: 'subscribed'; recovered: boolean; offset: number; epoch: string }
  | { kind: 'message'; offset: number; epoch: string; id: string | undefined };

interface Watched {
  name: string;
  client: HubClient;
  disconnects: Record<string, number>;
  /** The live subscription of each channel. */
  subs: Map<string, Subscribed>;
  /** Subscriptions the subscriber ended itself (churn): checked, but owe no catching up. */
  retired: { channel: string; entry: Subscribed }[];
  /** Why the SDK gave up for good, if it did. */
  stopped: string | undefined;
}

interface Subscribed {
  sub: Subscription;
  events: Observed[];
  /** The furthest position delivered or given by a `recovered: false`. */
  latest: Position | undefined;
  /** Why the SDK ended it, if it did. */
  ended: string | undefined;
}

function idOf(m: Message): string | undefined {
  const data = m.data;
  if (typeof data !== 'object' || data === null || !('id' in data)) return undefined;
  const id = (data as { id: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

function subscribe(watched: Watched, channel: string, ledger: ChannelLedger): void {
  const sub = watched.client.subscribe(channel);
  const entry: Subscribed = { sub, events: [], latest: undefined, ended: undefined };
  const advance = (p: Position) => {
    if (entry.latest === undefined || ledger.compare(p, entry.latest) > 0) entry.latest = { offset: p.offset, epoch: p.epoch };
  };
  sub.on('subscribed', (s) => {
    ledger.see(s.epoch);
    entry.events.push({ kind: 'subscribed', recovered: s.recovered, offset: s.offset, epoch: s.epoch });
    if (!s.recovered) advance(s);
  });
  sub.on('message', (m) => {
    ledger.see(m.epoch);
    entry.events.push({ kind: 'message', offset: m.offset, epoch: m.epoch, id: idOf(m) });
    advance(m);
  });
  sub.on('error', (err) => {
    if (sub.state === 'unsubscribed') entry.ended = `${err.code}: ${err.message}`;
  });
  watched.subs.set(channel, entry);
}

/** Unsubscribes and subscribes again at once: the hub sees both in one frame when connected. */
function resubscribe(watched: Watched, channel: string, ledger: ChannelLedger): void {
  const entry = watched.subs.get(channel);
  if (entry === undefined) return;
  entry.sub.unsubscribe();
  watched.retired.push({ channel, entry });
  subscribe(watched, channel, ledger);
}

function watchSubscriber(name: string, client: HubClient, channels: string[], ledgers: Map<string, ChannelLedger>): Watched {
  const watched: Watched = { name, client, disconnects: {}, subs: new Map(), retired: [], stopped: undefined };
  // Handshake timeouts and refused connects are the chaos working (the figures count them); only
  // an error that stops the client matters.
  client.on('error', (err) => {
    if (client.state === 'closed') watched.stopped ??= `${err.code}: ${err.message}`;
  });
  client.on('disconnected', (d) => {
    watched.disconnects[d.code] = (watched.disconnects[d.code] ?? 0) + 1;
  });
  for (const channel of channels) subscribe(watched, channel, ledgers.get(channel) as ChannelLedger);
  return watched;
}

interface Verdict {
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
  reported: number;
  unacknowledgedSeen: number;
}

/**
 * Walks one subscriber's events on one channel against the ledger. The expectation starts at the
 * first `subscribed` and restarts at each `recovered: false` from the position it gives; a
 * `recovered: true` promises the next publication after the last one delivered.
 */
export function checkAgainstLedger(ledger: ChannelLedger, events: Observed[], problem: (text: string) => void): Verdict {
  const verdict: Verdict = { delivered: 0, lost: 0, duplicated: 0, reordered: 0, reported: 0, unacknowledgedSeen: 0 };
  const sorted = [...ledger.acked].sort((a, b) => ledger.compare(a, b));
  const byPosition = new Map(sorted.map((p) => [`${p.epoch}:${p.offset}`, p.id]));
  /** The number of acknowledged publications strictly after `a` and before `b`. */
  const between = (a: Position, b: Position) => {
    const firstAfter = (p: Position, strict: boolean) => {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const c = ledger.compare(sorted[mid] as Position, p);
        if (c < 0 || (strict && c === 0)) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    return Math.max(0, firstAfter(b, false) - firstAfter(a, true));
  };
  const first = events.findIndex((e) => e.kind === 'subscribed');
  if (first < 0) return verdict;
  const start = events[first] as Position;
  let cursor: Position = { offset: start.offset, epoch: start.epoch };
  let context = `first subscribed at ${start.epoch}:${start.offset}`;
  const seen = new Set<string>();
  const seenIds = new Set<string>();
  for (const e of events.slice(first + 1)) {
    if (e.kind === 'subscribed') {
      context = `subscribed recovered=${e.recovered} at ${e.epoch}:${e.offset} (cursor ${cursor.epoch}:${cursor.offset})`;
      if (!e.recovered) {
        verdict.reported++;
        cursor = { offset: e.offset, epoch: e.epoch };
      } else if (e.epoch !== cursor.epoch) {
        problem(`recovered: true across epochs, ${cursor.epoch} -> ${e.epoch}`);
      }
      continue;
    }
    const key = `${e.epoch}:${e.offset}`;
    // The same payload in another epoch is a retry whose first attempt died with the old stream.
    const idKey = e.id === undefined ? undefined : `${e.epoch}:${e.id}`;
    if (seen.has(key) || (idKey !== undefined && seenIds.has(idKey))) {
      verdict.duplicated++;
      problem(`duplicate ${key} (${e.id ?? '?'}) after ${context}`);
      continue;
    }
    seen.add(key);
    if (idKey !== undefined) seenIds.add(idKey);
    if (ledger.compare(e, cursor) <= 0) {
      verdict.reordered++;
      problem(`out of order: ${key} after ${cursor.epoch}:${cursor.offset}; ${context}`);
      continue;
    }
    const skipped = between(cursor, e);
    if (skipped > 0) {
      verdict.lost += skipped;
      problem(`silent gap: ${skipped} acknowledged between ${cursor.epoch}:${cursor.offset} and ${key}; ${context}`);
    }
    const expectedId = byPosition.get(key);
    if (expectedId === undefined) verdict.unacknowledgedSeen++;
    else if (expectedId === e.id) verdict.delivered++;
    else {
      verdict.lost++;
      problem(`${key} carried ${e.id ?? '?'}, the ledger says ${expectedId}`);
    }
    cursor = { offset: e.offset, epoch: e.epoch };
    context = `message ${key}`;
  }
  return verdict;
}

interface Publisher {
  name: string;
  stop(): Promise<void>;
  acked: number;
  failures: number;
}

type PublishFn = (channel: string, id: string, pad: string) => Promise<StreamPosition>;

/**
 * Publishes until stopped, one at a time, to seeded random channels; only acks reach the ledger.
 * With `retries`, a failed publish is sent again under the same idempotency key: the hub must
 * answer with the first attempt's position if that one went through.
 */
function publisher(
  name: string,
  random: Random,
  publish: PublishFn,
  ledgers: Map<string, ChannelLedger>,
  retries = 0,
): Publisher {
  const channels = [...ledgers.keys()];
  let running = true;
  let n = 0;
  const p: Publisher = {
    name,
    acked: 0,
    failures: 0,
    stop: async () => {
      running = false;
      await done;
    },
  };
  const done = (async () => {
    while (running) {
      const channel = random.pick(channels);
      const id = `${name}-${n++}`;
      // Sizes vary so that recoveries cross the reply limit and stalled links fill up.
      const pad = 'x'.repeat(random.int(0, 300));
      for (let attempt = 0; attempt <= retries; attempt++) {
        try {
          (ledgers.get(channel) as ChannelLedger).ack(await publish(channel, id, pad), id);
          p.acked++;
          break;
        } catch {
          p.failures++;
          // The engine is away: pace the retries (this paces the load, it asserts nothing).
          await pause(20);
        }
      }
      await pause(random.int(1, 6));
    }
  })();
  return p;
}

/** Through the HTTP API; `idempotent` sends the payload id as the idempotency key. */
function httpPublish(hub: TestHub, idempotent: boolean): PublishFn {
  const url = `http://127.0.0.1:${hub.port}/api/publish`;
  return async (channel, id, pad) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, data: { id, pad }, ...(idempotent ? { idempotencyKey: id } : {}) }),
      signal: AbortSignal.timeout(3000),
    });
    const body = (await res.json()) as unknown;
    if (res.status !== 200) throw new Error(`publish ${res.status}: ${JSON.stringify(body)}`);
    const { offset, epoch } = body as StreamPosition;
    if (typeof offset !== 'number' || typeof epoch !== 'string') throw new Error(`publish answered ${JSON.stringify(body)}`);
    return { offset, epoch };
  };
}

async function killPubSubClients(url: string): Promise<number> {
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await admin.connect();
    return Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
  } catch {
    return 0;
  } finally {
    admin.disconnect();
  }
}

function hubConfig(options: ChaosOptions, prefix: string): ConfigInput {
  const engine: ConfigInput['engine'] =
    options.engine === 'memory'
      ? { type: 'memory' }
      : {
          type: 'redis',
          url: (options.redis as RedisServer).url,
          keyPrefix: prefix,
          connectTimeoutMs: 1000,
          commandTimeoutMs: 1000,
          reconnectMaxDelayMs: 200,
          healthCheckIntervalMs: 500,
        };
  return {
    engine,
    namespaces: {
      chaos: { history: { size: 100_000, ttlMs: 0 }, presence: true, joinLeave: true, clientPublish: true },
      brief: { history: { size: 10, ttlMs: 0 }, clientPublish: true },
    },
    // Half-open links are noticed after two silent intervals, on both ends. A small backpressure
    // limit makes stalled links slow consumers too; a small reply limit sends most recoveries as
    // paced pushes, and a low replay limit refuses the longest ones.
    server: { pingIntervalMs: 500, handshakeTimeoutMs: 2000, maxBackpressureBytes: 32 * 1024 },
    recovery: { maxPublications: 400, maxReplyBytes: 2048 },
    limits: { commands: { rate: 1e6, burst: 1e6 }, bytes: { rate: 1e9, burst: 1e9 } },
    api: { keys: [API_KEY], rateLimit: { rate: 1e6, burst: 1e6 } },
  };
}

let runs = 0;

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const began = Date.now();
  const { seed, chaosMs } = options;
  const log = options.log ?? (() => undefined);
  const settleMs = options.settleMs ?? 10_000;
  const redisKills = options.engine === 'redis' ? (options.redisKills ?? 1) : 0;
  if (options.engine === 'redis' && options.redis === undefined) throw new TypeError('the Redis engine needs options.redis');
  const random = Random.derive(seed, 0);
  const count = options.subscribers ?? 6;
  const channels = [...SHARED, ...Array.from({ length: count }, (_, i) => ownChannel(i))];
  const ledgers = new Map<string, ChannelLedger>(channels.map((c) => [c, new ChannelLedger()]));
  const problems: string[] = [];
  const problem = (text: string) => {
    if (problems.length < PROBLEMS_KEPT) problems.push(text);
  };

  const hub = await startTestHub(options.transport, hubConfig(options, `chaos${process.pid}-${++runs}:`));
  const proxy = await ChaosProxy.start({
    target: { host: '127.0.0.1', port: hub.port },
    seed,
    lifetimeMs: chaosMs + settleMs + 30_000,
  });
  const proxied = hub.url.replace(`:${hub.port}/`, `:${proxy.port}/`);
  const subscribers: Watched[] = [];
  const publishers: Publisher[] = [];
  const direct: HubClient[] = [];
  let killed = 0;
  let resubscribed = 0;
  let pubsubKills = 0;
  let outage: Promise<void> = Promise.resolve();
  try {
    for (let i = 0; i < count; i++) {
      const own = Random.derive(seed, 100 + i);
      const mine = [ownChannel(i), ...SHARED.filter((_c, k) => k === i % SHARED.length || own.chance(0.5))];
      const client = new HubClient(proxied, {
        WebSocket,
        reconnect: { minDelayMs: 10, maxDelayMs: 250 },
        handshakeTimeoutMs: 1000,
        timeoutMs: 3000,
        name: `sub${i}`,
        _random: () => own.next(),
      });
      subscribers.push(watchSubscriber(`sub${i}`, client, mine, ledgers));
    }
    const allSubscribed = () => subscribers.every((s) => [...s.subs.values()].every((e) => e.events.length > 0));
    if (!(await until(allSubscribed, 10_000))) throw new Error('the subscribers did not subscribe before chaos');
    log(`${options.engine}/${options.transport}: ${count} subscribers up; chaos for ${chaosMs} ms`);

    for (let i = 0; i < 2; i++) {
      // One HTTP publisher never retries, the other retries under an idempotency key.
      publishers.push(publisher(`http${i}`, Random.derive(seed, 200 + i), httpPublish(hub, i === 1), ledgers, i === 1 ? 3 : 0));
      const backoff = Random.derive(seed, 500 + i);
      const client = new HubClient(hub.url, {
        WebSocket,
        reconnect: { minDelayMs: 10, maxDelayMs: 100 },
        timeoutMs: 3000,
        _random: () => backoff.next(),
      });
      client.on('error', () => undefined);
      direct.push(client);
      publishers.push(
        publisher(
          `sdk${i}`,
          Random.derive(seed, 300 + i),
          (channel, id, pad) => client.publish(channel, { id, pad }, { idempotencyKey: id }),
          ledgers,
          3,
        ),
      );
    }
    proxy.startChaos(chaosMs);
    const chaosEnds = Date.now() + chaosMs;
    // Subscribers also change their minds: unsubscribe and subscribe again, while links break.
    const churning = subscribers.map(async (s, i) => {
      const own = Random.derive(seed, 400 + i);
      for (;;) {
        await pause(own.int(200, 1500));
        if (Date.now() >= chaosEnds) return;
        const channel = own.pick([...s.subs.keys()]);
        resubscribe(s, channel, ledgers.get(channel) as ChannelLedger);
        resubscribed++;
      }
    });
    if (options.redis !== undefined && redisKills > 0) {
      const redis = options.redis;
      outage = (async () => {
        const slot = chaosMs / redisKills;
        for (let k = 0; k < redisKills; k++) {
          const slotEnds = Date.now() + slot;
          await pause(random.int(Math.floor(slot * 0.1), Math.floor(slot * 0.4)));
          await redis.kill();
          killed++;
          log(`${options.engine}/${options.transport}: redis-server killed`);
          await pause(random.int(200, 700));
          await redis.restart();
          log(`${options.engine}/${options.transport}: redis-server restarted`);
          // The hub's pub/sub link alone breaks too: Redis keeps the streams, so what the node
          // missed meanwhile must be filled in or reported, never skipped.
          await pause(random.int(Math.floor(slot * 0.1), Math.floor(slot * 0.3)));
          pubsubKills += await killPubSubClients(redis.url);
          await pause(Math.max(0, slotEnds - Date.now()));
        }
      })();
    }
    await pause(chaosMs);
    proxy.stopChaos();
    await Promise.all(churning);
    await outage;
    await Promise.all(publishers.map((p) => p.stop()));

    // One more publication per channel after chaos: catching up means a live delivery too, so a
    // subscription the hub dropped without a word cannot pass for caught up.
    const marker = httpPublish(hub, true);
    for (const channel of channels) {
      const acked = await until(async () => {
        const id = `final-${channel}`;
        try {
          (ledgers.get(channel) as ChannelLedger).ack(await marker(channel, id, ''), id);
          return true;
        } catch {
          return false;
        }
      }, 10_000, 50);
      if (!acked) throw new Error(`the final publication on ${channel} was never acknowledged`);
    }
    const caughtUp = (s: Watched) =>
      s.client.state === 'connected' &&
      [...s.subs].every(([channel, e]) => {
        const ledger = ledgers.get(channel) as ChannelLedger;
        const last = ledger.last();
        return e.ended === undefined && e.latest !== undefined && last !== undefined && ledger.compare(e.latest, last) >= 0;
      });
    const settling = Date.now();
    await until(() => subscribers.every(caughtUp), settleMs);
    log(`${options.engine}/${options.transport}: caught up ${Date.now() - settling} ms after chaos`);

    const report: ChaosReport = {
      engine: options.engine,
      transport: options.transport,
      seed,
      chaosMs,
      forcedDisconnects: 0,
      disconnectCodes: {},
      acknowledged: 0,
      delivered: 0,
      lost: 0,
      duplicated: 0,
      reordered: 0,
      reported: 0,
      stuck: 0,
      unacknowledgedSeen: 0,
      publishFailures: publishers.reduce((n, p) => n + p.failures, 0),
      publishers: Object.fromEntries(publishers.map((p) => [p.name, p.acked])),
      redisKills: killed,
      pubsubKills,
      resubscribed,
      faults: { ...proxy.counts },
      leftover: {
        connections: -1,
        channels: -1,
        subscriptions: -1,
        transportConnections: -1,
        handshakes: -1,
        presenceMembers: -1,
        engineInterest: -1,
      },
      problems,
      ms: 0,
    };
    for (const ledger of ledgers.values()) report.acknowledged += ledger.acked.length;
    for (const s of subscribers) {
      for (const [code, n] of Object.entries(s.disconnects)) {
        report.forcedDisconnects += n;
        report.disconnectCodes[code] = (report.disconnectCodes[code] ?? 0) + n;
      }
      if (!caughtUp(s)) {
        report.stuck++;
        const where = [...s.subs].map(([c, e]) => `${c} at ${e.latest?.epoch}:${e.latest?.offset}${e.ended ? ` ended ${e.ended}` : ''}`);
        problem(`${s.name} stuck (${s.client.state}${s.stopped ? `, ${s.stopped}` : ''}): ${where.join(', ')}; last acknowledged ${[...s.subs.keys()].map((c) => JSON.stringify(ledgers.get(c)?.last())).join(', ')}`);
      }
      for (const [channel, e] of [...s.subs, ...s.retired.map((r) => [r.channel, r.entry] as const)]) {
        const v = checkAgainstLedger(ledgers.get(channel) as ChannelLedger, e.events, (text) => problem(`${s.name} ${channel}: ${text}`));
        report.delivered += v.delivered;
        report.lost += v.lost;
        report.duplicated += v.duplicated;
        report.reordered += v.reordered;
        report.reported += v.reported;
        report.unacknowledgedSeen += v.unacknowledgedSeen;
      }
    }

    // Everyone leaves; the hub must forget them all, including sessions behind half-open links.
    let closed = false;
    const closing = Promise.all([...subscribers.map((s) => s.client.close()), ...direct.map((c) => c.close())]).then(() => {
      closed = true;
    });
    // A socket closed on a dead path waits for a close frame that never comes: the proxy ends it.
    const leaving = Date.now();
    await until(() => closed, 2000);
    await proxy.close();
    await closing;
    const leftover = async () => {
      const stats = hub.hub.stats();
      const engine = await hub.engine.stats();
      let presenceMembers = 0;
      for (const channel of channels) presenceMembers += (await hub.engine.presence(channel)).length;
      return {
        connections: stats.connections,
        channels: stats.channels,
        subscriptions: stats.subscriptions,
        transportConnections: hub.transport.connections,
        handshakes: hub.transport.handshakes,
        presenceMembers,
        engineInterest: engine.interest ?? -1,
      };
    };
    await until(async () => isClean(await leftover()), 5000);
    report.leftover = await leftover();
    log(`${options.engine}/${options.transport}: clients gone and the hub clean ${Date.now() - leaving} ms after close`);
    report.ms = Date.now() - began;
    return report;
  } finally {
    await Promise.allSettled(publishers.map((p) => p.stop()));
    await outage.catch(() => undefined);
    await Promise.allSettled([...subscribers.map((s) => s.client.close()), ...direct.map((c) => c.close())]);
    await proxy.close();
    await hub.close();
    if (options.redis !== undefined && !options.redis.running) await options.redis.restart();
  }
}

/** Nothing left once every client is gone: the engine keeps only the hub's control channel. */
export function isClean(leftover: ChaosReport['leftover']): boolean {
  const { engineInterest, ...counts } = leftover;
  return engineInterest === 1 && Object.values(counts).every((n) => n === 0);
}

/** The figures, one line. */
export function summary(r: ChaosReport): string {
  return (
    `${r.engine}/${r.transport} seed=${r.seed}: forced disconnects ${r.forcedDisconnects}, acknowledged ${r.acknowledged}, ` +
    `delivered ${r.delivered}, lost ${r.lost}, duplicated ${r.duplicated}, reordered ${r.reordered}, ` +
    `reported ${r.reported}, stuck ${r.stuck} (close codes ${JSON.stringify(r.disconnectCodes)}, faults ${JSON.stringify(r.faults)}, publish failures ${r.publishFailures}, ` +
    `redis kills ${r.redisKills}, pub/sub kills ${r.pubsubKills}, resubscribed ${r.resubscribed}, ${r.ms} ms)`
  );
}

/** The seed for this run: CHAOS_SEED replays one. */
export function chaosSeed(): number {
  const given = process.env.CHAOS_SEED;
  if (given !== undefined && given !== '') {
    const n = Number(given);
    if (!Number.isInteger(n)) throw new TypeError(`CHAOS_SEED must be an integer, not ${given}`);
    return n >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

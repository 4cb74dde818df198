// A durable single node, as a user runs it: a real hubbub process with an append-only file, killed
// with SIGKILL at seeded random moments while publishers write, then restarted. Every publication
// the hub acknowledged must come back with its offset and epoch (fsync always), an SDK client
// must recover across the restart without a gap, a kill in the middle of a compaction must lose
// and double nothing, everysec must lose at most about a second, and a damaged file must be refused
// (naming the byte offset) unless --repair-data is given.

import { existsSync, readFileSync, watch as watchDir, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import * as sdk from '../../client/src/index.js';
import { argsOf, Signal, watch } from '../client/wait.js';
import { freePort, type HubProcess, spawnHub } from '../helpers/process.js';
import { systemClock } from '../../src/util/clock.js';
import { openEngine, tempDir } from '../unit/engine/memory/persistence/helpers.js';

const API_KEY = 'persistence-test-key-0123456789';

/** mulberry32: the kill moments are random but repeatable. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let tmp: ReturnType<typeof tempDir>;
const running = new Set<HubProcess>();
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => {
  for (const hub of running) hub.child.kill('SIGKILL');
  running.clear();
  tmp.remove();
});

/** The test's configuration file; without `persistence`, the data dir comes from --data-dir. */
function configFile(persistence?: Record<string, unknown>): string {
  const file = join(tmp.dir, 'hubbub.json');
  const engine = persistence === undefined ? { type: 'memory' } : { type: 'memory', persistence: { path: join(tmp.dir, 'data', 'hubbub.aof'), ...persistence } };
  writeFileSync(
    file,
    JSON.stringify({
      engine,
      api: { keys: [API_KEY], rateLimit: { rate: 1_000_000, burst: 1_000_000 } },
      namespaces: { chat: { history: { size: 100_000, ttlMs: 0 }, clientPublish: true } },
    }),
  );
  return file;
}

async function start(args: string[], env: Record<string, string> = {}, port?: number): Promise<HubProcess> {
  const hub = await spawnHub({ HUBBUB_LOG_LEVEL: 'info', ...env }, args, port);
  running.add(hub);
  return hub;
}

async function kill(hub: HubProcess): Promise<void> {
  hub.child.kill('SIGKILL');
  await hub.exited;
  running.delete(hub);
}

interface Ack {
  offset: number;
  epoch: string;
  data: unknown;
  at: number;
}

async function publish(hub: HubProcess, channel: string, data: unknown): Promise<Ack | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${hub.port}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, data }),
    });
    if (res.status !== 200) return undefined;
    const { offset, epoch } = (await res.json()) as { offset: number; epoch: string };
    return { offset, epoch, data, at: Date.now() };
  } catch {
    return undefined; // the hub died with this request in flight: not acknowledged
  }
}

async function history(hub: HubProcess, channel: string) {
  const res = await fetch(`http://127.0.0.1:${hub.port}/api/history?channel=${encodeURIComponent(channel)}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { publications: { offset: number; data: unknown }[]; offset: number; epoch: string };
}

/**
 * Publishers writing until `stop()` or the hub's death; every acknowledged publication goes into
 * `acks`. A request that failed (no answer) is not acknowledged, may or may not have been applied,
 * and is counted in `unanswered`; the publisher goes on with the next one.
 */
function publishers(hub: HubProcess, channels: string[], n: number, acks: Ack[], pad = '') {
  let stopped = false;
  const counts = { unanswered: 0 };
  const alive = () => hub.child.exitCode === null && hub.child.signalCode === null;
  const runs = Array.from({ length: n }, async (_, p) => {
    for (let i = 0; !stopped && alive(); i++) {
      const channel = channels[p % channels.length]!;
      const ack = await publish(hub, channel, pad === '' ? { p, i } : { p, i, pad });
      if (ack === undefined) counts.unanswered++;
      else acks.push({ ...ack, data: { channel, p, i } });
    }
  });
  return {
    counts,
    stop: async () => {
      stopped = true;
      await Promise.all(runs);
    },
  };
}

/** Every acknowledged publication is in the channel's history at its offset, in its epoch. */
async function checkLedger(hub: HubProcess, channel: string, acks: Ack[]): Promise<number> {
  const h = await history(hub, channel);
  const byOffset = new Map(h.publications.map((p) => [p.offset, p.data]));
  // No gap, no duplicate: offsets run 1..top.
  expect(h.publications.map((p) => p.offset)).toEqual(Array.from({ length: h.offset }, (_, i) => i + 1));
  const mine = acks.filter((a) => (a.data as { channel: string }).channel === channel);
  for (const a of mine) {
    const { p, i } = a.data as { p: number; i: number };
    expect(byOffset.get(a.offset)).toMatchObject({ p, i });
    expect(a.epoch).toBe(h.epoch);
  }
  return mine.length;
}

/**
 * SIGKILLs the hub while a compaction is writing its new file, once an earlier compaction has
 * swapped its file in (so writes went on across a completed swap first). Watches the directory
 * and also polls, since a fast compaction can come and go between two events.
 */
async function killDuringCompaction(hub: HubProcess, dataDir: string): Promise<void> {
  const rewrite = join(dataDir, 'hubbub.aof.rewrite');
  let seen = false;
  let swaps = 0;
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (existsSync(rewrite)) seen = true;
      else if (seen) {
        seen = false;
        swaps++;
      }
      if (seen && swaps > 0) finish();
    };
    const watcher = watchDir(dataDir, check);
    const poll = setInterval(check, 2);
    const deadline = setTimeout(() => finish(new Error(`no compaction to kill within 30 s:\n${hub.output()}`)), 30_000);
    hub.child.once('exit', () => finish(new Error(`the hub exited on its own:\n${hub.output()}`)));
    let done = false;
    function finish(err?: Error) {
      if (done) return;
      done = true;
      if (err === undefined) hub.child.kill('SIGKILL');
      watcher.close();
      clearInterval(poll);
      clearTimeout(deadline);
      if (err === undefined) resolve();
      else reject(err);
    }
  });
}

describe('a hubbub process with fsync always, killed with SIGKILL', { timeout: 60_000 }, () => {
  it('keeps every acknowledged publication with its offset and epoch across seeded random kills', async () => {
    const args = ['--config', configFile({ fsync: 'always' })];
    const random = rng(14);
    const channels = ['chat:ledger-a', 'chat:ledger-b'];
    const acks: Ack[] = [];
    for (let round = 0; round < 2; round++) {
      const hub = await start(args);
      if (round === 0) expect(hub.output()).toMatch(/survive a restart: kept in .*hubbub\.aof \(fsync always\)/);
      for (const c of channels) await checkLedger(hub, c, acks);
      const load = publishers(hub, channels, 8, acks);
      const before = acks.length;
      // A seeded moment after writes are under way (fault injection, not a timing assertion).
      while (acks.length < before + 50) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 50 + random() * 300));
      await kill(hub);
      await load.stop();
    }
    const hub = await start(args);
    let checked = 0;
    for (const c of channels) checked += await checkLedger(hub, c, acks);
    expect(checked).toBe(acks.length);
    expect(checked).toBeGreaterThan(100);
  });

  it('lets an SDK client that was subscribed before the crash recover with no gap after the restart', async () => {
    const args = ['--config', configFile({ fsync: 'always' })];
    const port = await freePort();
    let hub = await start(args, {}, port);
    const signal = new Signal();
    const client = new sdk.HubClient(`ws://127.0.0.1:${port}/ws`, { WebSocket, reconnect: { minDelayMs: 20, maxDelayMs: 200 } });
    try {
      const sub = client.subscribe('chat:sdk');
      const events = watch(signal, sub, 'subscribed', 'message');
      await sub.ready;
      for (let i = 0; i < 10; i++) await publish(hub, 'chat:sdk', i);
      await signal.until(() => argsOf(events, 'message').length === 10);
      await kill(hub);
      hub = await start(args, {}, port);
      // Published after the restart, possibly before the client is back: recovered from the file's stream.
      for (let i = 10; i < 15; i++) await publish(hub, 'chat:sdk', i);
      await signal.until(() => argsOf(events, 'subscribed').length === 2, 10_000, 'resubscribed after the restart');
      expect(argsOf<sdk.SubscribedInfo>(events, 'subscribed')[1]?.recovered).toBe(true);
      await signal.until(() => argsOf(events, 'message').length === 15, 5000, 'every publication');
      const messages = argsOf<sdk.Message>(events, 'message');
      expect(messages.map((m) => m.data)).toEqual(Array.from({ length: 15 }, (_, i) => i));
      expect(messages.map((m) => m.offset)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
      expect(new Set(messages.map((m) => m.epoch)).size).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('loses and doubles nothing when killed in the middle of a compaction under 20 publishers', async () => {
    const args = ['--config', configFile({ fsync: 'always', rewriteMinBytes: 512 * 1024, rewriteGrowthPercent: 50 })];
    const dataDir = join(tmp.dir, 'data');
    let hub = await start(args);
    const channel = 'chat:compact';
    const acks: Ack[] = [];
    // Large publications, so that writing a snapshot takes long enough to be killed in.
    const load = publishers(hub, [channel], 20, acks, 'x'.repeat(4000));
    await killDuringCompaction(hub, dataDir);
    await hub.exited;
    running.delete(hub);
    await load.stop();
    // Killed mid-compaction: its unfinished file is still there (the restart discards it).
    expect(existsSync(join(dataDir, 'hubbub.aof.rewrite'))).toBe(true);
    hub = await start(args);
    expect(existsSync(join(dataDir, 'hubbub.aof.rewrite'))).toBe(false);
    const h = await history(hub, channel);
    expect(await checkLedger(hub, channel, acks)).toBe(acks.length);
    // Beyond the acknowledged, only requests that got no answer (the 20 in flight at the kill,
    // and any dropped before) can have made it to disk.
    expect(h.offset - acks.length).toBeGreaterThanOrEqual(0);
    expect(h.offset - acks.length).toBeLessThanOrEqual(load.counts.unanswered);
  });
});

describe('a hubbub process with --data-dir (fsync everysec)', { timeout: 60_000 }, () => {
  it('loses at most about the last second of acknowledged writes to SIGKILL, and renews the epoch', async () => {
    const dataDir = join(tmp.dir, 'data');
    let hub = await start(['--config', configFile(), '--data-dir', dataDir]);
    expect(hub.output()).toContain('(fsync everysec)');
    const acks: Ack[] = [];
    const load = publishers(hub, ['chat:everysec'], 4, acks);
    while (acks.length < 600) await new Promise((r) => setTimeout(r, 10));
    const killedAt = Date.now();
    await kill(hub);
    await load.stop();
    hub = await start(['--config', configFile(), '--data-dir', dataDir]);
    expect(hub.output()).toMatch(/new epochs/);
    const h = await history(hub, 'chat:everysec');
    const kept = new Set(h.publications.map((p) => p.offset));
    const lost = acks.filter((a) => !kept.has(a.offset));
    // Whatever was lost was acknowledged in the last second before the kill (slack for a busy machine).
    for (const a of lost) expect(killedAt - a.at).toBeLessThan(2500);
    // What survived is what was acknowledged at those offsets, under a new epoch.
    const byOffset = new Map(h.publications.map((p) => [p.offset, p.data]));
    for (const a of acks.filter((x) => kept.has(x.offset))) {
      const { p, i } = a.data as { p: number; i: number };
      expect(byOffset.get(a.offset)).toEqual({ p, i });
    }
    expect(h.epoch).not.toBe(acks[0]!.epoch);
  });
});

describe('a damaged data file', { timeout: 60_000 }, () => {
  it('is refused with the byte offset named, then started with --repair-data', async () => {
    const dataDir = join(tmp.dir, 'data');
    const path = join(dataDir, 'hubbub.aof');
    // Written in-process (faster than a hub), on the wall clock the hub will read it with.
    const writer = await openEngine(path, { fsync: 'no' }, { clock: systemClock });
    for (let i = 0; i < 20; i++) await writer.publish('chat:damaged', JSON.stringify(i), { history: { size: 100, ttlMs: 0 } });
    await writer.close();
    const buf = readFileSync(path);
    const at = Math.floor(buf.length / 2);
    buf.fill(0x55, at, at + 16);
    writeFileSync(path, buf);
    const refused = await start(['--config', configFile(), '--data-dir', dataDir]).then(
      () => '',
      (err: unknown) => String(err),
    );
    expect(refused).toMatch(/damaged in the middle: .*hubbub\.aof at byte offset \d+/);
    expect(refused).toContain('--repair-data');
    const hub = await start(['--config', configFile(), '--data-dir', dataDir, '--repair-data']);
    expect(hub.output()).toMatch(/repaired .* truncated at byte offset \d+, dropping \d+ bytes and \d+ records/);
    const h = await history(hub, 'chat:damaged');
    const offsets = h.publications.map((p) => p.offset);
    expect(offsets.length).toBeGreaterThan(0);
    expect(offsets.length).toBeLessThan(20);
    expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => i + 1));
  });
});

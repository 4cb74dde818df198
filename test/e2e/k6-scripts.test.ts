// The k6 load scripts, run for a couple of seconds through the Node shim (load/k6/shim) against
// real hubs: every scenario must pass its own thresholds with deliveries and no gaps; the
// reconnect storm must bring every subscriber back across a restart of a hub process with
// --data-dir, with no silent gap; and a hub that refuses publications, or (a fake one) skips an
// offset, must fail the thresholds.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runK6Script, type RunSummary } from '../../load/k6/shim/run.js';
import { type FakeConnection, FakeHub } from '../client/fake-hub.js';
import { type HubProcess, spawnHub } from '../helpers/process.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';

const API_KEY = 'k6-scripts-test-api-key-0123456789';
const AUTH_SECRET = 'k6-scripts-test-hmac-secret-0123456789abcdef';

/** A metric's value as the summary reports it; a counter nobody added to is 0. */
function metric(summary: RunSummary, name: string, value = 'count'): number {
  return summary.metrics[name]?.values[value] ?? 0;
}

function failedThresholds(summary: RunSummary): string[] {
  return summary.thresholds.filter((t) => !t.ok).map((t) => `${t.metric} ${t.expression} (${t.value})`);
}

function run(script: string, hub: { port: number }, env: Record<string, string>): Promise<RunSummary> {
  return runK6Script(`load/k6/${script}`, {
    log: false,
    env: {
      HUB: `ws://127.0.0.1:${hub.port}/ws`,
      API: `http://127.0.0.1:${hub.port}`,
      API_KEY,
      ...env,
    },
  });
}

describe('the k6 scenarios through the shim', { timeout: 60_000 }, () => {
  let hub: TestHub;
  beforeAll(async () => {
    // Auth on, so every script signs its HS256 tokens; personal channels for notify.
    hub = await startTestHub('ws', {
      auth: { hmacSecret: AUTH_SECRET },
      api: { keys: [API_KEY] },
      personalChannels: { enabled: true },
      namespaces: {
        chat: { history: { size: 1000 }, clientPublish: true },
        personal: { history: { size: 100 } },
      },
    });
  });
  afterAll(async () => {
    await hub.close();
  });

  const short = { AUTH_SECRET, DURATION_S: '2', SETTLE_S: '0.3', DRAIN_S: '0.6' };
  const cases: [string, Record<string, string>][] = [
    ['chat.ts', { ROOMS: '2', MEMBERS: '3', MESSAGE_EVERY_S: '0.2' }],
    ['dashboard.ts', { SUBSCRIBERS: '6', CHANNELS: '2', PUBLISH_PER_S: '20' }],
    ['notify.ts', { USERS: '6', PUSH_PER_S: '20' }],
    ['churn.ts', { VUS: '4', HOLD_MS: '300', FEED_PER_S: '20', CHANNELS: '2' }],
    ['fanout.ts', { SUBSCRIBERS: '5', PUBLISH_PER_S: '50' }],
  ];
  it.each(cases)('%s passes its thresholds, with deliveries and no gaps', async (script, env) => {
    const summary = await run(script, hub, { ...short, ...env });
    expect(summary.errors).toEqual([]);
    expect(failedThresholds(summary)).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(metric(summary, 'deliveries')).toBeGreaterThan(0);
    expect(metric(summary, 'gaps')).toBe(0);
    expect(metric(summary, 'errors')).toBe(0);
  });

  it('churn.ts measures every session it opened', async () => {
    const summary = await run('churn.ts', hub, { ...short, VUS: '3', HOLD_MS: '200', FEED_PER_S: '10' });
    expect(metric(summary, 'sessions')).toBeGreaterThanOrEqual(6); // 3 VUs, several rounds each in 2 s
    expect(metric(summary, 'connect_ms')).toBe(metric(summary, 'sessions'));
    expect(metric(summary, 'subscribe_ms')).toBe(metric(summary, 'sessions'));
  });

  it('fails the thresholds when the hub refuses publications', async () => {
    const strict = await startTestHub('ws', {
      api: { keys: [API_KEY] },
      namespaces: { chat: { history: { size: 1000 }, clientPublish: true, publishRate: { rate: 1, burst: 1 } } },
    });
    try {
      const summary = await run('chat.ts', strict, { DURATION_S: '1.5', DRAIN_S: '0.5', ROOMS: '1', MEMBERS: '3', MESSAGE_EVERY_S: '0.1' });
      expect(summary.ok).toBe(false);
      expect(metric(summary, 'errors')).toBeGreaterThan(0);
      expect(failedThresholds(summary)).toContainEqual(expect.stringMatching(/^errors count==0/));
    } finally {
      await strict.close();
    }
  });
});

describe('a hub that skips an offset', { timeout: 30_000 }, () => {
  it('fails the gaps threshold of fanout.ts', async () => {
    // A fake hub that numbers publications 1, 2, 4, 5, ...: offset 3 never reaches anyone.
    const fake = await FakeHub.start();
    const subscribers: FakeConnection[] = [];
    let offset = 0;
    fake.auto.subscribe = (cmd, conn) => {
      subscribers.push(conn);
      conn.reply(cmd, { offset: 0, epoch: 'e1' });
    };
    fake.auto.publish = (cmd, conn) => {
      offset += offset === 2 ? 2 : 1;
      conn.reply(cmd, { offset, epoch: 'e1' });
      for (const s of subscribers) if (!s.isClosed) s.pub(String(cmd.channel), offset, 'e1', cmd.data);
    };
    try {
      const summary = await run('fanout.ts', { port: Number(new URL(fake.url).port) }, { DURATION_S: '2', SETTLE_S: '0.3', DRAIN_S: '0.6', SUBSCRIBERS: '3', PUBLISH_PER_S: '20' });
      expect(summary.ok).toBe(false);
      expect(metric(summary, 'gaps')).toBe(3); // one missing publication, seen by each subscriber
      expect(failedThresholds(summary)).toEqual(['gaps count==0 (3)']);
    } finally {
      await fake.close();
    }
  });
});

describe('reconnect-storm.ts across a hub restart', { timeout: 60_000 }, () => {
  let dir: string;
  const hubs = new Set<HubProcess>();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hubbub-k6-'));
    writeFileSync(join(dir, 'hubbub.json'), JSON.stringify({ api: { keys: [API_KEY] }, namespaces: { chat: { history: { size: 1000 } } } }));
  });
  afterAll(() => {
    for (const h of hubs) h.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(port?: number): Promise<HubProcess> {
    const h = await spawnHub({ HUBBUB_LOG_LEVEL: 'warn' }, ['--config', join(dir, 'hubbub.json'), '--data-dir', join(dir, 'data')], port);
    hubs.add(h);
    return h;
  }

  /** The feed's first channel holds at least `n` publications. */
  async function published(h: HubProcess, n: number): Promise<void> {
    for (;;) {
      const res = await fetch(`http://127.0.0.1:${h.port}/api/history?channel=chat:k6-storm-0&limit=1&reverse=true`, {
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      if (res.ok && ((await res.json()) as { offset: number }).offset >= n) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('brings every subscriber back with exactly what it missed, no silent gap', async () => {
    const first = await start();
    const subscribers = 12;
    // Long enough for a restart through tsx on a busy machine; the run cannot end early.
    const running = run('reconnect-storm.ts', first, {
      SUBSCRIBERS: String(subscribers),
      CHANNELS: '3',
      PUBLISH_PER_S: '30',
      DURATION_S: '15',
      SETTLE_S: '0.3',
      DRAIN_S: '1',
      // Attempts 1-2 s apart, out of step: the restarted hub takes publications from the feed
      // before most subscribers are back, so they have something to recover.
      RETRY_MS: '1000',
      JITTER_MS: '1000',
    });
    await published(first, 3);
    first.child.kill('SIGTERM'); // graceful: the epochs survive, so everyone can resume
    expect(await first.exited).toBe(0);
    hubs.delete(first);
    await start(first.port);
    const summary = await running;

    expect(summary.errors).toEqual([]);
    expect(failedThresholds(summary)).toEqual([]);
    expect(metric(summary, 'silent_gaps')).toBe(0);
    expect(metric(summary, 'reported_gaps')).toBe(0);
    expect(metric(summary, 'resumes')).toBe(subscribers);
    expect(metric(summary, 'recovered_publications')).toBeGreaterThan(0);
    expect(metric(summary, 'unresumed')).toBe(0);
    expect(metric(summary, 'lost')).toBe(0);
    expect(metric(summary, 'deliveries')).toBeGreaterThan(0);
  });
});

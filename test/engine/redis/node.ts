// A "node" for Redis engine tests: a RedisEngine with a handler that records every event in
// arrival order (publications and losses on one timeline), and waits on conditions, not sleeps.

import { pino } from 'pino';
import { expect } from 'vitest';
import { RedisEngine, type RedisEngineOptions } from '../../../src/engine/index.js';
import type { ClientInfo, LeaderboardUpdate, PublishResult } from '../../../src/engine/types.js';

export type Event =
  | { kind: 'pub'; channel: string; offset: number; epoch: string; data: string }
  | { kind: 'lost'; channel: string }
  | { kind: 'join' | 'leave'; channel: string; member: ClientInfo }
  | { kind: 'board'; channel: string; update: LeaderboardUpdate };

export interface TestNode {
  engine: RedisEngine;
  events: Event[];
  pubs(channel: string): Extract<Event, { kind: 'pub' }>[];
}

export async function startNode(options: RedisEngineOptions): Promise<TestNode> {
  const engine = new RedisEngine(
    { reconnectMaxDelayMs: 200, presenceSweepIntervalMs: 100, ...options },
    pino({ level: 'silent' }),
  );
  const events: Event[] = [];
  await engine.start({
    onPublication: (channel, p, epoch) => events.push({ kind: 'pub', channel, offset: p.offset, epoch, data: p.data }),
    onUnrecoverable: (channel) => events.push({ kind: 'lost', channel }),
    onJoin: (channel, member) => events.push({ kind: 'join', channel, member }),
    onLeave: (channel, member) => events.push({ kind: 'leave', channel, member }),
    onLeaderboardUpdate: (channel, update) => events.push({ kind: 'board', channel, update }),
  });
  const pubs = (channel: string) =>
    events.filter((e): e is Extract<Event, { kind: 'pub' }> => e.kind === 'pub' && e.channel === channel);
  return { engine, events, pubs };
}

/** Resolves once `check` holds; fails with `what` after the deadline. */
export async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Like `until`, for a check that has to ask over the network. */
export async function untilAsync(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The gap-safety promise, checked on a receiver's timeline: publications of a channel arrive in
 * order and each once; wherever one is skipped, a loss was reported first; every acknowledged
 * publication was delivered unless a loss was reported.
 */
export function expectNoSilentGap(events: readonly Event[], channel: string, acked: readonly PublishResult[]): void {
  let previous: { offset: number; epoch: string } | undefined;
  const seen = new Set<string>();
  let losses = 0;
  for (const e of events) {
    if (e.channel !== channel) continue;
    if (e.kind === 'lost') {
      losses++;
      previous = undefined;
      continue;
    }
    if (e.kind !== 'pub') continue;
    const key = `${e.epoch}:${e.offset}`;
    expect(seen.has(key), `delivered twice: ${key}`).toBe(false);
    seen.add(key);
    if (previous !== undefined) {
      const expected = e.epoch === previous.epoch ? previous.offset + 1 : 1;
      expect(e.offset, `after ${previous.epoch}:${previous.offset} came ${key} with no loss reported`).toBe(expected);
    }
    previous = e;
  }
  const missing = acked.filter((a) => !seen.has(`${a.epoch}:${a.offset}`));
  if (missing.length > 0) {
    expect(losses, `${missing.length} acknowledged publications never delivered, and no loss reported`).toBeGreaterThan(0);
  }
}

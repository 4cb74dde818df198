// The engine contract: one suite every engine must pass, built from a factory so the memory engine
// and the Redis engine run the very same tests. Time moves through `advance`, which a memory
// engine implements with a manual clock and a networked one may implement with real waiting.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  ClientInfo,
  Engine,
  EngineHandler,
  LeaderboardUpdate,
  Publication,
} from '../../src/engine/types.js';
import { HubError } from '../../src/protocol/errors.js';

export interface EngineUnderTest {
  engine: Engine;
  /** Moves time forward by `ms` as the engine sees it, and runs any expiry that became due. */
  advance(ms: number): Promise<void>;
  cleanup?(): Promise<void>;
}

export type EngineFactory = () => Promise<EngineUnderTest>;

interface Recorded {
  publications: { channel: string; publication: Publication; epoch: string }[];
  joins: { channel: string; member: ClientInfo }[];
  leaves: { channel: string; member: ClientInfo }[];
  boards: { board: string; update: LeaderboardUpdate }[];
  unrecoverable: string[];
}

function recorder(): EngineHandler & Recorded {
  const r: Recorded = { publications: [], joins: [], leaves: [], boards: [], unrecoverable: [] };
  return {
    ...r,
    onPublication: (channel, publication, epoch) => r.publications.push({ channel, publication, epoch }),
    onJoin: (channel, member) => r.joins.push({ channel, member }),
    onLeave: (channel, member) => r.leaves.push({ channel, member }),
    onLeaderboardUpdate: (board, update) => r.boards.push({ board, update }),
    onUnrecoverable: (channel) => r.unrecoverable.push(channel),
  };
}

/** Waits until `check` stops throwing: events from a networked engine arrive asynchronously. */
export async function eventually(check: () => void, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<HubError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HubError);
  expect((err as HubError).code).toBe(code);
  return err as HubError;
}

const json = (value: unknown) => JSON.stringify(value);
const alice1: ClientInfo = { client: 'c1', user: 'alice', info: { name: 'Alice' } };
const alice2: ClientInfo = { client: 'c2', user: 'alice' };
const bob: ClientInfo = { client: 'c3', user: 'bob' };
const keep = (size: number, ttlMs = 0) => ({ history: { size, ttlMs } });

export function engineContract(name: string, factory: EngineFactory): void {
  describe(`Engine contract: ${name}`, () => {
    let t: EngineUnderTest;
    let engine: Engine;
    let events: ReturnType<typeof recorder>;

    beforeEach(async () => {
      t = await factory();
      engine = t.engine;
      events = recorder();
      await engine.start(events);
    });

    afterEach(async () => {
      await engine.close();
      await t.cleanup?.();
    });

    describe('pub/sub', () => {
      it('delivers publications to a channel of interest with consecutive offsets and one epoch', async () => {
        await engine.subscribe('chat:a');
        const r1 = await engine.publish('chat:a', json({ n: 1 }));
        const r2 = await engine.publish('chat:a', json({ n: 2 }), { from: alice1 });
        expect(r1).toMatchObject({ offset: 1, duplicate: false });
        expect(r2).toMatchObject({ offset: 2, epoch: r1.epoch, duplicate: false });
        await eventually(() => expect(events.publications).toHaveLength(2));
        expect(
          events.publications.map((e) => [e.channel, e.publication.offset, e.publication.data, e.epoch]),
        ).toEqual([
          ['chat:a', 1, '{"n":1}', r1.epoch],
          ['chat:a', 2, '{"n":2}', r1.epoch],
        ]);
        expect(events.publications[0]?.publication.from).toBeUndefined();
        expect(events.publications[1]?.publication.from).toEqual(alice1);
      });

      it('delivers nothing for channels without interest, and stops after unsubscribe', async () => {
        await engine.subscribe('chat:a');
        await engine.publish('chat:b', '1');
        await engine.publish('chat:a', '2');
        await engine.unsubscribe('chat:a');
        await engine.publish('chat:a', '3');
        await engine.subscribe('chat:c');
        await engine.publish('chat:c', '4');
        await eventually(() =>
          expect(events.publications.map((e) => e.publication.data)).toEqual(['2', '4']),
        );
      });

      it('keeps offsets separate per channel', async () => {
        expect((await engine.publish('chat:a', '1')).offset).toBe(1);
        expect((await engine.publish('chat:b', '1')).offset).toBe(1);
        expect((await engine.publish('chat:a', '2')).offset).toBe(2);
      });
    });

    describe('history', () => {
      it('keeps the newest entries up to the size, in order', async () => {
        for (let i = 1; i <= 5; i++) await engine.publish('chat:a', json(i), keep(3));
        const { publications, top } = await engine.history('chat:a');
        expect(publications.map((p) => [p.offset, p.data])).toEqual([
          [3, '3'],
          [4, '4'],
          [5, '5'],
        ]);
        expect(top.offset).toBe(5);
      });

      it('reads after an exclusive position, forward and reverse, with a limit', async () => {
        const { epoch } = await engine.publish('chat:a', '1', keep(10));
        for (let i = 2; i <= 6; i++) await engine.publish('chat:a', json(i), keep(10));
        const since = { offset: 2, epoch };
        const forward = await engine.history('chat:a', { since, limit: 3 });
        expect(forward.publications.map((p) => p.offset)).toEqual([3, 4, 5]);
        const reverse = await engine.history('chat:a', {
          since: { offset: 5, epoch },
          reverse: true,
          limit: 2,
        });
        expect(reverse.publications.map((p) => p.offset)).toEqual([4, 3]);
        const newest = await engine.history('chat:a', { reverse: true, limit: 2 });
        expect(newest.publications.map((p) => p.offset)).toEqual([6, 5]);
        const onlyTop = await engine.history('chat:a', { limit: 0 });
        expect(onlyTop).toEqual({ publications: [], top: { offset: 6, epoch } });
      });

      it('returns nothing, and no error, for a client already at the top', async () => {
        const { epoch } = await engine.publish('chat:a', '1', keep(1));
        await engine.publish('chat:a', '2', keep(1));
        const r = await engine.history('chat:a', { since: { offset: 2, epoch } });
        expect(r.publications).toEqual([]);
      });

      it('refuses to recover from a position whose successors were trimmed', async () => {
        const { epoch } = await engine.publish('chat:a', '1', keep(2));
        for (let i = 2; i <= 4; i++) await engine.publish('chat:a', json(i), keep(2));
        // Entries 3 and 4 are held: recovering from 2 works, from 1 would miss 2.
        const ok = await engine.history('chat:a', { since: { offset: 2, epoch } });
        expect(ok.publications.map((p) => p.offset)).toEqual([3, 4]);
        await rejectsWithCode(
          engine.history('chat:a', { since: { offset: 1, epoch } }),
          'unrecoverable_position',
        );
      });

      it('refuses to recover across an epoch change', async () => {
        const { epoch } = await engine.publish('chat:a', '1', keep(10));
        await rejectsWithCode(
          engine.history('chat:a', { since: { offset: 1, epoch: `${epoch}x` } }),
          'unrecoverable_position',
        );
        await engine.removeHistory('chat:a');
        const after = await engine.publish('chat:a', '2', keep(10));
        expect(after.epoch).not.toBe(epoch);
        expect(after.offset).toBe(1);
        await rejectsWithCode(
          engine.history('chat:a', { since: { offset: 1, epoch } }),
          'unrecoverable_position',
        );
      });

      it('advances offsets without keeping entries when no history is asked for', async () => {
        await engine.publish('chat:a', '1');
        const r = await engine.publish('chat:a', '2');
        expect(r.offset).toBe(2);
        const h = await engine.history('chat:a');
        expect(h).toEqual({ publications: [], top: { offset: 2, epoch: r.epoch } });
      });

      it('gives a stable epoch to a subscribed reader before the first publication', async () => {
        await engine.subscribe('chat:new');
        const before = await engine.history('chat:new');
        expect(before.top.offset).toBe(0);
        const pub = await engine.publish('chat:new', '1', keep(10));
        expect(pub.epoch).toBe(before.top.epoch);
        const recovered = await engine.history('chat:new', { since: before.top });
        expect(recovered.publications.map((p) => p.data)).toEqual(['1']);
      });

      it('drops entries older than the history TTL', async () => {
        const { epoch } = await engine.publish('chat:a', '1', keep(10, 1000));
        await t.advance(600);
        await engine.publish('chat:a', '2', keep(10, 1000));
        await t.advance(600);
        const h = await engine.history('chat:a', keep(10, 1000));
        expect(h.publications.map((p) => p.data)).toEqual(['2']);
        await rejectsWithCode(
          engine.history('chat:a', { since: { offset: 0, epoch } }),
          'unrecoverable_position',
        );
      });

      it('forgets an idle stream after its meta TTL, starting a new epoch', async () => {
        const first = await engine.publish('chat:a', '1', { ...keep(10), metaTtlMs: 1000 });
        await t.advance(1500);
        const second = await engine.publish('chat:a', '2', { ...keep(10), metaTtlMs: 1000 });
        expect(second.epoch).not.toBe(first.epoch);
        expect(second.offset).toBe(1);
      });

      it('keeps the epoch of a stream that is published to more often than its meta TTL', async () => {
        const opts = { ...keep(10), metaTtlMs: 1000 };
        const first = await engine.publish('chat:a', '1', opts);
        await t.advance(600);
        await engine.publish('chat:a', '2', opts);
        await t.advance(600);
        const third = await engine.publish('chat:a', '3', opts);
        expect(third).toMatchObject({ offset: 3, epoch: first.epoch });
      });

      it('deduplicates a retried publish with the same idempotency key inside the window', async () => {
        await engine.subscribe('chat:a');
        const opts = { ...keep(10), idempotencyKey: 'k1', idempotencyWindowMs: 1000 };
        const first = await engine.publish('chat:a', '"x"', opts);
        const retry = await engine.publish('chat:a', '"x"', opts);
        expect(retry).toEqual({ offset: first.offset, epoch: first.epoch, duplicate: true });
        const other = await engine.publish('chat:a', '"y"', { ...opts, idempotencyKey: 'k2' });
        expect(other.offset).toBe(2);
        await t.advance(1500);
        const late = await engine.publish('chat:a', '"x"', opts);
        expect(late).toMatchObject({ offset: 3, duplicate: false });
        await eventually(() =>
          expect(events.publications.map((e) => e.publication.data)).toEqual(['"x"', '"y"', '"x"']),
        );
        expect((await engine.history('chat:a')).publications).toHaveLength(3);
      });

      it('rejects a malformed history policy or limit with bad_request', async () => {
        await rejectsWithCode(
          engine.publish('chat:a', '1', { history: { size: -1, ttlMs: 0 } }),
          'bad_request',
        );
        await rejectsWithCode(engine.history('chat:a', { limit: -1 }), 'bad_request');
      });
    });

    describe('presence', () => {
      const ttl = { ttlMs: 10_000, joinLeave: true };

      it('lists members and counts a user with several clients once', async () => {
        await engine.addPresence('chat:a', alice1, ttl);
        await engine.addPresence('chat:a', alice2, ttl);
        await engine.addPresence('chat:a', bob, ttl);
        const members = await engine.presence('chat:a');
        expect(members.map((m) => m.client).sort()).toEqual(['c1', 'c2', 'c3']);
        expect(members.find((m) => m.client === 'c1')).toEqual(alice1);
        expect(await engine.presenceStats('chat:a')).toEqual({ clients: 3, users: 2 });
        await engine.removePresence('chat:a', 'c1');
        expect(await engine.presenceStats('chat:a')).toEqual({ clients: 2, users: 2 });
        await engine.removePresence('chat:a', 'c2');
        expect(await engine.presenceStats('chat:a')).toEqual({ clients: 1, users: 1 });
        expect(await engine.presenceStats('chat:empty')).toEqual({ clients: 0, users: 0 });
        expect(await engine.presence('chat:empty')).toEqual([]);
      });

      it('announces a join once (not on refresh) and a leave on removal', async () => {
        await engine.subscribe('chat:a');
        await engine.addPresence('chat:a', alice1, ttl);
        await engine.addPresence('chat:a', alice1, ttl);
        await engine.removePresence('chat:a', 'c1');
        await engine.removePresence('chat:a', 'c1');
        await eventually(() => expect(events.leaves).toHaveLength(1));
        expect(events.joins).toEqual([{ channel: 'chat:a', member: alice1 }]);
        expect(events.leaves).toEqual([{ channel: 'chat:a', member: alice1 }]);
      });

      it('announces nothing when join/leave is off', async () => {
        await engine.subscribe('chat:a');
        await engine.addPresence('chat:a', bob, { ttlMs: 10_000 });
        await engine.removePresence('chat:a', 'c3');
        await engine.publish('chat:a', '"marker"');
        await eventually(() => expect(events.publications).toHaveLength(1));
        expect(events.joins).toEqual([]);
        expect(events.leaves).toEqual([]);
      });

      it('drops a member its node stopped refreshing, with a leave', async () => {
        await engine.subscribe('chat:a');
        await engine.addPresence('chat:a', alice1, { ttlMs: 1000, joinLeave: true });
        await engine.addPresence('chat:a', bob, { ttlMs: 1000, joinLeave: true });
        await t.advance(600);
        await engine.addPresence('chat:a', bob, { ttlMs: 1000, joinLeave: true });
        await t.advance(600);
        await eventually(() => expect(events.leaves.map((l) => l.member.client)).toEqual(['c1']));
        expect((await engine.presence('chat:a')).map((m) => m.client)).toEqual(['c3']);
      });
    });

    describe('leaderboards', () => {
      it('ranks by score, highest first, ties by member descending as Redis does', async () => {
        await engine.leaderboardSet('scores:w', 'a', 10);
        await engine.leaderboardSet('scores:w', 'b', 10);
        await engine.leaderboardSet('scores:w', 'c', 20);
        expect(await engine.leaderboardIncr('scores:w', 'd', 10)).toBe(10);
        expect(await engine.leaderboardTop('scores:w', 10)).toEqual([
          { member: 'c', score: 20, rank: 0 },
          { member: 'd', score: 10, rank: 1 },
          { member: 'b', score: 10, rank: 2 },
          { member: 'a', score: 10, rank: 3 },
        ]);
        expect(await engine.leaderboardTop('scores:w', 2, 1)).toEqual([
          { member: 'd', score: 10, rank: 1 },
          { member: 'b', score: 10, rank: 2 },
        ]);
        expect(await engine.leaderboardRank('scores:w', 'b')).toBe(2);
        expect(await engine.leaderboardScore('scores:w', 'c')).toBe(20);
        expect(await engine.leaderboardCount('scores:w')).toBe(4);
        expect((await engine.leaderboardAround('scores:w', 'b', 1)).map((e) => e.member)).toEqual([
          'd',
          'b',
          'a',
        ]);
      });

      it('increments scores, adding absent members', async () => {
        expect(await engine.leaderboardIncr('scores:w', 'alice', 5)).toBe(5);
        expect(await engine.leaderboardIncr('scores:w', 'alice', -7.5)).toBe(-2.5);
        expect(await engine.leaderboardScore('scores:w', 'alice')).toBe(-2.5);
      });

      it('honours gt, lt, nx and xx like ZADD', async () => {
        const b = 'scores:modes';
        expect(await engine.leaderboardSet(b, 'm', 10)).toBe(true);
        expect(await engine.leaderboardSet(b, 'm', 5, { mode: 'gt' })).toBe(false);
        expect(await engine.leaderboardSet(b, 'm', 15, { mode: 'gt' })).toBe(true);
        expect(await engine.leaderboardSet(b, 'm', 20, { mode: 'lt' })).toBe(false);
        expect(await engine.leaderboardSet(b, 'm', 12, { mode: 'lt' })).toBe(true);
        expect(await engine.leaderboardSet(b, 'm', 1, { mode: 'nx' })).toBe(false);
        expect(await engine.leaderboardSet(b, 'n', 1, { mode: 'nx' })).toBe(true);
        expect(await engine.leaderboardSet(b, 'o', 1, { mode: 'xx' })).toBe(false);
        expect(await engine.leaderboardSet(b, 'n', 3, { mode: 'xx' })).toBe(true);
        expect(await engine.leaderboardScore(b, 'm')).toBe(12);
        expect(await engine.leaderboardScore(b, 'n')).toBe(3);
        expect(await engine.leaderboardScore(b, 'o')).toBeNull();
      });

      it('rejects NaN and infinite scores with invalid_score and changes nothing', async () => {
        await engine.leaderboardSet('scores:w', 'a', 1);
        await rejectsWithCode(engine.leaderboardSet('scores:w', 'a', Number.NaN), 'invalid_score');
        await rejectsWithCode(
          engine.leaderboardSet('scores:w', 'b', Number.POSITIVE_INFINITY),
          'invalid_score',
        );
        await rejectsWithCode(
          engine.leaderboardIncr('scores:w', 'a', Number.NEGATIVE_INFINITY),
          'invalid_score',
        );
        await rejectsWithCode(engine.leaderboardIncr('scores:x', 'a', Number.NaN), 'invalid_score');
        expect(await engine.leaderboardTop('scores:w', 10)).toEqual([{ member: 'a', score: 1, rank: 0 }]);
        expect(await engine.leaderboardCount('scores:x')).toBe(0);
      });

      it('answers reads on an empty or unknown board', async () => {
        expect(await engine.leaderboardTop('scores:none', 10)).toEqual([]);
        expect(await engine.leaderboardRank('scores:none', 'a')).toBeNull();
        expect(await engine.leaderboardScore('scores:none', 'a')).toBeNull();
        expect(await engine.leaderboardAround('scores:none', 'a', 3)).toEqual([]);
        expect(await engine.leaderboardCount('scores:none')).toBe(0);
        expect(await engine.leaderboardRemove('scores:none', 'a')).toBe(false);
        await rejectsWithCode(engine.leaderboardTop('scores:none', -1), 'bad_request');
      });

      it('keeps only the best members when capped', async () => {
        for (const [m, s] of [
          ['a', 1],
          ['b', 5],
          ['c', 3],
          ['d', 4],
        ] as const) {
          await engine.leaderboardSet('scores:cap', m, s, { maxMembers: 3 });
        }
        expect((await engine.leaderboardTop('scores:cap', 10)).map((e) => e.member)).toEqual(['b', 'd', 'c']);
        await engine.leaderboardIncr('scores:cap', 'e', 0.5, { maxMembers: 3 });
        expect(await engine.leaderboardScore('scores:cap', 'e')).toBeNull();
        expect(await engine.leaderboardCount('scores:cap')).toBe(3);
      });

      it('reports updates and removals of boards with interest', async () => {
        await engine.subscribe('scores:live');
        await engine.leaderboardIncr('scores:live', 'a', 2);
        await engine.leaderboardSet('scores:other', 'a', 2);
        await engine.leaderboardSet('scores:live', 'b', 7);
        await engine.leaderboardRemove('scores:live', 'a');
        await eventually(() => expect(events.boards).toHaveLength(3));
        expect(events.boards).toEqual([
          { board: 'scores:live', update: { member: 'a', score: 2 } },
          { board: 'scores:live', update: { member: 'b', score: 7 } },
          { board: 'scores:live', update: { member: 'a', score: null } },
        ]);
      });
    });

    describe('limits and counters', () => {
      it('allows a burst, then refuses with the time to wait, then refills', async () => {
        const policy = { rate: 2, periodMs: 1000, burst: 3 };
        const results = [];
        for (let i = 0; i < 4; i++) results.push(await engine.rateLimit('user:alice', policy));
        expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
        expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
        const refused = results[3];
        expect(refused?.retryAfterMs).toBeGreaterThan(0);
        expect(refused?.retryAfterMs).toBeLessThanOrEqual(500);
        expect((await engine.rateLimit('user:bob', policy)).allowed).toBe(true);
        await t.advance(600);
        expect((await engine.rateLimit('user:alice', policy)).allowed).toBe(true);
        expect((await engine.rateLimit('user:alice', policy)).allowed).toBe(false);
      });

      it('charges a cost and rejects a cost above the burst', async () => {
        const policy = { rate: 10, periodMs: 1000, burst: 10 };
        expect(await engine.rateLimit('k', policy, 7)).toMatchObject({ allowed: true, remaining: 3 });
        expect(await engine.rateLimit('k', policy, 4)).toMatchObject({ allowed: false });
        await rejectsWithCode(engine.rateLimit('k', policy, 11), 'bad_request');
      });

      it('counts in fixed windows that reset', async () => {
        expect(await engine.incrWindow('api:key1', 1000)).toMatchObject({ count: 1 });
        const second = await engine.incrWindow('api:key1', 1000, 4);
        expect(second.count).toBe(5);
        expect(second.resetMs).toBeGreaterThan(0);
        expect(second.resetMs).toBeLessThanOrEqual(1000);
        await t.advance(1100);
        expect(await engine.incrWindow('api:key1', 1000)).toMatchObject({ count: 1 });
      });
    });

    describe('lifecycle', () => {
      it('answers ping while open and rejects calls with engine_closed after close', async () => {
        await expect(engine.ping()).resolves.toBeUndefined();
        await engine.close();
        await rejectsWithCode(engine.publish('chat:a', '1'), 'engine_closed');
        await rejectsWithCode(engine.ping(), 'engine_closed');
      });
    });
  });
}

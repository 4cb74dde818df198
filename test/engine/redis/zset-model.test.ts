// The memory engine's Leaderboard against the semantics it copies, a real Redis sorted set: random
// command sequences run on both, comparing order and ties (equal scores by UTF-8 bytes), ZADD
// with CH and NX/XX/GT/LT as hubbub sends it, ZINCRBY, ZREVRANK (hubbub's rank, highest first)
// and ZRANK, ZREVRANGE WITHSCORES and the lowest-first cap. Every step is a round trip, so there
// are fewer and shorter runs than in the in-memory model tests.

import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Leaderboard } from '../../../src/engine/memory/leaderboard.js';
import type { RankedTreeOptions } from '../../../src/engine/memory/ranked-tree.js';
import type { LeaderboardEntry, ScoreMode } from '../../../src/engine/types.js';
import { isHubError } from '../../../src/protocol/errors.js';
import { redisAvailable, RedisServer } from '../../helpers/redis-server.js';

const KEY = 'zset-model';

interface Real {
  lb: Leaderboard;
  redis: Redis;
}
// Redis is the model: commands read it rather than a copy, so the model object holds nothing.
type Model = Record<string, never>;
type Cmd = fc.AsyncCommand<Model, Real>;

/** A flat ZRANGE ... WITHSCORES reply as entries ranked from `offset`. */
function entries(reply: string[], offset: number): LeaderboardEntry[] {
  const out: LeaderboardEntry[] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) {
    out.push({ member: reply[i] as string, score: Number(reply[i + 1]), rank: offset + i / 2 });
  }
  return out;
}

async function zscore(redis: Redis, member: string): Promise<number | undefined> {
  const score = await redis.zscore(KEY, member);
  return score === null ? undefined : Number(score);
}

/** ZADD with the flags src/engine/redis/scripts.ts (BOARD_SET) sends for each mode. */
async function zadd(redis: Redis, mode: ScoreMode, pairs: (string | number)[]): Promise<number> {
  const flags = mode === 'always' ? ['CH'] : mode === 'nx' ? ['NX'] : [mode.toUpperCase(), 'CH'];
  return Number(await redis.call('ZADD', KEY, ...flags, ...pairs));
}

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isHubError(err)) return err.code;
    throw err;
  }
  return 'no error';
}

const show = (v: unknown): string => (Object.is(v, -0) ? '-0' : JSON.stringify(v));

/** After every command: the whole board, its size and the tree's structure. */
async function sameBoards({ lb, redis }: Real): Promise<void> {
  lb.checkInvariants();
  const all = entries(await redis.zrevrange(KEY, 0, -1, 'WITHSCORES'), 0);
  expect(lb.size).toBe(all.length);
  expect(lb.top(all.length + 1)).toEqual(all);
}

function command(label: string, run: (r: Real) => Promise<void>): Cmd {
  return {
    check: () => true,
    run: async (_m, r) => {
      await run(r);
      await sameBoards(r);
    },
    toString: () => label,
  };
}

const named = ['a', 'b', 'ab', '', 'Z', 'é', '\uE000', '\uFFFF', '\u{10000}', '\u{1F600}'];
const memberArb = fc.oneof(fc.constantFrom(...named), fc.nat(40).map((i) => `f${i}`));
const scoreArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -4, max: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(0.5, 0.1, 0.2, -0, 1e15, 1.7e308, -1.7e308) },
);

const modeArb = fc.constantFrom<ScoreMode>('always', 'gt', 'lt', 'nx', 'xx');

const commands: fc.Arbitrary<Cmd>[] = [
  fc
    .record({ member: memberArb, score: scoreArb, mode: modeArb })
    .map(({ member, score, mode }) =>
      command(`set(${show(member)}, ${show(score)}, ${mode})`, async ({ lb, redis }) => {
        // As RedisLeaderboards sends it: -0 folded into 0 before it is printed.
        const changed = (await zadd(redis, mode, [String(score + 0), member])) === 1;
        expect(lb.set(member, score, mode)).toBe(changed);
      }),
    ),
  fc.record({ member: memberArb, by: scoreArb }).map(({ member, by }) =>
    command(`incr(${show(member)}, ${show(by)})`, async ({ lb, redis }) => {
      // ZINCRBY itself would store an infinity; hubbub refuses it first, on both engines.
      const sum = ((await zscore(redis, member)) ?? 0) + by;
      if (!Number.isFinite(sum)) {
        expect(errorCode(() => lb.incr(member, by))).toBe('invalid_score');
        return;
      }
      const score = Number(await redis.zincrby(KEY, String(by), member));
      expect(lb.incr(member, by)).toBe(score);
    }),
  ),
  memberArb.map((member) =>
    command(`remove(${show(member)})`, async ({ lb, redis }) => {
      expect(lb.remove(member)).toBe((await redis.zrem(KEY, member)) === 1);
    }),
  ),
  memberArb.map((member) =>
    command(`rank(${show(member)})`, async ({ lb, redis }) => {
      const [revRank, rank] = await Promise.all([redis.zrevrank(KEY, member), redis.zrank(KEY, member)]);
      expect(lb.rank(member)).toBe(revRank ?? undefined);
      expect(rank === null ? undefined : lb.size - 1 - rank).toBe(lb.rank(member));
      expect(lb.score(member)).toBe(await zscore(redis, member));
    }),
  ),
  fc.record({ limit: fc.nat(6), offset: fc.nat(50) }).map(({ limit, offset }) =>
    command(`top(${limit}, ${offset})`, async ({ lb, redis }) => {
      // ZREVRANGE with stop offset - 1 would mean "to the end": a zero limit never asks Redis.
      const stop = offset + limit - 1;
      const want = limit === 0 ? [] : entries(await redis.zrevrange(KEY, offset, stop, 'WITHSCORES'), offset);
      expect(lb.top(limit, offset)).toEqual(want);
    }),
  ),
  fc.record({ member: memberArb, n: fc.nat(3) }).map(({ member, n }) =>
    command(`around(${show(member)}, ${n})`, async ({ lb, redis }) => {
      const rank = await redis.zrevrank(KEY, member);
      const from = rank === null ? 0 : Math.max(0, rank - n);
      const want =
        rank === null ? [] : entries(await redis.zrevrange(KEY, from, rank + n, 'WITHSCORES'), from);
      expect(lb.around(member, n)).toEqual(want);
    }),
  ),
  fc.nat(45).map((max) =>
    command(`trimTo(${max})`, async ({ lb, redis }) => {
      // The cap as BOARD_ANNOUNCE applies it: the lowest first, as ZRANGE orders them.
      const excess = (await redis.zcard(KEY)) - max;
      const dropped = excess > 0 ? await redis.zrange(KEY, '0', String(excess - 1)) : [];
      if (excess > 0) await redis.zremrangebyrank(KEY, 0, excess - 1);
      expect(lb.trimTo(max)).toEqual(dropped);
    }),
  ),
  fc
    .record({
      count: fc.integer({ min: 1, max: 40 }),
      start: fc.integer({ min: -5, max: 5 }),
      step: fc.constantFrom(1, -1, 0, 0.5),
      backwards: fc.boolean(),
    })
    .map(({ count, start, step, backwards }) =>
      command(`fill(${count}, ${start}, ${step}, ${backwards})`, async ({ lb, redis }) => {
        // Monotonic scores in one go: leaves fill one after another and split.
        const order = Array.from({ length: count }, (_, i) => (backwards ? count - 1 - i : i));
        const pairs: (string | number)[] = [];
        for (const i of order) {
          pairs.push(String(start + i * step), `f${i}`);
          lb.set(`f${i}`, start + i * step);
        }
        await zadd(redis, 'always', pairs);
      }),
    ),
  fc.record({ k: fc.integer({ min: 1, max: 40 }), fromTop: fc.boolean() }).map(({ k, fromTop }) =>
    command(`removeFrom(${fromTop ? 'top' : 'bottom'}, ${k})`, async ({ lb, redis }) => {
      const stop = String(k - 1);
      const members = fromTop ? await redis.zrevrange(KEY, 0, stop) : await redis.zrange(KEY, '0', stop);
      if (members.length > 0) await redis.zrem(KEY, ...members);
      for (const member of members) expect(lb.remove(member)).toBe(true);
    }),
  ),
];

if (redisAvailable('the Leaderboard against Redis ZSET model tests')) {
  describe('Leaderboard against a Redis sorted set', () => {
    let server: RedisServer;
    let redis: Redis;

    beforeAll(async () => {
      server = await RedisServer.start();
      redis = new Redis(server.url);
    });

    afterAll(async () => {
      redis.disconnect();
      await server.stop();
    });

    it('agrees on results, order, ties, ranks and the cap for random command sequences', async () => {
      const nodes: fc.Arbitrary<RankedTreeOptions> = fc.record({
        leafMax: fc.integer({ min: 2, max: 6 }),
        branchMax: fc.integer({ min: 3, max: 5 }),
      });
      await fc.assert(
        fc.asyncProperty(nodes, fc.commands(commands, { maxCommands: 20, size: 'max' }), async (options, cmds) => {
          await redis.del(KEY);
          const real = { lb: new Leaderboard(options), redis };
          await fc.asyncModelRun(() => ({ model: {}, real }), cmds);
        }),
        { numRuns: 300 },
      );
    });
  });
}

// Redis's DEBUG RELOAD idea as a model-based test: random publishes (with history sizes, TTLs,
// idempotency keys), removals, leaderboard changes (with member caps), time passing, compactions
// and evictions; at every "restart" (close, then a new engine replays the file) everything a client
// can read must be exactly what it was before: publications, offsets, epochs, scores and ranks.

import fc from 'fast-check';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MemoryEngine } from '../../../../../src/engine/index.js';
import type { ScoreMode } from '../../../../../src/engine/types.js';
import { ManualClock } from '../../../../../src/util/clock.js';
import { openEngine, type PersistOptions, readState, tempDir } from './helpers.js';

const CHANNELS = ['chat:a', 'chat:b', 'chat:c', 'chat:d'] as const;
const BOARDS = ['scores:x', 'scores:y'] as const;
const MEMBERS = ['ann', 'bob', 'cy', 'dee', 'eve'] as const;

interface Real {
  engine: MemoryEngine;
  clock: ManualClock;
  path: string;
  persistence: PersistOptions;
  restarts: number;
}

type Cmd = fc.AsyncCommand<object, Real>;

const limits = { maxStreams: 3, maxHistoryEntries: 12 };

async function restart(r: Real): Promise<void> {
  const before = await readState(r.engine, CHANNELS, BOARDS);
  await r.engine.close();
  r.engine = await openEngine(r.path, r.persistence, { clock: r.clock, ...limits });
  r.restarts++;
  expect(await readState(r.engine, CHANNELS, BOARDS)).toEqual(before);
}

const publish = fc
  .record({
    channel: fc.constantFrom(...CHANNELS),
    size: fc.integer({ min: 0, max: 6 }),
    ttlMs: fc.constantFrom(0, 0, 50),
    key: fc.option(fc.constantFrom('k1', 'k2', 'k3'), { nil: undefined }),
    data: fc.string({ maxLength: 12 }),
  })
  .map(
    ({ channel, size, ttlMs, key, data }): Cmd => ({
      check: () => true,
      run: async (_m, r) => {
        const options = { history: { size, ttlMs }, ...(key === undefined ? {} : { idempotencyKey: key }) };
        await r.engine.publish(channel, JSON.stringify(data), options);
      },
      toString: () => `publish(${channel}, size ${size}, ttl ${ttlMs}, key ${String(key)})`,
    }),
  );

const removeHistory = fc.constantFrom(...CHANNELS).map(
  (channel): Cmd => ({
    check: () => true,
    run: async (_m, r) => r.engine.removeHistory(channel),
    toString: () => `removeHistory(${channel})`,
  }),
);

const incr = fc
  .record({
    board: fc.constantFrom(...BOARDS),
    member: fc.constantFrom(...MEMBERS),
    by: fc.integer({ min: -5, max: 5 }),
    max: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  })
  .map(
    ({ board, member, by, max }): Cmd => ({
      check: () => true,
      run: async (_m, r) => {
        await r.engine.leaderboardIncr(board, member, by, max === undefined ? {} : { maxMembers: max });
      },
      toString: () => `incr(${board}, ${member}, ${by}, max ${String(max)})`,
    }),
  );

const set = fc
  .record({
    board: fc.constantFrom(...BOARDS),
    member: fc.constantFrom(...MEMBERS),
    score: fc.double({ min: -100, max: 100, noNaN: true }),
    mode: fc.constantFrom<ScoreMode>('always', 'gt', 'lt', 'nx', 'xx'),
  })
  .map(
    ({ board, member, score, mode }): Cmd => ({
      check: () => true,
      run: async (_m, r) => {
        await r.engine.leaderboardSet(board, member, score, { mode });
      },
      toString: () => `set(${board}, ${member}, ${score}, ${mode})`,
    }),
  );

const remove = fc.record({ board: fc.constantFrom(...BOARDS), member: fc.constantFrom(...MEMBERS) }).map(
  ({ board, member }): Cmd => ({
    check: () => true,
    run: async (_m, r) => {
      await r.engine.leaderboardRemove(board, member);
    },
    toString: () => `remove(${board}, ${member})`,
  }),
);

const advance = fc.integer({ min: 1, max: 80 }).map(
  (ms): Cmd => ({
    check: () => true,
    run: async (_m, r) => {
      r.clock.advance(ms);
      r.engine.sweep();
    },
    toString: () => `advance(${ms})`,
  }),
);

const reload: Cmd = { check: () => true, run: (_m, r) => restart(r), toString: () => 'restart' };
const compactThenReload: Cmd = {
  check: () => true,
  run: async (_m, r) => {
    await r.engine.compact();
    await restart(r);
  },
  toString: () => 'compact + restart',
};

const commands = [
  publish,
  publish,
  publish,
  removeHistory,
  incr,
  set,
  remove,
  advance,
  fc.constant(reload),
  fc.constant(compactThenReload),
];

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

describe('MemoryEngine with an append-only file, restarted', () => {
  for (const fsync of ['always', 'no'] as const) {
    it(`reads exactly the same streams and boards after every restart (fsync ${fsync})`, async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: 50, size: 'max' }), async (cmds) => {
          const clock = new ManualClock();
          const path = join(tmp.dir, `run-${run++}.aof`);
          const persistence = { fsync };
          const real: Real = { engine: await openEngine(path, persistence, { clock, ...limits }), clock, path, persistence, restarts: 0 };
          try {
            await fc.asyncModelRun(() => ({ model: {}, real }), cmds);
            await restart(real);
          } finally {
            await real.engine.close();
          }
        }),
        { numRuns: 25, seed: 1414 },
      );
    });
  }
});

// `npm run bench:engine`: single-thread throughput of the in-memory core, as ops/s (median of
// several timed rounds), plus memory per history entry. `-- --record` also rewrites the engine
// section of docs/benchmarks.md. Not a test: it prints numbers and the targets beside them.

import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { MemoryEngine } from '../src/engine/index.js';
import { Leaderboard, StreamLog } from '../src/engine/memory/index.js';
import { KeyedRateLimiter, TokenBucket } from '../src/ratelimit/index.js';
import { systemClock } from '../src/util/clock.js';

const ROUNDS = 5;
const ROUND_MS = 300;
let sink = 0;

interface Row {
  name: string;
  opsPerSec: number;
  target?: number;
}

/** Runs `op(i)` in batches until ROUND_MS has passed, ROUNDS times; returns the median ops/s. */
function measure(op: (i: number) => void, batch = 1000): number {
  let i = 0;
  const warmEnd = performance.now() + 100;
  while (performance.now() < warmEnd) for (let k = 0; k < batch; k++) op(i++);
  const results: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ROUND_MS) {
      for (let k = 0; k < batch; k++) op(i++);
      n += batch;
      now = performance.now();
    }
    results.push((n * 1000) / (now - start));
  }
  results.sort((a, b) => a - b);
  return results[Math.floor(results.length / 2)] ?? 0;
}

async function measureAsync(op: (i: number) => Promise<unknown>, batch = 1000): Promise<number> {
  let i = 0;
  const results: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ROUND_MS) {
      for (let k = 0; k < batch; k++) await op(i++);
      n += batch;
      now = performance.now();
    }
    if (r > 0) results.push((n * 1000) / (now - start)); // round 0 is the warm-up
  }
  results.sort((a, b) => a - b);
  return results[Math.floor(results.length / 2)] ?? 0;
}

function payloads(count: number, size: number): string[] {
  return Array.from({ length: count }, (_, i) => JSON.stringify(`${i}:`.padEnd(size - 2, 'x')));
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const p100 = payloads(4096, 100);

  // Streams: append with MAXLEN 1000 trimming, the structure alone and through the engine.
  const log = new StreamLog('bench');
  rows.push({
    name: 'stream append, MAXLEN 1000, 100 B payload (StreamLog)',
    opsPerSec: measure((i) => {
      sink += log.append(p100[i & 4095] as string, i, undefined, 1000);
    }),
    target: 2_000_000,
  });
  const engine = new MemoryEngine();
  const history = { history: { size: 1000, ttlMs: 0 } };
  rows.push({
    name: 'engine.publish with history 1000, 100 B payload (async)',
    opsPerSec: await measureAsync(async (i) => {
      sink += (await engine.publish('chat:bench', p100[i & 4095] as string, history)).offset;
    }),
  });

  // History: read 100 entries after an offset, in the middle of a 1000-entry log.
  const since = { offset: log.top - 500, epoch: log.epoch };
  rows.push({
    name: 'history read of 100 entries since an offset (StreamLog)',
    opsPerSec: measure(() => {
      sink += log.read({ since, limit: 100 }).length;
    }, 100),
    target: 200_000,
  });
  const top = (await engine.history('chat:bench', { limit: 0 })).top;
  const engineSince = { offset: top.offset - 500, epoch: top.epoch };
  rows.push({
    name: 'engine.history of 100 entries since an offset (async)',
    opsPerSec: await measureAsync(async () => {
      sink += (await engine.history('chat:bench', { since: engineSince, limit: 100 })).publications.length;
    }, 100),
  });

  // Leaderboards on a 1,000,000-member board.
  const N = 1_000_000;
  const board = new Leaderboard();
  const members = Array.from({ length: N }, (_, i) => `player-${i}`);
  for (let i = 0; i < N; i++) board.set(members[i] as string, Math.floor(Math.random() * 1_000_000));
  // A fixed pseudo-random walk over all members: every op touches a cold part of a ~300 MB board,
  // the worst case for caches.
  const pick = (i: number) => members[(i * 7919 + 13) % N] as string;
  rows.push({
    name: 'leaderboard incr by -7..8, uniform over 1,000,000 members',
    opsPerSec: measure((i) => {
      sink += board.incr(pick(i), (i & 15) - 7);
    }),
    target: 500_000,
  });
  rows.push({
    name: 'leaderboard rank, uniform over 1,000,000 members',
    opsPerSec: measure((i) => {
      sink += board.rank(pick(i)) ?? 0;
    }),
    target: 500_000,
  });
  rows.push({
    name: 'leaderboard top(10), 1,000,000 members',
    opsPerSec: measure(() => {
      sink += board.top(10).length;
    }),
    target: 1_000_000,
  });
  rows.push({
    name: 'leaderboard around(member, 5), 1,000,000 members',
    opsPerSec: measure((i) => {
      sink += board.around(pick(i), 5).length;
    }),
  });
  rows.push({
    name: 'leaderboard set to a random score (member jumps anywhere)',
    opsPerSec: measure((i) => {
      sink += board.set(pick(i), (i * 104729) % 1_000_000) ? 1 : 0;
    }),
  });
  // Live games touch a few thousand active players of a large board far more than the rest.
  const hot = (i: number) => members[((i * 7919 + 13) % 10_000) * 100] as string;
  rows.push({
    name: 'leaderboard incr, 10,000 active of 1,000,000 members',
    opsPerSec: measure((i) => {
      sink += board.incr(hot(i), (i & 15) - 7);
    }),
  });

  // Rate limits: the per-connection bucket (no lookup) and keyed limits over 10,000 keys.
  const bucket = new TokenBucket({ rate: 1e12, periodMs: 1000, burst: 1e9 }, systemClock);
  rows.push({
    name: 'rate-limit check, per-connection TokenBucket',
    opsPerSec: measure(() => {
      sink += bucket.take() ? 1 : 0;
    }),
    target: 5_000_000,
  });
  const limiter = new KeyedRateLimiter(systemClock);
  const keys = Array.from({ length: 10_000 }, (_, i) => `user:${i}`);
  const policy = { rate: 1e9, periodMs: 1000, burst: 1e6 };
  rows.push({
    name: 'rate-limit check, keyed (10,000 keys)',
    opsPerSec: measure((i) => {
      sink += limiter.allow(keys[i % 10_000] as string, policy).remaining;
    }),
    target: 5_000_000,
  });

  const memory = entryMemory();
  print(rows, memory);
  if (process.argv.includes('--record')) record(rows, memory);
  if (sink === Math.PI) process.stdout.write('\n'); // keeps `sink` observable
}

/** Heap bytes per history entry: 1,000,000 distinct 100 B payloads over 1,000 streams. */
function entryMemory(): { perEntry: number; payload: number } | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return undefined;
  const streams = 1000;
  const perStream = 1000;
  gc();
  const before = process.memoryUsage().heapUsed;
  const logs: StreamLog[] = [];
  for (let s = 0; s < streams; s++) {
    const log = new StreamLog(`e${s}`);
    for (let i = 0; i < perStream; i++) {
      log.append(JSON.stringify(`${s}:${i}:`.padEnd(98, 'x')), Date.now(), undefined, perStream);
    }
    logs.push(log);
  }
  gc();
  const after = process.memoryUsage().heapUsed;
  sink += logs.length;
  return { perEntry: (after - before) / (streams * perStream), payload: 100 };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function table(rows: Row[], memory: ReturnType<typeof entryMemory>): string {
  const lines = ['| operation | ops/s | target | |', '|---|---:|---:|---|'];
  for (const r of rows) {
    const verdict = r.target === undefined ? '' : r.opsPerSec >= r.target ? 'met' : '**below target**';
    lines.push(`| ${r.name} | ${fmt(r.opsPerSec)} | ${r.target ? `>= ${fmt(r.target)}` : ''} | ${verdict} |`);
  }
  if (memory !== undefined) {
    lines.push(
      `| memory per history entry, ${memory.payload} B payload | ${fmt(memory.perEntry)} bytes | reported | |`,
    );
  }
  return lines.join('\n');
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

function print(rows: Row[], memory: ReturnType<typeof entryMemory>): void {
  process.stdout.write(`hubbub engine benchmark, single thread: ${machine()}\n\n${table(rows, memory)}\n`);
  if (memory === undefined) process.stdout.write('\n(memory per entry needs node --expose-gc)\n');
}

function record(rows: Row[], memory: ReturnType<typeof entryMemory>): void {
  const path = new URL('../docs/benchmarks.md', import.meta.url);
  const begin = '<!-- bench:engine:begin -->';
  const end = '<!-- bench:engine:end -->';
  const section = [
    begin,
    `Command: \`npm run bench:engine\` on ${new Date().toISOString().slice(0, 10)}, ${machine()}.`,
    '',
    table(rows, memory),
    end,
  ].join('\n');
  const doc = readFileSync(path, 'utf8');
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end);
  if (from < 0 || to < 0) throw new Error('docs/benchmarks.md lacks the bench:engine markers');
  writeFileSync(path, doc.slice(0, from) + section + doc.slice(to + end.length));
  process.stdout.write('\nrecorded in docs/benchmarks.md\n');
}

await main();

// `npm run bench:aof`: what durability costs the memory engine, measured in one run. (a)
// Acknowledged publishes/s through MemoryEngine without persistence and with fsync no / everysec /
// always, with 1 and 64 publishes in flight (engine level: no sockets); (b) the reference: a
// throwaway redis-server with `appendonly yes` + `appendfsync always`, driven by redis-benchmark
// (`-t set`, `-c 1` and `-c 64`), and the ratio; (c) replay speed and compaction time for a file of
// 1,000,000 records, and its bytes per record. Files go to a temp dir on the same disk as /tmp.
// Each rate row is the median of 3 rounds. `-- --record` writes the table between the bench:aof
// markers of docs/benchmarks.md. Not a test: it prints numbers.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MemoryEngine } from '../src/engine/index.js';
import type { EngineHandler } from '../src/engine/types.js';
import { freePort } from '../test/helpers/process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOC = path.join(ROOT, 'docs/benchmarks.md');
const BEGIN = '<!-- bench:aof:begin -->';
const END = '<!-- bench:aof:end -->';
const ROUNDS = 3;
const ROUND_MS = 1500;
const PAYLOAD = JSON.stringify('x'.repeat(98)); // 100 bytes of JSON text
const REPLAY_RECORDS = 1_000_000;
const keep = { history: { size: 1000, ttlMs: 0 } };
const quiet: EngineHandler = {
  onPublication: () => {},
  onJoin: () => {},
  onLeave: () => {},
  onLeaderboardUpdate: () => {},
  onUnrecoverable: () => {},
};

interface Row {
  name: string;
  value: string;
  unit: string;
  note: string;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const dir = mkdtempSync(path.join(os.tmpdir(), 'hubbub-bench-aof-'));

type Mode = 'off' | 'no' | 'everysec' | 'always';

async function engineFor(mode: Mode, file: string): Promise<MemoryEngine> {
  const engine = new MemoryEngine(mode === 'off' ? {} : { persistence: { path: file, fsync: mode, rewriteMinBytes: 2 ** 40 } });
  await engine.start(quiet);
  return engine;
}

/** Acknowledged publishes per second with `window` publishers, each awaiting its ack before the next. */
async function ackedRate(mode: Mode, window: number): Promise<number> {
  const results: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const file = path.join(dir, `rate-${mode}-${window}-${round}.aof`);
    const engine = await engineFor(mode, file);
    let acked = 0;
    const until = performance.now() + ROUND_MS;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: window }, async (_, w) => {
        const channel = `chat:bench-${w % 16}`;
        while (performance.now() < until) {
          await engine.publish(channel, PAYLOAD, keep);
          acked++;
        }
      }),
    );
    results.push(acked / ((performance.now() - started) / 1000));
    await engine.close();
    rmSync(file, { force: true });
  }
  return median(results);
}

/** redis-benchmark SET against a throwaway redis-server with appendfsync always. */
async function redisRate(clients: number): Promise<number | undefined> {
  let bin: string;
  try {
    bin = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
    execFileSync('sh', ['-c', 'command -v redis-benchmark']);
  } catch {
    console.error('redis-server / redis-benchmark not found: Redis rows skipped');
    return undefined;
  }
  const port = await freePort();
  const redisDir = mkdtempSync(path.join(dir, 'redis-'));
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const results: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const n = clients === 1 ? 5000 : 50_000;
      const out = execFileSync('redis-benchmark', ['-p', String(port), '-t', 'set', '-n', String(n), '-c', String(clients), '-d', '100', '-q'], { encoding: 'utf8' });
      const m = /SET: ([\d.]+) requests per second/.exec(out.replace(/\r/g, '\n'));
      if (m?.[1] !== undefined) results.push(Number(m[1]));
    }
    return median(results);
  } finally {
    child.kill('SIGKILL');
  }
}

/** Writes REPLAY_RECORDS publications (1,000 channels keeping 1,000 each), then times replay and compaction. */
async function replayAndCompaction(): Promise<Row[]> {
  const file = path.join(dir, 'replay.aof');
  const writer = await engineFor('no', file);
  for (let i = 0; i < REPLAY_RECORDS; i++) {
    const p = writer.publish(`chat:r${i % 1000}`, PAYLOAD, keep);
    if (i % 10_000 === 9_999) await p;
  }
  await writer.close();
  const bytes = statSync(file).size;
  const started = performance.now();
  const reader = await engineFor('everysec', file);
  const replayMs = performance.now() - started;
  const held = (await reader.stats()).historyEntries ?? 0;
  // The longest the event loop waited while the snapshot was encoded and written.
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const compactStarted = performance.now();
  await reader.compact();
  const compactMs = performance.now() - compactStarted;
  delay.disable();
  const stallMs = delay.max / 1e6;
  const compactedBytes = statSync(file).size;
  await reader.close();
  rmSync(file, { force: true });
  return [
    { name: `(c) replay at start: ${fmt(REPLAY_RECORDS)} publication records, 100 B each`, value: fmt(REPLAY_RECORDS / (replayMs / 1000)), unit: 'records/s', note: `${fmt(replayMs)} ms for the whole start (read, check, apply); ${fmt(held)} entries held` },
    { name: '(c) compaction of that state (snapshot written while writes may continue)', value: fmt(compactMs), unit: 'ms', note: `${(compactedBytes / 1e6).toFixed(1)} MB snapshot; written in 1 MB chunks while the loop keeps serving: longest event-loop stall ${fmt(stallMs)} ms` },
    { name: '(c) file size per publication record', value: (bytes / REPLAY_RECORDS).toFixed(1), unit: 'bytes', note: '100 B payload, channel name, epoch, offsets, time, TTLs; framing 9 B' },
  ];
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const rates = new Map<string, number>();
  for (const window of [1, 64]) {
    for (const mode of ['off', 'no', 'everysec', 'always'] as const) {
      const r = await ackedRate(mode, window);
      rates.set(`${mode}-${window}`, r);
      const name = mode === 'off' ? 'no persistence' : `fsync ${mode}`;
      rows.push({ name: `(a) engine.publish, ${name}, ${window} in flight`, value: fmt(r), unit: 'acked publishes/s', note: mode === 'always' ? 'acknowledged after fdatasync; one write + fdatasync per batch' : '' });
      console.error(`${rows.at(-1)?.name}: ${fmt(r)}`);
    }
  }
  for (const clients of [1, 64]) {
    const r = await redisRate(clients);
    if (r === undefined) continue;
    const ours = rates.get(`always-${clients}`) ?? 0;
    rows.push({ name: `(b) redis-server appendfsync always: redis-benchmark -t set -c ${clients}`, value: fmt(r), unit: 'acked SETs/s', note: `hubbub fsync always is ${(ours / r).toFixed(2)}x this` });
    console.error(`${rows.at(-1)?.name}: ${fmt(r)}`);
  }
  rows.push(...(await replayAndCompaction()));
  rmSync(dir, { recursive: true, force: true });

  const redisVersion = (() => {
    try {
      return execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=([\d.]+)/)?.[1] ?? '?';
    } catch {
      return 'not installed';
    }
  })();
  const cpu = os.cpus()[0]?.model ?? '?';
  const header = `Command: \`npm run bench:aof\` on ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${cpu}), Node ${process.version}, Redis ${redisVersion}; files on ${os.tmpdir()} (ext4 on a virtual disk); median of ${ROUNDS} rounds of ${ROUND_MS} ms for rate rows; load average at start ${os.loadavg()[0]?.toFixed(1)}.`;
  const table = [
    header,
    '',
    '| scenario | value | unit | note |',
    '|---|---:|---|---|',
    ...rows.map((r) => `| ${r.name} | ${r.value} | ${r.unit} | ${r.note} |`),
  ].join('\n');
  console.log(table);
  if (process.argv.includes('--record')) {
    const doc = readFileSync(DOC, 'utf8');
    const a = doc.indexOf(BEGIN);
    const b = doc.indexOf(END);
    if (a < 0 || b < 0) throw new Error(`docs/benchmarks.md has no ${BEGIN} ... ${END} section`);
    writeFileSync(DOC, `${doc.slice(0, a + BEGIN.length)}\n${table}\n${doc.slice(b)}`);
    console.error('recorded in docs/benchmarks.md');
  }
}

await main();

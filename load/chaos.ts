// `npm run chaos -- --seconds N [--seed S] [--subscribers K] [--only memory/ws,redis/uws]`: the
// long chaos run (the suite runs it bounded, test/e2e/chaos.test.ts) on memory × ws and uws, and
// Redis × ws and uws with redis-server killed and restarted about every 10 s. Prints one JSON line
// of figures per engine/transport; exits 1 on any loss, duplicate, reorder, stuck client or leftover.

import { chaosSeed, type ChaosReport, type EngineName, isClean, runChaos } from '../test/helpers/chaos.js';
import type { TransportName } from '../test/helpers/hub-server.js';
import { RedisServer, redisServerBinary } from '../test/helpers/redis-server.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function numberFlag(name: string, fallback: number): number {
  const value = flag(name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new TypeError(`--${name} wants a positive number, not ${value}`);
  return n;
}

const seconds = numberFlag('seconds', 60);
const given = flag('seed');
if (given !== undefined) process.env.CHAOS_SEED = given;
const seed = chaosSeed();
const subscribers = numberFlag('subscribers', 8);
const only = flag('only')?.split(',');

const runs: [EngineName, TransportName][] = [
  ['memory', 'ws'],
  ['memory', 'uws'],
  ['redis', 'ws'],
  ['redis', 'uws'],
];

function clean(r: ChaosReport): boolean {
  return r.lost === 0 && r.duplicated === 0 && r.reordered === 0 && r.stuck === 0 && isClean(r.leftover);
}

process.stderr.write(`chaos seed ${seed} (replay with --seed ${seed}), ${seconds} s per run\n`);
let failed = false;
for (const [engine, transport] of runs) {
  if (only !== undefined && !only.includes(`${engine}/${transport}`)) continue;
  let redis: RedisServer | undefined;
  if (engine === 'redis') {
    if (redisServerBinary() === null) {
      process.stderr.write(`SKIPPED ${engine}/${transport}: redis-server is not installed (PATH or REDIS_SERVER)\n`);
      if (process.env.CI === 'true') failed = true;
      continue;
    }
    redis = await RedisServer.start();
  }
  try {
    const report = await runChaos({
      engine,
      transport,
      seed,
      chaosMs: seconds * 1000,
      subscribers,
      ...(redis === undefined ? {} : { redis, redisKills: Math.max(1, Math.round(seconds / 10)) }),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (!clean(report)) failed = true;
  } finally {
    await redis?.stop();
  }
}
process.exit(failed ? 1 : 0);

// `npm run fuzz [-- --frames N --seed S]`: the long frame-fuzzing run against a hub process on
// each transport (the suite runs the same bounded, test/e2e/fuzz.test.ts). Prints one JSON
// report per transport: frames, connections, close codes, control publications sent / lost /
// duplicated / out of order, crash, hub RSS before and after. Exits 1 on any failure.

import { fuzzHub, startFuzzHub } from '../test/helpers/frame-fuzz.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const frames = flag('frames', 1_000_000);
const seed = flag('seed', Date.now() % 1_000_000);
let failed = false;
for (const transport of ['ws', 'uws'] as const) {
  const hub = await startFuzzHub(transport);
  let last = 0;
  const report = await fuzzHub(hub, {
    transport,
    frames,
    seed,
    progress: (sent) => {
      if (sent - last < 50_000) return;
      last = sent;
      process.stderr.write(`\r${transport}: ${sent} frames`);
    },
  });
  process.stderr.write('\n');
  process.stdout.write(`${JSON.stringify({ seed, ...report })}\n`);
  if (report.crashed || report.controlLost > 0 || report.controlDuplicated > 0 || report.controlOutOfOrder > 0) {
    failed = true;
    process.stderr.write(hub.output().slice(-4000));
  }
  hub.child.kill('SIGTERM');
  await hub.exited;
}
process.exit(failed ? 1 : 0);

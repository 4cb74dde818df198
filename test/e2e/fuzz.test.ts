// Fuzzing a live hub process on both transports, bounded: attackers send arbitrary and mutated
// frames while a control subscriber must receive every backend publication exactly once, in
// order. `npm run fuzz` runs the same with millions of frames.

import { afterAll, describe, expect, it } from 'vitest';
import { fuzzHub, startFuzzHub } from '../helpers/frame-fuzz.js';
import type { HubProcess } from '../helpers/process.js';

const hubs: HubProcess[] = [];
afterAll(() => {
  for (const h of hubs) h.child.kill('SIGKILL');
});

describe.each(['ws', 'uws'] as const)('frame fuzzing over %s', (transport) => {
  it('survives thousands of hostile frames with no crash and no control publication lost', async () => {
    const hub = await startFuzzHub(transport);
    hubs.push(hub);
    const report = await fuzzHub(hub, { transport, frames: 6000, seed: 20261201 });
    expect(report.crashed, hub.output()).toBe(false);
    expect(report.frames).toBeGreaterThanOrEqual(6000);
    expect(report.connections).toBeGreaterThan(8);
    expect(report.controlSent).toBeGreaterThan(10);
    expect(report.controlLost).toBe(0);
    expect(report.controlDuplicated).toBe(0);
    expect(report.controlOutOfOrder).toBe(0);
    expect(report.controlReceived).toBe(report.controlSent);
    // The hub still answers as a user sees it.
    const health = await fetch(`http://127.0.0.1:${hub.port}/health`);
    expect(health.status).toBe(200);
  }, 60_000);
});

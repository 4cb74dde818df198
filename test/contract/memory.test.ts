import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEngine } from '../../src/engine/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { engineContract } from './engine-contract.js';

engineContract('memory', async () => {
  const clock = new ManualClock();
  const engine = new MemoryEngine({ clock });
  return {
    engine,
    advance: async (ms) => {
      clock.advance(ms);
      engine.sweep();
    },
  };
});

// The same contract with every write going through the append-only file and its group commit.
for (const fsync of ['always', 'everysec'] as const) {
  engineContract(`memory with an append-only file (fsync ${fsync})`, async () => {
    const clock = new ManualClock();
    const dir = mkdtempSync(join(tmpdir(), 'hubbub-aof-contract-'));
    const engine = new MemoryEngine({ clock, persistence: { path: join(dir, 'hubbub.aof'), fsync } });
    return {
      engine,
      advance: async (ms) => {
        clock.advance(ms);
        engine.sweep();
      },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  });
}

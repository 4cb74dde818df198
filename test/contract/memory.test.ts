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

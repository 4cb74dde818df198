// The engine door: the interface every engine implements, and the factory that builds the one
// the configuration names.

import type { Config } from '../config/index.js';
import type { Clock } from '../util/clock.js';
import { MemoryEngine } from './memory/index.js';
import type { Engine } from './types.js';

export { MemoryEngine, type MemoryEngineOptions } from './memory/index.js';
export type * from './types.js';

export function createEngine(config: Config['engine'], clock?: Clock): Engine {
  switch (config.type) {
    case 'memory': {
      const { type: _type, ...options } = config;
      return new MemoryEngine(clock === undefined ? options : { ...options, clock });
    }
  }
}

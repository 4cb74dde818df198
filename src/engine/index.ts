// The engine door: the interface every engine implements, and the factory that builds the one
// the configuration names.

import type { Config } from '../config/index.js';
import { createLogger, type Logger } from '../observability/index.js';
import type { Clock } from '../util/clock.js';
import { MemoryEngine } from './memory/index.js';
import { RedisEngine } from './redis/index.js';
import type { Engine } from './types.js';

export { MemoryEngine, type MemoryEngineOptions } from './memory/index.js';
export { RedisEngine, type RedisEngineOptions } from './redis/index.js';
export type * from './types.js';

/**
 * `clock` drives the memory engine's expiry; the Redis engine takes its time from Redis (`TIME`),
 * the one clock every node shares. `log` receives the Redis engine's connection events and the
 * memory engine's start-up and persistence messages.
 */
export function createEngine(config: Config['engine'], clock?: Clock, log?: Logger): Engine {
  switch (config.type) {
    case 'memory': {
      const { type: _type, ...options } = config;
      const withLog = log === undefined ? options : { ...options, log };
      return new MemoryEngine(clock === undefined ? withLog : { ...withLog, clock });
    }
    case 'redis': {
      const { type: _type, ...options } = config;
      return new RedisEngine(options, log ?? createLogger());
    }
  }
}

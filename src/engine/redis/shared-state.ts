// What the state modules (presence, leaderboards, limits) share: the scripted command connection,
// the key layout, and the publish command chosen at start (SPUBLISH or PUBLISH).

import type { KeyLayout } from './keys.js';
import type { ScriptedRedis } from './scripts.js';

export interface RedisContext {
  readonly redis: ScriptedRedis;
  readonly keys: KeyLayout;
  /** 'SPUBLISH' or 'PUBLISH', known once the engine started. */
  publishCommand(): string;
}

export { Leaderboard } from './leaderboard.js';
export { MemoryEngine, type MemoryEngineOptions } from './memory-engine.js';
export { PresenceSet } from './presence-set.js';
export { StreamLog } from './stream-log.js';

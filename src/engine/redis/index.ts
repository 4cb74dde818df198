// The Redis engine's door: the engine, its options, and nothing of how it works inside.

export { RedisEngine, type RedisEngineOptions } from './redis-engine.js';

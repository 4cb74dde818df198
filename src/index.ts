// hubbub's public API for embedding: configuration, engines, and the building blocks they use.

export { type Config, ConfigError, type ConfigInput, defaultConfig, parseConfig } from './config/index.js';
export * from './engine/index.js';
export {
  type ConnectHookAnswer,
  type ConnectHookRequest,
  type HookContext,
  type Hooks,
  type PublishHookAnswer,
  type PublishHookRequest,
  type RefreshHookAnswer,
  type RefreshHookRequest,
  type RpcHookAnswer,
  type RpcHookRequest,
  type SubscribeHookAnswer,
  type SubscribeHookRequest,
} from './hooks/index.js';
export { Leaderboard, PresenceSet, StreamLog } from './engine/memory/index.js';
export { createLogger, type Logger } from './observability/index.js';
export { type ErrorCode, ErrorCodes, HubError, isHubError } from './protocol/errors.js';
export { FixedWindowCounter, KeyedRateLimiter, TokenBucket } from './ratelimit/index.js';
export { type Clock, ManualClock, systemClock } from './util/clock.js';
export { type EmbedOptions, type RunningHub, type StartOptions, startHub } from './server.js';
export { HubApi, HubApiError, type HubApiOptions } from './hub-api/index.js';

export { FixedWindowCounter } from './fixed-window.js';
export { gcraRetryAfterMs, gcraTake, KeyedRateLimiter, type Rule, ruleFor, TokenBucket, validatePolicy } from './gcra.js';

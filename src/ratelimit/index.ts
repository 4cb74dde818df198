export { FixedWindowCounter } from './fixed-window.js';
export { KeyedRateLimiter, TokenBucket, validatePolicy } from './gcra.js';

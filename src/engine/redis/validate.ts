// Argument checks, made before anything reaches Redis, with the same codes and messages as the
// memory engine, so a caller sees the same error whichever engine runs.

import { HubError } from '../../protocol/errors.js';
import type { HistoryOptions, ScoreMode } from '../types.js';

export function checkHistoryPolicy(size: number, ttlMs: number): void {
  if (!Number.isSafeInteger(size) || size < 0 || !(ttlMs >= 0 && Number.isFinite(ttlMs))) {
    throw new HubError('bad_request', 'history policy needs an integer size >= 0 and ttlMs >= 0');
  }
}

export function checkHistoryRead(options: HistoryOptions): void {
  const { limit, since } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
    throw new HubError('bad_request', `limit must be a non-negative integer, got ${limit}`);
  }
  if (since !== undefined && (!Number.isSafeInteger(since.offset) || since.offset < 0)) {
    throw new HubError('bad_request', `since.offset must be a non-negative integer, got ${since.offset}`);
  }
}

export function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new HubError('bad_request', `${name} must be a whole number >= 0, got ${value}`);
  }
}

export function checkMaxMembers(max: number | undefined): void {
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) {
    throw new HubError('bad_request', `maxMembers must be a whole number >= 1, got ${max}`);
  }
}

export function checkScore(score: number, what: 'score' | 'increment'): void {
  if (!Number.isFinite(score)) {
    throw new HubError('invalid_score', `${what} ${score} is not a finite number; pass a finite ${what}`);
  }
}

const modes: ReadonlySet<string> = new Set<ScoreMode>(['always', 'gt', 'lt', 'nx', 'xx']);

export function checkMode(mode: ScoreMode): void {
  if (!modes.has(mode)) {
    throw new HubError('bad_request', `unknown score mode ${String(mode)}; use always, gt, lt, nx or xx`);
  }
}

export function checkPresenceTtl(ttlMs: number): void {
  if (!(ttlMs > 0 && Number.isFinite(ttlMs))) {
    throw new HubError('bad_request', 'presence ttlMs must be a positive number of ms');
  }
}

export function checkCost(cost: number, burst: number): void {
  if (!(cost >= 0 && cost <= burst)) {
    throw new HubError('bad_request', `rate limit cost must be between 0 and the burst (${burst}), got ${cost}`);
  }
}

export function checkWindow(windowMs: number, by: number): void {
  if (!(windowMs > 0 && Number.isFinite(windowMs))) {
    throw new HubError('bad_request', `window must be a positive number of ms, got ${windowMs}`);
  }
  if (!Number.isSafeInteger(by)) {
    throw new HubError('bad_request', `increment must be a safe integer, got ${by}`);
  }
}

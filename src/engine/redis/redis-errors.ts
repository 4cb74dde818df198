// What a failed Redis call means to a caller: `unavailable` (temporary: retry, maybe on another
// node) when Redis cannot be reached or is not serving, a domain code when one of our scripts
// refused, `internal` for anything else (a bug or a misconfigured Redis, worth a log line).

import { HubError } from '../../protocol/errors.js';
import { WireError } from './wire.js';

/** Replies Redis gives while it cannot serve for now (loading, failing over, out of memory...). */
const TEMPORARY_REPLY = /^(LOADING|BUSY|OOM|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF)\b/;

export function isReplyError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError';
}

export function toHubError(err: unknown, operation: string): HubError {
  if (err instanceof HubError) return err;
  if (err instanceof WireError || err instanceof SyntaxError) {
    return new HubError('internal', `unexpected data in Redis (${operation}): ${err.message}`);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (isReplyError(err)) {
    if (message.startsWith('HUBBUB_INVALID_SCORE')) {
      return new HubError('invalid_score', 'the resulting score is not a finite number; use a smaller increment');
    }
    if (!TEMPORARY_REPLY.test(message)) {
      return new HubError('internal', `Redis refused ${operation}: ${message}`);
    }
  }
  return new HubError('unavailable', `Redis is unavailable (${operation}: ${message}); retry later`);
}

export const closedError = () => new HubError('engine_closed', 'the engine is closed; the hub is shutting down');

export const linkDownError = () =>
  new HubError('unavailable', 'the pub/sub connection to Redis is down; retry later');

// What the HTTP API sends back: JSON bodies, and every failure as
// `{"error":{"code","message","details"?}}` with the HTTP status the error table gives its code.

import { ErrorCodes, HubError } from '../protocol/errors.js';
import type { HttpResponse } from '../transport/types.js';

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' } as const;

/** A 200 answer whose body is already JSON text. */
export function jsonText(body: string, status = 200): HttpResponse {
  return { status, headers: { ...JSON_HEADERS }, body };
}

export function json(value: unknown, status = 200): HttpResponse {
  return jsonText(JSON.stringify(value), status);
}

/** An error answer; `status` overrides the code's own (405 has no code of its own). */
export function errorResponse(err: HubError, extra: { status?: number; headers?: Record<string, string> } = {}): HttpResponse {
  const error: { code: string; message: string; details?: Readonly<Record<string, unknown>> } = {
    code: err.code,
    message: err.message,
  };
  if (err.details !== undefined) error.details = err.details;
  return {
    status: extra.status ?? ErrorCodes[err.code].status,
    headers: { ...JSON_HEADERS, ...extra.headers },
    body: JSON.stringify({ error }),
  };
}

export function unauthorized(message: string): HttpResponse {
  return errorResponse(new HubError('unauthorized', message), { headers: { 'www-authenticate': 'Bearer' } });
}

export function rateLimited(message: string, retryAfterMs: number): HttpResponse {
  return errorResponse(new HubError('rate_limited', message, { retryAfterMs }), {
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  });
}

export function methodNotAllowed(method: string, path: string, allowed: string): HttpResponse {
  return errorResponse(new HubError('bad_request', `${path} does not take ${method}; use ${allowed}`), {
    status: 405,
    headers: { allow: allowed },
  });
}

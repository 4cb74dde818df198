// Transport options with their defaults applied once, plus the answers both transports give for an
// HTTP request they refuse before it reaches the hub, in the hub's JSON error shape.

import type { EndpointCodes, TransportOptions } from './types.js';

export type ResolvedOptions = Required<TransportOptions>;

const DEFAULTS = {
  handshakeTimeoutMs: 10_000,
  maxConnections: Number.POSITIVE_INFINITY,
  maxConnectionsPerIp: Number.POSITIVE_INFINITY,
  trustProxy: [] as readonly string[],
  secondEndpoint: undefined,
};

export function resolveOptions(options: TransportOptions): ResolvedOptions {
  const resolved: ResolvedOptions = { ...DEFAULTS, ...options };
  if (!(resolved.handshakeTimeoutMs > 0)) {
    throw new TypeError(`handshakeTimeoutMs must be a positive number of milliseconds, got ${resolved.handshakeTimeoutMs}`);
  }
  return resolved;
}

/** Each endpoint's codes, made once per transport: every connection refers to its endpoint's object. */
const codesOf = new WeakMap<ResolvedOptions, { main: EndpointCodes; second: EndpointCodes | undefined }>();

/** The close codes for a WebSocket on `path`, or undefined when no endpoint serves it (404). */
export function endpointCodes(options: ResolvedOptions, path: string): EndpointCodes | undefined {
  let codes = codesOf.get(options);
  if (codes === undefined) {
    const second = options.secondEndpoint;
    codes = {
      main: { slowConsumer: options.slowConsumerCode, noPong: options.noPongCode },
      second: second === undefined ? undefined : { slowConsumer: second.slowConsumerCode, noPong: second.noPongCode },
    };
    codesOf.set(options, codes);
  }
  if (path === options.path) return codes.main;
  const second = options.secondEndpoint;
  if (second !== undefined && path.startsWith(second.prefix) && path.length > second.prefix.length) return codes.second;
  return undefined;
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * What src/api/responses.ts sends for `payload_too_large`, so a backend sees one shape whether the
 * transport or the API refused the body. Connection: close, because the rest of the body is not read.
 */
export function payloadTooLarge(maxBytes: number): Answer {
  return {
    status: 413,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', connection: 'close' },
    body: JSON.stringify({
      error: { code: 'payload_too_large', message: `the request body exceeds ${maxBytes} bytes`, details: { maxBytes } },
    }),
  };
}

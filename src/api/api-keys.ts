// Who may call the HTTP API: bearer keys from the configuration, or one generated at start when
// none is configured (printed once, as notebook servers print their token), or nobody checked at
// all in insecure mode. Keys are compared as SHA-256 digests in constant time, against every
// configured key, so neither the key nor which key matched leaks through timing.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/index.js';
import type { Logger } from '../observability/index.js';

export type KeyCheck =
  /** `bucket` names the rate-limit bucket of the caller: one per key, never the key itself. */
  | { ok: true; bucket: string }
  | { ok: false; message: string };

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

export class ApiKeys {
  readonly generatedKey: string | undefined;
  private readonly digests: readonly Buffer[];
  private readonly insecure: boolean;

  constructor(config: Config['api'], log: Logger) {
    this.insecure = config.insecure;
    if (config.insecure) {
      this.generatedKey = undefined;
      this.digests = [];
      log.warn('api.insecure is on: the HTTP API answers anyone who can reach it, without a key');
      return;
    }
    const keys = [...config.keys];
    if (keys.length === 0) {
      const key = randomBytes(24).toString('base64url');
      this.generatedKey = key;
      keys.push(key);
      // The one place a key is ever logged: an operator who configured none needs to learn it.
      log.warn(
        `no HTTP API key configured (api.keys / HUBBUB_API_KEYS); this run's key is: ${key}`,
      );
    } else {
      this.generatedKey = undefined;
    }
    this.digests = keys.map(digest);
  }

  /** Checks an `Authorization` header value; `remoteAddress` buckets callers in insecure mode. */
  check(authorization: string | undefined, remoteAddress: string): KeyCheck {
    if (this.insecure) return { ok: true, bucket: `addr:${remoteAddress}` };
    const presented = bearerToken(authorization);
    if (presented === undefined) {
      return { ok: false, message: 'send the API key as "Authorization: Bearer <key>"' };
    }
    const given = digest(presented);
    let match = -1;
    for (let i = 0; i < this.digests.length; i++) {
      // No early exit: every key is compared whichever matches.
      if (timingSafeEqual(given, this.digests[i] as Buffer) && match < 0) match = i;
    }
    if (match < 0) return { ok: false, message: 'the API key is not valid' };
    return { ok: true, bucket: `key:${match}` };
  }
}

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1];
}

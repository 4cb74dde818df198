// Connection tokens: JWTs verified with jose against an HMAC secret, a PEM public key or a JWKS
// (file or URL). Algorithms are pinned: HMAC ones only for the secret, asymmetric ones only for
// public keys, `none` never, so a token signed with the public key as an HMAC secret is refused.
// Claims: `sub` (the user), `caps` (capabilities by channel pattern), `info` (shown in presence),
// `exp` (required unless configured otherwise), and `aud`/`iss` when configured.

import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JWTVerifyGetKey,
  jwtVerify,
  type JWTVerifyOptions,
} from 'jose';
import { z } from 'zod';
import { type AuthConfig, capsSchema } from '../config/index.js';
import type { JsonValue } from '../engine/types.js';
import { HubError } from '../protocol/errors.js';
import { Capabilities } from './capabilities.js';

export interface Identity {
  user: string;
  caps: Capabilities;
  info?: JsonValue;
  /** Channels to subscribe the connection to on the server side (the `channels` claim). */
  channels?: string[];
  /** When the token stops being valid, ms since the epoch; undefined: never. */
  expiresAt: number | undefined;
}

const HMAC = ['HS256', 'HS384', 'HS512'] as const;
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const claimsSchema = z.looseObject({
  sub: z.string().max(256, 'sub is longer than 256 characters'),
  caps: capsSchema.optional(),
  info: z.json().optional(),
  channels: z.array(z.string().max(240)).max(1000).optional(),
});

export class TokenVerifier {
  private readonly getKey: JWTVerifyGetKey;
  private readonly options: JWTVerifyOptions;

  private constructor(config: AuthConfig) {
    const secret = config.hmacSecret === undefined ? undefined : createSecretKey(Buffer.from(config.hmacSecret, 'utf8'));
    const publicKey: KeyObject | undefined = config.publicKey === undefined ? undefined : createPublicKey(config.publicKey);
    const jwks =
      config.jwksFile !== undefined
        ? createLocalJWKSet(JSON.parse(readFileSync(config.jwksFile, 'utf8')) as Parameters<typeof createLocalJWKSet>[0])
        : config.jwksUrl !== undefined
          ? createRemoteJWKSet(new URL(config.jwksUrl))
          : undefined;
    const asymmetric = publicKey !== undefined || jwks !== undefined;
    const allowed = new Set<string>([...(secret ? HMAC : []), ...(asymmetric ? ASYMMETRIC : [])]);
    // Configured algorithms narrow the default set; they can never add HMAC to a public key.
    const algorithms = (config.algorithms ?? [...allowed]).filter((alg) => allowed.has(alg));
    if (algorithms.length === 0) {
      throw new Error('auth.algorithms: none of the listed algorithms fits the configured keys');
    }
    this.getKey = async (header, token) => {
      if (header.alg.startsWith('HS')) {
        if (secret === undefined) throw new errors.JOSEAlgNotAllowed('HMAC tokens are not accepted here');
        return secret;
      }
      if (jwks !== undefined) return jwks(header, token);
      if (publicKey === undefined) throw new errors.JOSEAlgNotAllowed('asymmetric tokens are not accepted here');
      return publicKey;
    };
    this.options = {
      algorithms,
      clockTolerance: config.clockToleranceSec,
      ...(config.requireExp ? { requiredClaims: ['exp'] } : {}),
      ...(config.audience === undefined ? {} : { audience: config.audience }),
      ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
    };
  }

  /** The verifier for this configuration, or undefined when no key is configured (auth off). */
  static from(config: AuthConfig): TokenVerifier | undefined {
    if (config.hmacSecret === undefined && config.publicKey === undefined && config.jwksFile === undefined && config.jwksUrl === undefined) {
      return undefined;
    }
    return new TokenVerifier(config);
  }

  /** The identity a token proves; HubError `token_expired` or `unauthorized` otherwise. */
  async verify(token: string): Promise<Identity> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, this.options));
    } catch (err) {
      throw tokenError(err);
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) {
      const issue = claims.error.issues[0];
      throw new HubError('unauthorized', `token claims are invalid: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim());
    }
    const { sub, caps, info, channels } = claims.data;
    const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
    return {
      user: sub,
      caps: new Capabilities(caps ?? {}),
      ...(info === undefined ? {} : { info }),
      ...(channels === undefined ? {} : { channels }),
      expiresAt: exp,
    };
  }
}

function tokenError(err: unknown): HubError {
  if (err instanceof errors.JWTExpired) return new HubError('token_expired', 'the token has expired; get a new one');
  if (err instanceof errors.JWTClaimValidationFailed) {
    return new HubError('unauthorized', `token rejected: ${err.claim} ${err.reason === 'check_failed' ? 'check failed' : err.reason}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new HubError('unauthorized', 'token rejected: algorithm not allowed');
  if (err instanceof errors.JWSSignatureVerificationFailed) return new HubError('unauthorized', 'token rejected: bad signature');
  if (err instanceof errors.JOSEError) return new HubError('unauthorized', `token rejected: ${err.code}`);
  return new HubError('unauthorized', 'token rejected: not a valid JWT');
}

// The HTTP API for backends: everything under /api/. Checks the bearer key, then the key's rate
// limit, then routes to one handler (routes.ts). Every answer is JSON, failures included; a
// HubError keeps its code and status, anything else is logged and answered as `internal`.

import type { Config } from '../config/index.js';
import type { Engine } from '../engine/types.js';
import type { Hub } from '../hub.js';
import type { Logger } from '../observability/index.js';
import { HubError } from '../protocol/errors.js';
import { KeyedRateLimiter, validatePolicy } from '../ratelimit/gcra.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { type Clock, systemClock } from '../util/clock.js';
import { ApiKeys } from './api-keys.js';
import { errorResponse, methodNotAllowed, rateLimited, unauthorized } from './responses.js';
import { parseQueryString } from './input.js';
import { apiRoutes, type Route } from './routes.js';

const PREFIX = '/api/';
/** Rate-limit buckets examined per request for forgetting: keeps the map small without a timer. */
const SWEEP_BUDGET = 4;

export class HttpApi {
  /** The key generated at start when none is configured (also logged once at warn level, as notebook servers do); undefined otherwise. */
  readonly generatedKey: string | undefined;
  private readonly keys: ApiKeys;
  private readonly limiter: KeyedRateLimiter;
  private readonly routes: ReadonlyMap<string, Route>;

  constructor(
    private readonly config: Config,
    private readonly hub: Hub,
    engine: Engine,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    // A policy the limiter cannot use would fail every request: refuse it here, once.
    validatePolicy(config.api.rateLimit);
    this.keys = new ApiKeys(config.api, log);
    this.generatedKey = this.keys.generatedKey;
    this.limiter = new KeyedRateLimiter(clock);
    this.routes = apiRoutes({ config, hub, engine, log });
  }

  /** Answers requests under /api/; resolves undefined for any other path. Never rejects. */
  async handle(req: HttpRequest): Promise<HttpResponse | undefined> {
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    if (!path.startsWith(PREFIX)) return undefined;
    const res = await this.answer(req, path, q < 0 ? '' : req.url.slice(q + 1));
    const { metrics } = this.hub;
    // Unknown paths share one label, so a scanner cannot grow the series without bound.
    metrics.httpRequests.inc({ route: this.routes.has(path) ? path : 'other', status: String(res.status) });
    if (res.status === 429) metrics.rateLimited.inc({ scope: 'api' });
    return res;
  }

  private async answer(req: HttpRequest, path: string, query: string): Promise<HttpResponse> {
    try {
      return await this.serve(req, path, query);
    } catch (err) {
      // A closed engine is, to a caller, one that cannot serve now: the same code as over WebSocket.
      if (err instanceof HubError) return errorResponse(err.code === 'engine_closed' ? new HubError('unavailable', err.message) : err);
      // The route only: query strings and bodies may carry what must not be logged.
      this.log.error({ err, route: `${req.method} ${path}` }, 'HTTP API request failed');
      return errorResponse(new HubError('internal', 'the hub failed to answer this request; retry later'));
    }
  }

  private async serve(req: HttpRequest, path: string, query: string): Promise<HttpResponse> {
    const policy = this.config.api.rateLimit;
    this.limiter.sweep(this.clock.now(), SWEEP_BUDGET);
    const auth = this.keys.check(req.headers.authorization, req.remoteAddress);
    if (!auth.ok) {
      // Wrong keys cost the caller's address too, so guessing is as slow as using a key.
      const denied = this.limiter.allow(`denied:${req.remoteAddress}`, policy);
      if (!denied.allowed) {
        return rateLimited('too many requests without a valid API key from this address', denied.retryAfterMs);
      }
      return unauthorized(auth.message);
    }
    const limit = this.limiter.allow(auth.bucket, policy);
    if (!limit.allowed) {
      return rateLimited(
        `this API key is limited to ${policy.rate} requests per ${policy.periodMs} ms (burst ${policy.burst})`,
        limit.retryAfterMs,
      );
    }
    // The transports refuse larger bodies before they get here; this holds for any other caller.
    const maxBody = this.config.server.maxHttpBodyBytes;
    if (req.body.length > maxBody) {
      throw new HubError('payload_too_large', `the request body exceeds ${maxBody} bytes`, { maxBytes: maxBody });
    }
    const route = this.routes.get(path);
    if (route === undefined) throw new HubError('not_found', `no route ${path}; see docs/http-api.md`);
    if (route.method !== req.method) return methodNotAllowed(req.method, path, route.method);
    return await route.run({ query: parseQueryString(query), body: req.body });
  }
}

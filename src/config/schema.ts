// The one zod schema for hubbub's whole configuration. Every option has its default and its
// description here; types elsewhere are inferred from it (z.infer), and docs/configuration.md is
// generated from it (`npm run docs:config`), so nothing about an option is written twice.

import { z } from 'zod';
import { ClientAddresses } from '../transport/client-address.js';

const ms = () => z.number().int().nonnegative();
const positiveInt = () => z.number().int().positive();

/** How long streams and idempotency keys live: the same options, and meaning, in every engine. */
const streamLifetime = {
  streamMetaTtlMs: ms()
    .default(24 * 60 * 60 * 1000)
    .describe('An idle stream (no publication) is forgotten after this long, its epoch with it; 0: never.'),
  idempotencyWindowMs: positiveInt()
    .default(5 * 60 * 1000)
    .describe('How long a publish idempotency key is remembered.'),
};

export const memoryEngineSchema = z
  .object({
    type: z.literal('memory').describe('The embedded single-node engine.'),
    maxStreams: positiveInt()
      .default(1_000_000)
      .describe(
        'Streams (channels with an offset or history) held at once; beyond, the least recently used is forgotten.',
      ),
    maxHistoryEntries: positiveInt()
      .default(10_000_000)
      .describe(
        'History entries across all streams; beyond, the oldest entries of the least recently used streams go first.',
      ),
    maxHistoryBytes: positiveInt()
      .default(1024 * 1024 * 1024)
      .describe('History payload size across all streams, in characters of JSON text; evicted like entries.'),
    ...streamLifetime,
    sweep: z
      .object({
        intervalMs: positiveInt().default(100).describe('How often the incremental expiry sweep runs.'),
        budget: positiveInt().default(1000).describe('Keys examined per structure per sweep round.'),
        maxTickMs: z
          .number()
          .positive()
          .default(2)
          .describe('A sweep tick never runs longer than this, however much has expired.'),
      })
      .prefault({})
      .describe('Background expiry.'),
    persistence: z
      .strictObject({
        path: z
          .string()
          .min(1)
          .describe('The append-only file (created with its directory). `--data-dir DIR` (env HUBBUB_DATA_DIR) sets DIR/hubbub.aof.'),
        fsync: z
          .enum(['always', 'everysec', 'no'])
          .default('everysec')
          .describe(
            'always: a write is acknowledged only once fsynced (group commit); everysec: fsync once a second, a crash loses about a second; no: the OS decides when.',
          ),
        repair: z
          .boolean()
          .default(false)
          .describe(
            'Start even if the file is damaged in the middle, truncating it at the damage (`--repair-data`). A torn last record is always cut off.',
          ),
        rewriteMinBytes: positiveInt()
          .default(64 * 1024 * 1024)
          .describe('Compaction (rewrite to a snapshot) never runs on a file smaller than this.'),
        rewriteGrowthPercent: positiveInt()
          .default(100)
          .describe('Compaction runs when the file has grown this much (percent) since it was last written whole.'),
      })
      .optional()
      .describe(
        'Keep streams (history, offsets, epochs, idempotency keys) and leaderboards in an append-only file so they survive a restart. Off by default; presence and rate limits are never persisted.',
      ),
  })
  .strict();

export const redisEngineSchema = z
  .object({
    type: z.literal('redis').describe('Shared state in Redis, for several nodes behind a load balancer.'),
    url: z
      .string()
      .default('redis://127.0.0.1:6379')
      .describe('Redis URL: `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS (env HUBBUB_REDIS_URL).'),
    keyPrefix: z
      .string()
      .regex(/^[^{}]*$/, 'must not contain { or }, which Redis Cluster reads as a hash tag')
      .default('hubbub:')
      .describe('Prefix of every key and pub/sub topic, so several hubs (or apps) can share one Redis.'),
    connectTimeoutMs: positiveInt()
      .default(5000)
      .describe('How long start-up, and each reconnection attempt, waits for Redis.'),
    commandTimeoutMs: positiveInt()
      .default(2000)
      .describe('A command Redis has not answered within this fails with `unavailable` (never queued).'),
    reconnectMaxDelayMs: positiveInt()
      .default(2000)
      .describe('Reconnection backoff cap; attempts start at 50 ms and double, with jitter.'),
    healthCheckIntervalMs: positiveInt()
      .default(5000)
      .describe('Both connections are PINGed this often; one that does not answer is reconnected (finds half-open links).'),
    pubsub: z
      .enum(['auto', 'sharded', 'classic'])
      .default('auto')
      .describe('auto: sharded pub/sub (SPUBLISH/SSUBSCRIBE) on Redis >= 7, else PUBLISH/SUBSCRIBE.'),
    maxHistorySize: positiveInt()
      .default(100_000)
      .describe('Most history entries kept per channel; a namespace asking for more is capped to it.'),
    ...streamLifetime,
    presenceSweepIntervalMs: positiveInt()
      .default(1000)
      .describe(
        'How often this node expires the presence members of channels it has subscribers for, announcing their leaves.',
      ),
    restoredStreams: z
      .enum(['new-epoch', 'keep'])
      .default('new-epoch')
      .describe(
        'A stream Redis restored from disk after a restart gets a new epoch on first use, because a crash may have rolled back its last offsets; `keep` trusts it (only with appendonly yes and appendfsync always).',
      ),
  })
  .strict();

export const engineSchema = z.discriminatedUnion('type', [memoryEngineSchema, redisEngineSchema]);

const rateSchema = z.strictObject({
  rate: z.number().positive().describe('Tokens added per period.'),
  periodMs: positiveInt().default(1000).describe('The period, ms.'),
  burst: z.number().positive().describe('Most tokens held at once: the largest burst allowed.'),
});

/** Capabilities a token (or anonymity) grants, by channel pattern (`*` matches any run of characters). */
export const capabilityNames = ['subscribe', 'publish', 'presence', 'history', 'incr'] as const;
export const capsSchema = z.record(z.string().min(1).max(256), z.array(z.enum(capabilityNames)));

export const namespaceSchema = z.strictObject({
  public: z
    .boolean()
    .default(false)
    .describe(
      'Anyone connected may subscribe and read history, presence and boards here without a capability (publish and incr still need one). Only matters when auth is on.',
    ),
  history: z
    .strictObject({
      size: z.number().int().min(0).default(0).describe('Publications kept per channel for recovery; 0 keeps none.'),
      ttlMs: ms().default(0).describe('Drop kept publications older than this; 0: only the size limits.'),
    })
    .prefault({})
    .describe('Per-channel history, which is what a reconnecting client recovers from.'),
  presence: z.boolean().default(false).describe('Track who is subscribed (presence and presence_stats).'),
  joinLeave: z.boolean().default(false).describe('Push join and leave events to subscribers.'),
  clientPublish: z.boolean().default(false).describe('Let clients publish (otherwise only the server API can).'),
  publisherInfo: z
    .boolean()
    .default(true)
    .describe(
      "Attach the publisher (`from`: client id, user, info) to client publications here. Off, every delivery is 53 bytes smaller (more with `info`): for feeds and dashboards whose subscribers do not need to know who published.",
    ),
  maxSubscribers: z.number().int().min(0).default(0).describe('Most subscribers per channel on this node; 0: no limit.'),
  publishRate: rateSchema.optional().describe('Per-connection publish limit in this namespace.'),
  userPublishRate: rateSchema
    .optional()
    .describe(
      "Per-user publish limit in this namespace, shared by all of a user's connections (across nodes with the Redis engine). Anonymous connections count one by one.",
    ),
  hooks: z
    .strictObject({
      subscribe: z
        .boolean()
        .default(false)
        .describe('Ask the `subscribe` hook before each client subscription here; its answer replaces the capability check.'),
      publish: z
        .boolean()
        .default(false)
        .describe(
          'Ask the `publish` hook before storing each client publication here (clientPublish must be on); its answer replaces the capability check and may replace the data.',
        ),
    })
    .prefault({})
    .describe("Proxy hooks to the application's backend for this namespace (see docs/hooks.md)."),
  leaderboard: z
    .strictObject({
      clientIncr: z.boolean().default(false).describe('Let clients increment scores (otherwise only the server API can).'),
      maxMembers: positiveInt().optional().describe('Keep only the best N members.'),
      top: positiveInt().max(1000).default(10).describe('Size of the live top-N pushed to subscribers.'),
      updateIntervalMs: positiveInt().default(100).describe('At most one live update per board per interval.'),
    })
    .optional()
    .describe('Channels of this namespace are leaderboards.'),
});

const defaultNamespaces = {
  chat: {
    public: true,
    history: { size: 100, ttlMs: 10 * 60 * 1000 },
    presence: true,
    joinLeave: true,
    clientPublish: true,
  },
  scores: { public: true, leaderboard: {} },
};

export const serverSchema = z.strictObject({
  host: z.string().default('0.0.0.0').describe('Address to listen on.'),
  port: z.number().int().min(0).max(65535).default(8080).describe('Port to listen on (env HUBBUB_PORT).'),
  path: z.string().startsWith('/').default('/ws').describe('WebSocket endpoint path.'),
  transport: z
    .enum(['auto', 'uws', 'ws'])
    .default('auto')
    .describe('auto: uWebSockets.js when its native build loads, else ws (env HUBBUB_TRANSPORT).'),
  maxPayloadBytes: positiveInt().default(64 * 1024).describe('Largest inbound frame; larger closes with 1009.'),
  maxHttpBodyBytes: positiveInt().default(1024 * 1024).describe('Largest HTTP request body.'),
  maxBackpressureBytes: positiveInt()
    .default(1024 * 1024)
    .describe('Unsent bytes a connection may queue before it is closed as a slow consumer.'),
  pingIntervalMs: positiveInt().default(25_000).describe('Server ping interval; a connection silent for two intervals is closed (uWS: within two intervals + 4 s, and no sooner than 8 s).'),
  maxConnections: positiveInt().default(100_000).describe('Connections on this node.'),
  maxConnectionsPerIp: positiveInt().default(1000).describe('Connections from one address.'),
  allowedOrigins: z
    .array(z.string().min(1))
    .default([])
    .describe(
      'Origins browsers may connect from (`https://app.example.com`, `https://*.example.com`); others get 403 at the upgrade. Empty: every origin. Requests without an Origin header (servers, apps) are always let in.',
    ),
  shutdownTimeoutMs: positiveInt()
    .default(10_000)
    .describe('On SIGTERM/SIGINT: how long to wait for in-flight work before exiting anyway.'),
  handshakeTimeoutMs: positiveInt()
    .default(10_000)
    .describe(
      'A TCP connection that has not completed its HTTP request (or WebSocket upgrade) within this is closed; such connections count toward maxConnections and maxConnectionsPerIp while they wait. On uWS a connection that has not yet sent its request headers is bounded by uWS itself instead (8-12 s).',
    ),
  trustProxy: z
    .array(z.string().min(1))
    .superRefine((list, ctx) => {
      // The transports' own parser decides, so what the schema accepts is what they can use.
      try {
        new ClientAddresses(list);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      }
    })
    .default([])
    .describe(
      'Addresses of reverse proxies / load balancers (exact IPs, or CIDR like `10.0.0.0/8`, or `loopback`). For a request from one of them, the client address used for limits and logs is the right-most X-Forwarded-For entry that is not itself a trusted proxy. Empty: X-Forwarded-For is ignored.',
    ),
});

export const authSchema = z.strictObject({
  hmacSecret: z
    .string()
    .min(32, 'use at least 32 characters')
    .optional()
    .describe('Secret for HS256/384/512 tokens (env HUBBUB_AUTH_SECRET). Setting any key turns auth on.'),
  publicKey: z.string().optional().describe('PEM public key (SPKI) for RS/PS/ES/EdDSA tokens.'),
  jwksFile: z.string().optional().describe('Path of a JWKS JSON file with the verification keys.'),
  jwksUrl: z.url().optional().describe('URL of a JWKS endpoint (fetched and cached, refreshed on unknown `kid`).'),
  algorithms: z
    .array(z.enum(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
    .min(1)
    .optional()
    .describe('Accepted `alg` values. Default: HS256/384/512 for a secret, the asymmetric ones for keys. `none` never.'),
  requireExp: z.boolean().default(true).describe('Refuse tokens without `exp`.'),
  audience: z.string().optional().describe('Required `aud`, when set.'),
  issuer: z.string().optional().describe('Required `iss`, when set.'),
  clockToleranceSec: z.number().int().min(0).max(300).default(5).describe('Leeway for `exp` and `nbf`, seconds.'),
  refreshBeforeMs: positiveInt()
    .default(30_000)
    .describe('A connection is told its token is expiring this long before `exp` (the `expiring` push).'),
  anonymous: z
    .strictObject({
      allowed: z.boolean().default(false).describe('Let connections without a token in (auth on).'),
      caps: capsSchema.default({}).describe('What anonymous connections may do, by channel pattern.'),
    })
    .prefault({})
    .describe('Connections without a token, when auth is on. With auth off, every connection is anonymous and may do all that namespaces allow clients.'),
});

export const apiSchema = z.strictObject({
  keys: z
    .array(z.string().min(16, 'use at least 16 characters'))
    .default([])
    .describe(
      'Bearer keys for the HTTP API (env HUBBUB_API_KEYS, comma-separated). None: a random key is made at start and logged once.',
    ),
  insecure: z.boolean().default(false).describe('Serve the HTTP API without any key. Never on a reachable network.'),
  rateLimit: rateSchema.prefault({ rate: 1000, burst: 2000 }).describe('Requests per API key.'),
  maxBroadcastChannels: positiveInt().max(10_000).default(1000).describe('Channels one broadcast may name.'),
});

/** One proxy hook: where it is, how long the hub waits, what it forwards. */
const hookSchema = (what: string) =>
  z.strictObject({
    url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe(`URL the hub POSTs ${what} to; unset (and no in-process hook): off.`),
    timeoutMs: positiveInt()
      .max(60_000)
      .default(2000)
      .describe('How long the hub waits for an answer (all attempts together); then the client gets `backend_unavailable`.'),
    forwardHeaders: z
      .array(z.string().regex(/^[A-Za-z0-9-]{1,64}$/))
      .default(['cookie', 'authorization'])
      .describe("Headers of the client's WebSocket upgrade request passed on to the hook as they came (names in any case)."),
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string())
      .default({})
      .describe('Fixed headers added to each call (e.g. a shared secret the backend checks).'),
    maxConcurrency: positiveInt()
      .default(256)
      .describe('Calls in flight at once; more wait for a free slot within their timeout.'),
  });

/** Only hooks whose repetition is harmless (they decide, they do not act) are retried. */
const retries = z
  .number()
  .int()
  .min(0)
  .max(5)
  .default(1)
  .describe('Further attempts after a network error or a 5xx, within timeoutMs.');

export const hooksSchema = z.strictObject({
  connect: hookSchema('`connect` commands')
    .extend({
      retries,
      always: z
        .boolean()
        .default(false)
        .describe('Call the connect hook for every connect, a token (passed on to it) or not; otherwise only for connects without a token.'),
    })
    .prefault({})
    .describe('Who a connection is, decided by the backend (e.g. from its session cookie).'),
  refresh: hookSchema('expiring proxy-authenticated connections')
    .extend({ retries })
    .prefault({})
    .describe('Renews a connection whose connect hook answer gave `expiresAt`; without it such connections close at expiry.'),
  subscribe: hookSchema('subscriptions in namespaces with `hooks.subscribe`')
    .extend({ retries })
    .prefault({})
    .describe('Allows or refuses subscriptions.'),
  publish: hookSchema('client publications in namespaces with `hooks.publish`')
    .prefault({})
    .describe('Accepts, refuses or rewrites client publications before they are stored (never retried).'),
  rpc: hookSchema('`rpc` commands').prefault({}).describe('Answers client `rpc` commands (never retried).'),
});

export const webhookEventNames = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'connection_opened',
  'connection_closed',
  'publication',
] as const;

export const webhooksSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).optional().describe('URL the hub POSTs batches of events to; unset: no webhooks.'),
    secret: z
      .string()
      .min(16, 'use at least 16 characters')
      .optional()
      .describe('HMAC-SHA256 key signing each batch (required with `url`); see docs/hooks.md for the check.'),
    events: z
      .array(z.enum(webhookEventNames))
      .default(['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'connection_opened', 'connection_closed'])
      .describe('Events sent. `publication` (every publication, client or API) is off unless listed.'),
    batchWindowMs: ms().max(10_000).default(50).describe('Events within this window after the first go out in one request.'),
    maxBatch: positiveInt().max(10_000).default(100).describe('Most events in one request.'),
    maxQueued: positiveInt()
      .default(10_000)
      .describe('Events waiting to be sent; beyond, new ones are dropped (counted and logged), never delaying clients.'),
    timeoutMs: positiveInt().max(60_000).default(5000).describe('How long one attempt waits for the receiver.'),
    retries: z.number().int().min(0).max(20).default(5).describe('Further attempts after a 5xx, a timeout or a network error.'),
    retryBaseMs: positiveInt().default(250).describe('First retry delay; it doubles each attempt (with jitter), up to 30 s.'),
  })
  .superRefine((w, ctx) => {
    if (w.url !== undefined && w.secret === undefined) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'is required when webhooks.url is set (receivers must be able to check the sender)' });
    }
  });

export const limitsSchema = z.strictObject({
  commands: rateSchema.prefault({ rate: 100, burst: 200 }).describe('Inbound commands per connection.'),
  bytes: rateSchema
    .prefault({ rate: 1024 * 1024, burst: 2 * 1024 * 1024 })
    .describe('Inbound bytes per connection.'),
  maxChannels: positiveInt().default(128).describe('Subscriptions per connection.'),
  rejectionsBeforeClose: positiveInt()
    .default(20)
    .describe('Rate-limited commands in a row before the connection is closed with the rate-limited code.'),
  presenceTtlMs: positiveInt().default(60_000).describe('Presence entries expire unless refreshed (every third of this).'),
  maxDepth: positiveInt()
    .max(1000)
    .default(64)
    .describe(
      'Deepest nesting of arrays and objects accepted in publication data (WebSocket and HTTP API); deeper data is refused with `bad_request`.',
    ),
});

export const recoverySchema = z.strictObject({
  maxPublications: positiveInt()
    .default(10_000)
    .describe(
      'Most missed publications replayed to one resubscribing client; more answers `recovered: false` at once (the client reloads its state instead).',
    ),
  maxReplyBytes: positiveInt()
    .default(64 * 1024)
    .describe(
      'Missed publications up to this size (JSON text) come in the subscribe reply; a larger recovery follows the reply as `pub` pushes, paced by the connection draining, so it never trips the slow-consumer limit.',
    ),
});

export const demoSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe(
      'Serve the demo pages at / (chat, leaderboard, dashboard), add their `demo-*` namespaces and run the dashboard feed. On when no config file is given (`npm start`); a config file turns it off unless it sets this; `--no-demo` (env HUBBUB_DEMO=0) turns it off whatever the file says.',
    ),
  feedIntervalMs: positiveInt()
    .min(50)
    .default(250)
    .describe('The dashboard feed publishes one point per this interval, only while someone is subscribed to it.'),
});

export const consoleSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe(
      'Serve the operator console at /console. It asks for an API key (`api.keys`) and is refused without one; with `api.insecure` it is open like the API when auth is off, and refused when auth is on.',
    ),
  statsIntervalMs: positiveInt()
    .min(100)
    .default(1000)
    .describe("How often each node publishes its numbers to the console's internal channel, while a console is watching."),
});

export const pusherAppSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9-]{1,16}$/, 'use 1 to 16 of a-z 0-9 -')
    .describe(
      'App id, as the server SDKs name it in `/apps/:id/...`. Its channels live in hub namespaces of its own (`pusher_<id>`, `pusherp_<id>`, `pusherc_<id>`, `pusherpc_<id>`), isolated from other apps.',
    ),
  key: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'use 1 to 64 of A-Z a-z 0-9 _ -')
    .describe('App key: clients connect to `/app/<key>`; auth signatures start with it.'),
  secret: z
    .string()
    .min(16, 'use at least 16 characters')
    .describe('Signs channel authorizations and HTTP API requests; only the app backend and hubbub know it.'),
  maxClientEventsPerSecond: positiveInt()
    .default(10)
    .describe('Client events (`client-*`) one connection may send per second (Pusher allows 10); more get `pusher:error` 4301.'),
  webhooks: z
    .strictObject({
      url: z.url({ protocol: /^https?$/ }).optional().describe("URL the app's Pusher-format webhooks are POSTed to; unset: none."),
      events: z
        .array(z.enum(['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event']))
        .default(['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event'])
        .describe('Events sent.'),
    })
    .prefault({})
    .describe(
      "Pusher's webhooks (body `{time_ms, events}`, `X-Pusher-Key`, `X-Pusher-Signature` = HMAC-SHA256 of the body with the app secret), through the webhook outbox: batching and retries as `webhooks.*` says.",
    ),
  history: z
    .strictObject({
      size: z.number().int().min(0).default(0).describe('Events kept per channel for resume; 0 keeps none.'),
      ttlMs: ms().default(0).describe('Drop kept events older than this; 0: only the size limit.'),
    })
    .prefault({})
    .describe(
      "History of the app's channels: events then carry their position (`hubbub: {offset, epoch}`, which pusher-js ignores) and a client may resume from one (docs/pusher.md).",
    ),
});

export const pusherSchema = z.strictObject({
  apps: z
    .array(pusherAppSchema)
    .default([])
    .superRefine((apps, ctx) => {
      for (const field of ['id', 'key'] as const) {
        const seen = new Set<string>();
        for (const app of apps) {
          if (seen.has(app[field])) ctx.addIssue({ code: 'custom', message: `two apps have the ${field} ${JSON.stringify(app[field])}` });
          seen.add(app[field]);
        }
      }
    })
    .describe('Pusher apps (`[{ id, key, secret }]`). None: the Pusher endpoint is off. See docs/pusher.md.'),
  path: z
    .string()
    .regex(/^\/([A-Za-z0-9_-]+\/)+$/, 'a path like /app/')
    .default('/app/')
    .describe('Pusher clients connect to this path followed by the app key (`/app/<key>`), as pusher-js does.'),
  activityTimeoutSec: positiveInt()
    .max(120)
    .default(120)
    .describe('Told to Pusher clients at connect: after this many seconds without a message they send `pusher:ping`.'),
});

export const configSchema = z
  .object({
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .describe('Minimum level of the JSON log lines.'),
    engine: engineSchema.prefault({ type: 'memory' }).describe('Where shared state lives.'),
    server: serverSchema.prefault({}).describe('Listening socket and connection limits.'),
    limits: limitsSchema.prefault({}).describe('Per-connection limits.'),
    recovery: recoverySchema.prefault({}).describe('How a resubscribing client gets what it missed.'),
    auth: authSchema.prefault({}).describe('Who may connect: JWT verification and anonymous access.'),
    api: apiSchema.prefault({}).describe('The HTTP API for backends.'),
    hooks: hooksSchema.prefault({}).describe("Proxy hooks: the hub asks the application's backend (docs/hooks.md)."),
    personalChannels: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe('Subscribe every connection with a user to its personal channel `<namespace>:<user>` on the server side.'),
        namespace: z
          .string()
          .regex(/^[a-z0-9_-]{1,32}$/)
          .default('personal')
          .describe('The namespace of personal channels; it must be configured in `namespaces`.'),
      })
      .prefault({})
      .describe('Personal channels: a backend reaches all of a user\'s connections with `POST /api/publish {user, data}`.'),
    webhooks: webhooksSchema.prefault({}).describe('Signed event webhooks to the application (docs/hooks.md#webhooks).'),
    metrics: z
      .strictObject({ enabled: z.boolean().default(true).describe('Serve Prometheus metrics at GET /metrics.') })
      .prefault({})
      .describe('Prometheus metrics.'),
    demo: demoSchema.prefault({}).describe('The demo pages and their namespaces.'),
    console: consoleSchema.prefault({}).describe('The operator console.'),
    pusher: pusherSchema.prefault({}).describe('The Pusher protocol endpoint (pusher-js, Laravel Echo, the Pusher server SDKs).'),
    namespaces: z
      .record(z.string().regex(/^[a-z0-9_-]{1,32}$/), namespaceSchema)
      .default(() => ({
        chat: namespaceSchema.parse(defaultNamespaces.chat),
        scores: namespaceSchema.parse(defaultNamespaces.scores),
      }))
      .describe('Channel namespaces by name; a channel `ns:name` uses namespace `ns`. Unknown namespaces are refused.'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type MemoryEngineConfig = z.infer<typeof memoryEngineSchema>;
export type PersistenceConfig = NonNullable<MemoryEngineConfig['persistence']>;
export type RedisEngineConfig = z.infer<typeof redisEngineSchema>;
export type NamespaceConfig = z.infer<typeof namespaceSchema>;
export type PusherConfig = z.infer<typeof pusherSchema>;
export type PusherAppConfig = z.infer<typeof pusherAppSchema>;
export type AuthConfig = z.infer<typeof authSchema>;
export type Capability = (typeof capabilityNames)[number];
export type Caps = z.infer<typeof capsSchema>;
export type HooksConfig = z.infer<typeof hooksSchema>;
export type WebhooksConfig = z.infer<typeof webhooksSchema>;
export type WebhookEventName = (typeof webhookEventNames)[number];

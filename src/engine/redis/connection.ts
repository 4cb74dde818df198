// The two ioredis connections an engine holds (one for commands, auto-pipelined; one for pub/sub)
// and how they fail: never queue a command while Redis is away (it fails at once, so callers get
// `unavailable` instead of hanging), reconnect with capped exponential backoff, log each outage
// once, and PING on an interval so a half-open link is found and replaced.

import { Redis } from 'ioredis';
import type { Logger } from '../../observability/index.js';
import { HubError } from '../../protocol/errors.js';

export type Role = 'commands' | 'pubsub';

export interface ConnectionOptions {
  url: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  reconnectMaxDelayMs: number;
}

/** Exponential from 50 ms, capped, with "equal jitter" so restarted nodes do not reconnect in step. */
export function reconnectDelay(attempt: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, 50 * 2 ** Math.min(attempt - 1, 16));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable Redis URL)';
  }
}

export function createConnection(role: Role, options: ConnectionOptions, log: Logger): Redis {
  const redis = new Redis(options.url, {
    lazyConnect: true,
    connectionName: `hubbub:${role}`,
    // Fail fast: a command issued while disconnected is rejected, not queued, and one in flight
    // when the link drops is rejected, not resent (a resent publish could be published twice).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The pub/sub link resubscribes itself, so that it knows when to look for missed publications.
    autoResubscribe: false,
    enableAutoPipelining: role === 'commands',
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    retryStrategy: (attempt) => reconnectDelay(attempt, options.reconnectMaxDelayMs),
  });
  let down = false;
  redis.on('ready', () => {
    if (down) log.info({ connection: role }, 'Redis connection restored');
    down = false;
  });
  redis.on('close', () => {
    if (down || redis.status === 'end') return;
    down = true;
    log.warn({ connection: role, url: redactUrl(options.url) }, 'Redis connection lost; reconnecting');
  });
  // ioredis emits an error per failed attempt; the outage itself is logged once, on close.
  redis.on('error', (err: unknown) => log.debug({ err, connection: role }, 'Redis connection error'));
  return redis;
}

/** Connects (if not yet) and resolves once the connection is ready, or rejects after timeoutMs. */
export function connectWithin(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new HubError('unavailable', `Redis did not become ready within ${timeoutMs} ms`));
    }, timeoutMs);
    redis.once('ready', onReady);
    // A failed first attempt rejects this promise, but ioredis goes on retrying; the timer decides.
    if (redis.status === 'wait') redis.connect().catch(() => undefined);
  });
}

/** Closes gracefully (QUIT waits for replies in flight) and falls back to a hard disconnect. */
export async function closeConnection(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status === 'ready') {
    const quit = redis.quit().then(
      () => undefined,
      () => undefined,
    );
    const timer = new Promise<void>((resolve) => setTimeout(resolve, 1000).unref());
    await Promise.race([quit, timer]);
  }
  redis.disconnect(false);
}

/** PINGs every ready connection; one that does not answer within its command timeout is replaced. */
export function startHealthCheck(
  connections: readonly { redis: Redis; role: Role }[],
  intervalMs: number,
  log: Logger,
): NodeJS.Timeout {
  const timer = setInterval(() => {
    for (const { redis, role } of connections) {
      if (redis.status !== 'ready') continue;
      redis.ping().catch((err: unknown) => {
        if (redis.status !== 'ready') return;
        log.warn({ err, connection: role }, 'Redis did not answer PING; reconnecting');
        redis.disconnect(true);
      });
    }
  }, intervalMs);
  timer.unref();
  return timer;
}

export interface ServerInfo {
  major: number;
  minor: number;
  /** Changes each time the Redis process restarts. */
  runId: string;
}

export async function serverInfo(redis: Redis): Promise<ServerInfo> {
  const info = await redis.info('server');
  const version = /redis_version:(\d+)\.(\d+)/.exec(info);
  const runId = /run_id:(\w+)/.exec(info)?.[1];
  if (version === null || runId === undefined) {
    throw new HubError('internal', 'could not read redis_version and run_id from INFO server');
  }
  return { major: Number(version[1]), minor: Number(version[2]), runId };
}

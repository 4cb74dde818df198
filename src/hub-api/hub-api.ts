// A small typed client of hubbub's HTTP API for backends (docs/http-api.md). Every call is safe
// to repeat, so each is retried after a network error, a timeout, a 5xx or a 429 (after the
// hub's retryAfterMs) with jittered backoff; publishes carry an idempotency key (the caller's,
// or one made per call), so a retried publish whose first answer was lost is delivered once.

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HubApiOptions {
  /** The hub's HTTP base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** A key from `api.keys`. */
  apiKey: string;
  /** One attempt's deadline (default 5000 ms). */
  timeoutMs?: number;
  /** Further attempts after a temporary failure (default 3). */
  retries?: number;
  /** First retry delay; doubles per attempt, jittered (default 100 ms). */
  retryBaseMs?: number;
}

/** A refusal or failure, with the hub's code (or `network` / `timeout` when no answer came). */
export class HubApiError extends Error {
  override readonly name = 'HubApiError';

  constructor(
    readonly code: string,
    message: string,
    /** HTTP status; 0 when no answer came. */
    readonly status: number,
    readonly details: Readonly<Record<string, unknown>> | undefined,
  ) {
    super(`${code}: ${message}`);
  }

  /** Whether the same call may succeed later. */
  get temporary(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export interface Position {
  offset: number;
  epoch: string;
}

export interface ApiPublication {
  offset: number;
  data: unknown;
  time: number;
  from?: { client: string; user: string; info?: unknown };
}

export interface ApiMember {
  client: string;
  user: string;
  info?: unknown;
}

export type BroadcastResult = { channel: string; offset: number; epoch: string } | { channel: string; error: { code: string; message: string } };

/** Whose connections a server-side subscription changes: every one of a user, or one client. */
export type Target = { user: string } | { client: string };

export class HubApi {
  private readonly base: string;

  constructor(private readonly options: HubApiOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  publish(channel: string, data: unknown, options: { idempotencyKey?: string } = {}): Promise<Position> {
    return this.post('publish', { channel, data, idempotencyKey: options.idempotencyKey ?? randomUUID() });
  }

  /** To the user's personal channel (`personalChannels` on the hub). */
  publishToUser(user: string, data: unknown, options: { idempotencyKey?: string } = {}): Promise<Position & { channel: string }> {
    return this.post('publish', { user, data, idempotencyKey: options.idempotencyKey ?? randomUUID() });
  }

  async broadcast(channels: string[], data: unknown, options: { idempotencyKey?: string } = {}): Promise<BroadcastResult[]> {
    const { results } = await this.post<{ results: BroadcastResult[] }>('broadcast', {
      channels,
      data,
      idempotencyKey: options.idempotencyKey ?? randomUUID(),
    });
    return results;
  }

  history(
    channel: string,
    options: { since?: Position; limit?: number; reverse?: boolean } = {},
  ): Promise<{ publications: ApiPublication[] } & Position> {
    const query: Record<string, string> = { channel };
    if (options.since !== undefined) {
      query.since_offset = String(options.since.offset);
      query.since_epoch = options.since.epoch;
    }
    if (options.limit !== undefined) query.limit = String(options.limit);
    if (options.reverse !== undefined) query.reverse = String(options.reverse);
    return this.get('history', query);
  }

  async presence(channel: string): Promise<ApiMember[]> {
    return (await this.get<{ members: ApiMember[] }>('presence', { channel })).members;
  }

  presenceStats(channel: string): Promise<{ clients: number; users: number }> {
    return this.get('presence-stats', { channel });
  }

  /** Subscribes the target's live connections on the server side, on every node. */
  async subscribe(target: Target, channel: string): Promise<void> {
    await this.post('subscribe', { channel, ...target });
  }

  async unsubscribe(target: Target, channel: string): Promise<void> {
    await this.post('unsubscribe', { channel, ...target });
  }

  /** Closes every connection of `user`; resolves with how many the answering node closed. */
  async disconnect(user: string, options: { reconnect?: boolean; reason?: string } = {}): Promise<number> {
    return (await this.post<{ disconnected: number }>('disconnect', { user, ...options })).disconnected;
  }

  stats(): Promise<{ node: Record<string, number>; engine: Record<string, number> }> {
    return this.get('stats', {});
  }

  private get<T>(route: string, query: Record<string, string>): Promise<T> {
    const qs = new URLSearchParams(query).toString();
    return this.call<T>('GET', `${route}${qs === '' ? '' : `?${qs}`}`, undefined);
  }

  private post<T>(route: string, body: Record<string, unknown>): Promise<T> {
    return this.call<T>('POST', route, JSON.stringify(body));
  }

  private async call<T>(method: 'GET' | 'POST', route: string, body: string | undefined): Promise<T> {
    const { retries = 3, retryBaseMs = 100, timeoutMs = 5000 } = this.options;
    let delay = retryBaseMs;
    for (let attempt = 0; ; attempt++) {
      let error: HubApiError;
      try {
        const res = await fetch(`${this.base}/api/${route}`, {
          method,
          headers: { authorization: `Bearer ${this.options.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await res.text();
        if (res.ok) return JSON.parse(text) as T;
        error = toError(res.status, text);
      } catch (err) {
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        error = new HubApiError(timedOut ? 'timeout' : 'network', timedOut ? `no answer within ${timeoutMs} ms` : String(err), 0, undefined);
      }
      if (!error.temporary || attempt >= retries) throw error;
      const asked = error.details?.retryAfterMs;
      await sleep(typeof asked === 'number' ? asked : Math.random() * delay);
      delay *= 2;
    }
  }
}

function toError(status: number, text: string): HubApiError {
  try {
    const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    if (error !== undefined && typeof error.code === 'string') {
      const details = typeof error.details === 'object' && error.details !== null ? (error.details as Record<string, unknown>) : undefined;
      return new HubApiError(error.code, String(error.message ?? ''), status, details);
    }
  } catch {
    // not JSON: a proxy's page, or the transport's plain-text 413
  }
  return new HubApiError(`http_${status}`, text.slice(0, 200), status, undefined);
}

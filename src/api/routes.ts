// One handler per HTTP API route: validated input in, the hub or the engine asked, JSON out.
// Namespace rules are the hub's (`namespaceOf`); what a namespace does not keep (history,
// presence, boards) is `not_available`, as it is over the WebSocket.

import type { z } from 'zod';
import type { Config } from '../config/index.js';
import type { Engine, HistoryOptions, LeaderboardSetOptions, StreamOptions } from '../engine/types.js';
import { type Hub, notAvailable, streamOptions } from '../hub.js';
import type { Logger } from '../observability/index.js';
import { publicationsJson } from '../protocol/frames.js';
import { HubError } from '../protocol/errors.js';
import type { HttpResponse } from '../transport/types.js';
import { parseBody, parseQuery } from './input.js';
import { json, jsonText } from './responses.js';
import * as schemas from './schemas.js';

export interface ApiDeps {
  readonly config: Config;
  readonly hub: Hub;
  readonly engine: Engine;
  readonly log: Logger;
}

export interface ApiCall {
  readonly query: URLSearchParams;
  readonly body: Buffer;
}

export interface Route {
  readonly method: 'GET' | 'POST';
  run(call: ApiCall): Promise<HttpResponse>;
}

/** Publishes of one broadcast in flight at once: enough to hide a networked engine's latency. */
const BROADCAST_CONCURRENCY = 16;
const DEFAULT_REASON = 'disconnected by the server';
const str = JSON.stringify;

function get<S extends z.ZodType>(schema: S, run: (input: z.output<S>) => Promise<HttpResponse>): Route {
  return { method: 'GET', run: (call) => run(parseQuery(schema, call.query)) };
}

function post<S extends z.ZodType>(schema: S, run: (input: z.output<S>) => Promise<HttpResponse>): Route {
  return {
    method: 'POST',
    run: (call) => {
      const first = [...call.query.keys()][0];
      if (first !== undefined) {
        throw new HubError('bad_request', `POST routes take their input from the JSON body, not the query ("${first}")`, {
          field: first,
        });
      }
      return run(parseBody(schema, call.body));
    },
  };
}

/** Every route by path. */
export function apiRoutes({ config, hub, engine, log }: ApiDeps): ReadonlyMap<string, Route> {
  const board = (channel: string) => {
    const options = hub.namespaceOf(channel).leaderboard;
    if (options === undefined) throw notAvailable('leaderboards', channel);
    return options;
  };

  return new Map<string, Route>([
    [
      '/api/publish',
      post(schemas.publishBody(config.limits.maxDepth), async ({ channel, user, data, idempotencyKey }) => {
        const target = channel ?? hub.personalChannel(user as string);
        const { offset, epoch } = await hub.serverPublish(target, data, idempotencyKey);
        return json(user === undefined ? { offset, epoch } : { channel: target, offset, epoch });
      }),
    ],
    ...(['subscribe', 'unsubscribe'] as const).map(
      (op): [string, Route] => [
        `/api/${op}`,
        post(schemas.serverSubscriptionBody, async ({ channel, user, client }) => {
          await hub.requestServerSubscription(op, channel, user !== undefined ? { user } : { client: client as string });
          return json({});
        }),
      ],
    ),
    [
      '/api/broadcast',
      post(schemas.broadcastBody(config.api.maxBroadcastChannels, config.limits.maxDepth), async ({ channels, data, idempotencyKey }) => {
        const seen = new Set<string>();
        for (const channel of channels) {
          if (seen.has(channel)) throw new HubError('bad_request', `channel ${str(channel)} is named twice`, { field: 'channels' });
          seen.add(channel);
        }
        const results = await mapLimited(channels, BROADCAST_CONCURRENCY, async (channel) => {
          try {
            const key = idempotencyKey === undefined ? undefined : `${idempotencyKey}:${channel}`;
            const { offset, epoch } = await hub.serverPublish(channel, data, key);
            return { channel, offset, epoch };
          } catch (err) {
            return { channel, error: channelError(err, channel, log) };
          }
        });
        return json({ results });
      }),
    ],
    [
      '/api/history',
      get(schemas.historyQuery, async (q) => {
        const ns = hub.namespaceOf(q.channel);
        if (ns.history.size === 0) throw notAvailable('history', q.channel);
        if ((q.since_offset === undefined) !== (q.since_epoch === undefined)) {
          throw new HubError('bad_request', 'give since_offset and since_epoch together, or neither', {
            field: q.since_offset === undefined ? 'since_offset' : 'since_epoch',
          });
        }
        const options: HistoryOptions & StreamOptions = streamOptions(ns);
        if (q.since_offset !== undefined && q.since_epoch !== undefined) {
          options.since = { offset: q.since_offset, epoch: q.since_epoch };
        }
        if (q.limit !== undefined) options.limit = q.limit;
        if (q.reverse !== undefined) options.reverse = q.reverse;
        const { publications, top } = await engine.history(q.channel, options);
        // Payloads are stored as JSON text: spliced in, never parsed and encoded again.
        return jsonText(`{"publications":${publicationsJson(publications)},"offset":${top.offset},"epoch":${str(top.epoch)}}`);
      }),
    ],
    [
      '/api/presence',
      get(schemas.channelQuery, async ({ channel }) => {
        if (!hub.namespaceOf(channel).presence) throw notAvailable('presence', channel);
        return json({ members: await engine.presence(channel) });
      }),
    ],
    [
      '/api/presence-stats',
      get(schemas.channelQuery, async ({ channel }) => {
        if (!hub.namespaceOf(channel).presence) throw notAvailable('presence', channel);
        const { clients, users } = await engine.presenceStats(channel);
        return json({ clients, users });
      }),
    ],
    [
      '/api/leaderboard/incr',
      post(schemas.incrBody, async ({ channel, member, by }) => {
        const { maxMembers } = board(channel);
        const options = maxMembers === undefined ? {} : { maxMembers };
        return json({ score: await engine.leaderboardIncr(channel, member, by, options) });
      }),
    ],
    [
      '/api/leaderboard/set',
      post(schemas.setBody, async ({ channel, member, score, mode }) => {
        const { maxMembers } = board(channel);
        const options: LeaderboardSetOptions = {};
        if (maxMembers !== undefined) options.maxMembers = maxMembers;
        if (mode !== undefined) options.mode = mode;
        return json({ updated: await engine.leaderboardSet(channel, member, score, options) });
      }),
    ],
    [
      '/api/leaderboard/remove',
      post(schemas.removeBody, async ({ channel, member }) => {
        board(channel);
        return json({ removed: await engine.leaderboardRemove(channel, member) });
      }),
    ],
    [
      '/api/leaderboard/top',
      get(schemas.topQuery, async ({ channel, limit, offset }) => {
        const { top } = board(channel);
        return json({ entries: await engine.leaderboardTop(channel, limit ?? top, offset ?? 0) });
      }),
    ],
    [
      '/api/leaderboard/rank',
      get(schemas.rankQuery, async ({ channel, member }) => {
        board(channel);
        const [rank, score] = await Promise.all([
          engine.leaderboardRank(channel, member),
          engine.leaderboardScore(channel, member),
        ]);
        return json({ rank, score });
      }),
    ],
    [
      '/api/leaderboard/around',
      get(schemas.aroundQuery, async ({ channel, member, n }) => {
        board(channel);
        return json({ entries: await engine.leaderboardAround(channel, member, n ?? 5) });
      }),
    ],
    [
      '/api/disconnect',
      post(schemas.disconnectBody, async ({ user, reconnect, reason }) => {
        return json({ disconnected: await hub.disconnectUser(user, reconnect, reason ?? DEFAULT_REASON) });
      }),
    ],
    [
      '/api/channels',
      get(schemas.channelsQuery, async ({ limit = 100, cursor }) => {
        const list = hub.channelList();
        const start = cursor === undefined ? 0 : firstAfter(list, decodeCursor(cursor));
        const page = list.slice(start, start + limit);
        const last = page.at(-1);
        const more = start + limit < list.length && last !== undefined;
        return json(more ? { channels: page, next: encodeCursor(last.channel) } : { channels: page });
      }),
    ],
    ['/api/stats', get(schemas.emptyQuery, async () => json({ node: hub.stats(), engine: await engine.stats() }))],
    [
      '/api/console/ticket',
      post(schemas.emptyQuery, async () => {
        // With auth on, the console is never open: insecure mode has no key to ask for.
        if (config.api.insecure && authOn(config)) {
          throw new HubError('forbidden', 'the console needs an API key when auth is on; set api.keys and turn api.insecure off');
        }
        // What each namespace keeps, so the console asks only for what a channel has.
        const namespaces = Object.fromEntries(
          Object.entries(config.namespaces).map(([name, ns]) => [
            name,
            { history: ns.history.size > 0, presence: ns.presence, leaderboard: ns.leaderboard !== undefined },
          ]),
        );
        return json({ ticket: hub.operators.ticket(), namespaces });
      }),
    ],
  ]);
}

function authOn({ auth }: Config): boolean {
  return auth.hmacSecret !== undefined || auth.publicKey !== undefined || auth.jwksFile !== undefined || auth.jwksUrl !== undefined;
}

/** One channel of a broadcast failed: its error goes into the results, the others still run. */
function channelError(err: unknown, channel: string, log: Logger): { code: string; message: string } {
  if (err instanceof HubError) return { code: err.code, message: err.message };
  log.error({ err, route: 'POST /api/broadcast', channel }, 'broadcast publish failed');
  return { code: 'internal', message: 'the hub failed to publish to this channel; retry later' };
}

async function mapLimited<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

// The cursor is the last channel name of the previous page: stable while channels come and go,
// since the list is sorted by name. base64url keeps it opaque and safe in a query string.
function encodeCursor(channel: string): string {
  return Buffer.from(channel, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const channel = Buffer.from(cursor, 'base64url').toString('utf8');
  if (encodeCursor(channel) !== cursor) {
    throw new HubError('bad_request', 'cursor is not one this API returned; pass the "next" of the previous page', {
      field: 'cursor',
    });
  }
  return channel;
}

/** Index of the first channel named after `name` (binary search over the sorted list). */
function firstAfter(list: readonly { channel: string }[], name: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as { channel: string }).channel <= name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

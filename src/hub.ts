// The hub: the one place that decides who receives what. It owns the channel -> local sessions
// index, applies namespace rules, runs every command, and receives the engine's events, which it
// encodes once and publishes to the transport's topic for the channel.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config, NamespaceConfig } from './config/index.js';
import type {
  ClientInfo,
  Engine,
  EngineHandler,
  LeaderboardUpdate,
  Publication,
  StreamOptions,
  StreamPosition,
} from './engine/types.js';
import type { Logger } from './observability/index.js';
import {
  boardFrame,
  CloseCodes,
  type Command,
  type CommandOf,
  errorFrame,
  HubError,
  isHubError,
  joinFrame,
  leaveFrame,
  parseChannel,
  publicationFrame,
  publicationsJson,
  replyFrame,
  resubscribeFrame,
} from './protocol/index.js';
import { type CommandHandler, type Reply, Session, type Subscription } from './session.js';
import type { Connection, HttpRequest, HttpResponse, Transport, TransportHooks, UpgradeRequest } from './transport/types.js';
import { type Clock, systemClock } from './util/clock.js';

export const VERSION = '0.1.0';

interface Channel {
  readonly name: string;
  readonly namespace: NamespaceConfig;
  /** Every local subscriber, live or with a subscribe in flight. */
  readonly members: Set<Session>;
  /** Subscribers whose subscribe reply is not written yet: live publications are buffered for them. */
  readonly pending: Set<Session>;
  /** Resolves once the engine delivers this channel's events to this node. */
  readonly interest: Promise<void>;
  boardTimer: NodeJS.Timeout | undefined;
  lastBoard: string | undefined;
}

/** Join/leave pushes go to a topic of their own, so a subscriber can opt out of them. */
const joinLeaveTopic = (channel: string) => `#jl:${channel}`;
const str = JSON.stringify;

export class Hub implements EngineHandler, CommandHandler, TransportHooks {
  private transport: Transport | undefined;
  private readonly sessions = new Set<Session>();
  private readonly channels = new Map<string, Channel>();
  private readonly perIp = new Map<string, number>();
  private readonly presenceTimer: NodeJS.Timeout;

  constructor(
    private readonly config: Config,
    private readonly engine: Engine,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.presenceTimer = setInterval(() => this.refreshPresence(), Math.max(1000, config.limits.presenceTtlMs / 3));
    this.presenceTimer.unref();
  }

  attach(transport: Transport): void {
    this.transport = transport;
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  async close(): Promise<void> {
    clearInterval(this.presenceTimer);
    for (const channel of this.channels.values()) clearTimeout(channel.boardTimer);
    await this.transport?.close(CloseCodes.shutdown, 'server shutting down; reconnect');
  }

  // ---- transport hooks ----

  onUpgrade(req: UpgradeRequest): { status: number; message: string } | undefined {
    const { maxConnections, maxConnectionsPerIp } = this.config.server;
    if (this.sessions.size >= maxConnections) {
      return { status: 503, message: 'this node is at its connection limit; try another node or later' };
    }
    if ((this.perIp.get(req.remoteAddress) ?? 0) >= maxConnectionsPerIp) {
      return { status: 429, message: 'too many connections from this address' };
    }
    return undefined;
  }

  onOpen(conn: Connection, req: UpgradeRequest): Session {
    const session = new Session(conn, randomUUID(), this, this.config.limits, this.clock);
    this.sessions.add(session);
    this.perIp.set(req.remoteAddress, (this.perIp.get(req.remoteAddress) ?? 0) + 1);
    return session;
  }

  async onHttp(req: HttpRequest): Promise<HttpResponse> {
    const path = req.url.split('?')[0];
    if (req.method === 'GET' && path === '/health') {
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"status":"ok"}' };
    }
    if (req.method === 'GET' && path === '/hubbub.js') {
      const bundle = clientBundle();
      if (bundle !== undefined) {
        return {
          status: 200,
          headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=300' },
          body: bundle,
        };
      }
    }
    return {
      status: 404,
      headers: { 'content-type': 'application/json' },
      body: str({ error: { code: 'not_found', message: `no route ${req.method} ${path}` } }),
    };
  }

  closed(session: Session): void {
    this.sessions.delete(session);
    const ip = session.conn.remoteAddress;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
    for (const sub of [...session.subscriptions.values()]) this.leave(session, sub);
  }

  // ---- engine events ----

  onPublication(channel: string, publication: Publication, epoch: string): void {
    const ch = this.channels.get(channel);
    if (ch === undefined) return;
    const frame = publicationFrame(channel, publication, epoch);
    for (const session of ch.pending) {
      session.subscriptions.get(channel)?.pending?.push({ offset: publication.offset, epoch, frame });
    }
    this.transport?.publish(channel, frame);
  }

  onJoin(channel: string, member: ClientInfo): void {
    if (this.channels.has(channel)) this.transport?.publish(joinLeaveTopic(channel), joinFrame(channel, member));
  }

  onLeave(channel: string, member: ClientInfo): void {
    if (this.channels.has(channel)) this.transport?.publish(joinLeaveTopic(channel), leaveFrame(channel, member));
  }

  /**
   * The engine cannot feed this channel in order any more: drop every local subscription and tell
   * each client to subscribe again with `since`, so each one recovers from its own last offset (or
   * learns it cannot) instead of living with a silent gap.
   */
  onUnrecoverable(channel: string): void {
    const ch = this.channels.get(channel);
    if (ch === undefined) return;
    this.log.warn({ channel, subscribers: ch.members.size }, 'publications lost; subscribers told to resubscribe');
    const frame = resubscribeFrame(channel, 'publications lost on this node');
    for (const session of [...ch.members]) {
      const sub = session.subscriptions.get(channel);
      if (sub === undefined) continue;
      this.leave(session, sub);
      session.send(frame);
    }
  }

  /** Coalesces board changes: at most one push of the top-N per board per interval. */
  onLeaderboardUpdate(board: string, _update: LeaderboardUpdate): void {
    const ch = this.channels.get(board);
    const options = ch?.namespace.leaderboard;
    if (ch === undefined || options === undefined || ch.boardTimer !== undefined) return;
    ch.boardTimer = setTimeout(() => {
      ch.boardTimer = undefined;
      this.engine.leaderboardTop(board, options.top).then(
        (entries) => {
          const json = str(entries);
          if (json === ch.lastBoard || this.channels.get(board) !== ch) return;
          ch.lastBoard = json;
          this.transport?.publish(board, boardFrame(board, entries));
        },
        (err: unknown) => this.log.error({ err, board }, 'leaderboard update failed'),
      );
    }, options.updateIntervalMs);
  }

  // ---- commands ----

  async handle(session: Session, command: Command): Promise<Reply> {
    try {
      return await this.run(session, command);
    } catch (err) {
      return { frame: errorFrame(command.id, this.toHubError(err, command)) };
    }
  }

  private async run(session: Session, cmd: Command): Promise<Reply> {
    if (cmd.method === 'connect') {
      if (session.connected) throw new HubError('already_connected', 'this connection is already connected');
      session.connected = true;
      const result = { client: session.info.client, version: VERSION, pingIntervalMs: this.config.server.pingIntervalMs };
      return { frame: replyFrame(cmd.id, str(result)) };
    }
    if (!session.connected) {
      throw new HubError('not_connected', 'send a connect command first');
    }
    switch (cmd.method) {
      case 'ping':
        return { frame: replyFrame(cmd.id, '{}') };
      case 'subscribe':
        return this.subscribe(session, cmd);
      case 'unsubscribe': {
        const sub = session.subscriptions.get(cmd.channel);
        if (sub === undefined) throw new HubError('not_subscribed', `not subscribed to ${cmd.channel}`);
        this.leave(session, sub);
        return { frame: replyFrame(cmd.id, '{}') };
      }
      case 'publish':
        return { frame: replyFrame(cmd.id, await this.publish(session, cmd)) };
      case 'history': {
        const ns = this.namespace(cmd.channel);
        if (ns.history.size === 0) throw notAvailable('history', cmd.channel);
        const options = { ...streamOptions(ns), ...definedOf({ since: cmd.since, limit: cmd.limit, reverse: cmd.reverse }) };
        const { publications, top } = await this.engine.history(cmd.channel, options);
        const json = `{"publications":${publicationsJson(publications)},"offset":${top.offset},"epoch":${str(top.epoch)}}`;
        return { frame: replyFrame(cmd.id, json) };
      }
      case 'presence': {
        if (!this.namespace(cmd.channel).presence) throw notAvailable('presence', cmd.channel);
        const members = await this.engine.presence(cmd.channel);
        return { frame: replyFrame(cmd.id, str({ members })) };
      }
      case 'presence_stats': {
        if (!this.namespace(cmd.channel).presence) throw notAvailable('presence', cmd.channel);
        return { frame: replyFrame(cmd.id, str(await this.engine.presenceStats(cmd.channel))) };
      }
      case 'top':
      case 'rank':
      case 'around':
      case 'incr':
        return { frame: replyFrame(cmd.id, await this.leaderboard(session, cmd)) };
    }
  }

  private async subscribe(session: Session, cmd: CommandOf<'subscribe'>): Promise<Reply> {
    const channelName = cmd.channel;
    const ns = this.namespace(channelName);
    if (session.subscriptions.has(channelName)) {
      throw new HubError('already_subscribed', `already subscribed to ${channelName}`);
    }
    if (session.subscriptions.size >= this.config.limits.maxChannels) {
      throw new HubError('limit_exceeded', `a connection may subscribe to at most ${this.config.limits.maxChannels} channels`);
    }
    let ch = this.channels.get(channelName);
    if (ch !== undefined && ns.maxSubscribers > 0 && ch.members.size >= ns.maxSubscribers) {
      throw new HubError('limit_exceeded', `${channelName} has its maximum of ${ns.maxSubscribers} subscribers`);
    }
    if (ch === undefined) {
      ch = {
        name: channelName,
        namespace: ns,
        members: new Set(),
        pending: new Set(),
        interest: this.engine.subscribe(channelName),
        boardTimer: undefined,
        lastBoard: undefined,
      };
      this.channels.set(channelName, ch);
    }
    const sub: Subscription = { channel: channelName, namespace: ns, pending: [], joinLeave: cmd.joinLeave ?? true };
    session.subscriptions.set(channelName, sub);
    ch.members.add(session);
    ch.pending.add(session);
    try {
      await ch.interest;
      const { result, top } = await this.initialState(channelName, ns, cmd);
      if (session.subscriptions.get(channelName) !== sub) {
        throw new HubError('not_subscribed', `unsubscribed from ${channelName} while subscribing`);
      }
      const channel = ch;
      return { frame: replyFrame(cmd.id, result), after: () => this.goLive(session, channel, sub, top) };
    } catch (err) {
      if (session.subscriptions.get(channelName) === sub) this.leave(session, sub);
      throw err;
    }
  }

  /** What a new subscriber is told: its position, and what it missed or asked to see. */
  private async initialState(
    channel: string,
    ns: NamespaceConfig,
    cmd: CommandOf<'subscribe'>,
  ): Promise<{ result: string; top: StreamPosition }> {
    const options = streamOptions(ns);
    let publications: Publication[] = [];
    let recovered: boolean | undefined;
    let top: StreamPosition;
    if (cmd.since !== undefined) {
      try {
        ({ publications, top } = await this.engine.history(channel, { ...options, since: cmd.since }));
        recovered = true;
      } catch (err) {
        if (!isHubError(err, 'unrecoverable_position')) throw err;
        ({ top } = await this.engine.history(channel, { ...options, limit: 0 }));
        recovered = false;
      }
    } else if (cmd.last !== undefined && cmd.last > 0) {
      ({ publications, top } = await this.engine.history(channel, { ...options, limit: cmd.last, reverse: true }));
      publications.reverse();
    } else {
      ({ top } = await this.engine.history(channel, { ...options, limit: 0 }));
    }
    let result = `{"offset":${top.offset},"epoch":${str(top.epoch)}`;
    if (recovered !== undefined) result += `,"recovered":${recovered}`;
    if (publications.length > 0) result += `,"publications":${publicationsJson(publications)}`;
    if (ns.leaderboard !== undefined) {
      result += `,"entries":${str(await this.engine.leaderboardTop(channel, ns.leaderboard.top))}`;
    }
    return { result: `${result}}`, top };
  }

  /**
   * Right after the subscribe reply is written: deliver what was published during the read
   * (newer than what the reply covered), then join the topic. All synchronous, so nothing can
   * slip between the two and nothing is delivered twice.
   */
  private goLive(session: Session, ch: Channel, sub: Subscription, top: StreamPosition): void {
    if (session.subscriptions.get(ch.name) !== sub || !session.isOpen) return;
    for (const p of sub.pending ?? []) {
      if (p.epoch !== top.epoch || p.offset > top.offset) session.send(p.frame);
    }
    sub.pending = undefined;
    ch.pending.delete(session);
    session.conn.subscribe(ch.name);
    const ns = ch.namespace;
    if (ns.joinLeave && sub.joinLeave) session.conn.subscribe(joinLeaveTopic(ch.name));
    if (ns.presence) this.addPresence(session, ch.name, ns);
  }

  private leave(session: Session, sub: Subscription): void {
    const name = sub.channel;
    session.subscriptions.delete(name);
    if (sub.pending === undefined && session.isOpen) {
      session.conn.unsubscribe(name);
      session.conn.unsubscribe(joinLeaveTopic(name));
    }
    const ch = this.channels.get(name);
    if (ch !== undefined) {
      ch.members.delete(session);
      ch.pending.delete(session);
      if (ch.members.size === 0) {
        this.channels.delete(name);
        clearTimeout(ch.boardTimer);
        this.engine.unsubscribe(name).catch((err: unknown) => this.log.error({ err, channel: name }, 'unsubscribe failed'));
      }
    }
    if (sub.namespace.presence && sub.pending === undefined) {
      this.engine
        .removePresence(name, session.info.client, { joinLeave: sub.namespace.joinLeave })
        .catch((err: unknown) => this.log.error({ err, channel: name }, 'presence removal failed'));
    }
  }

  private async publish(session: Session, cmd: CommandOf<'publish'>): Promise<string> {
    const ns = this.namespace(cmd.channel);
    if (!ns.clientPublish) {
      throw new HubError('forbidden', `clients may not publish to ${cmd.channel}; publish through the server API`);
    }
    const { namespace } = parseChannel(cmd.channel);
    if (!session.publishAllowed(namespace, ns.publishRate)) {
      throw new HubError('rate_limited', `publish limit reached in ${namespace}`, {
        retryAfterMs: session.publishRetryAfterMs(namespace),
      });
    }
    const options = { ...streamOptions(ns), from: session.info, ...definedOf({ idempotencyKey: cmd.idempotencyKey }) };
    const r = await this.engine.publish(cmd.channel, str(cmd.data), options);
    return `{"offset":${r.offset},"epoch":${str(r.epoch)}}`;
  }

  private async leaderboard(session: Session, cmd: CommandOf<'top' | 'rank' | 'around' | 'incr'>): Promise<string> {
    const board = this.namespace(cmd.channel).leaderboard;
    if (board === undefined) throw notAvailable('leaderboards', cmd.channel);
    if (cmd.method === 'incr') {
      if (!board.clientIncr) {
        throw new HubError('forbidden', `clients may not change ${cmd.channel}; use the server API`);
      }
      const options = board.maxMembers === undefined ? {} : { maxMembers: board.maxMembers };
      return str({ score: await this.engine.leaderboardIncr(cmd.channel, cmd.member, cmd.by, options) });
    }
    if (!session.subscriptions.has(cmd.channel)) {
      throw new HubError('not_subscribed', `subscribe to ${cmd.channel} before reading it`);
    }
    switch (cmd.method) {
      case 'top':
        return str({ entries: await this.engine.leaderboardTop(cmd.channel, cmd.limit ?? board.top, cmd.offset ?? 0) });
      case 'rank': {
        const [rank, score] = await Promise.all([
          this.engine.leaderboardRank(cmd.channel, cmd.member),
          this.engine.leaderboardScore(cmd.channel, cmd.member),
        ]);
        return str({ rank, score });
      }
      case 'around':
        return str({ entries: await this.engine.leaderboardAround(cmd.channel, cmd.member, cmd.n ?? 5) });
    }
  }

  private addPresence(session: Session, channel: string, ns: NamespaceConfig): void {
    this.engine
      .addPresence(channel, session.info, { ttlMs: this.config.limits.presenceTtlMs, joinLeave: ns.joinLeave })
      .catch((err: unknown) => this.log.error({ err, channel }, 'presence update failed'));
  }

  /** Keeps this node's presence entries alive; members of a node that stops doing this expire. */
  private refreshPresence(): void {
    for (const session of this.sessions) {
      for (const sub of session.subscriptions.values()) {
        if (sub.namespace.presence && sub.pending === undefined) this.addPresence(session, sub.channel, sub.namespace);
      }
    }
  }

  private namespace(channel: string): NamespaceConfig {
    const { namespace } = parseChannel(channel);
    const ns = this.config.namespaces[namespace];
    if (ns === undefined) {
      throw new HubError('unknown_namespace', `namespace ${JSON.stringify(namespace)} is not configured on this hub`);
    }
    return ns;
  }

  private toHubError(err: unknown, cmd: Command): HubError {
    if (err instanceof HubError) {
      return err.code === 'engine_closed' ? new HubError('unavailable', err.message) : err;
    }
    this.log.error({ err, method: cmd.method }, 'command failed');
    return new HubError('internal', 'the hub failed to run this command; retry later');
  }
}

function notAvailable(what: string, channel: string): HubError {
  return new HubError('not_available', `${what} is not enabled for the namespace of ${channel}`);
}

function streamOptions(ns: NamespaceConfig): StreamOptions {
  return ns.history.size > 0 ? { history: { size: ns.history.size, ttlMs: ns.history.ttlMs } } : {};
}

/** Copies the fields that are not undefined (exactOptionalPropertyTypes forbids explicit undefined). */
function definedOf<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}

let bundleCache: Buffer | undefined;
/**
 * The browser SDK's minified IIFE (global `Hubbub`), built by `npm run build` into
 * dist/client/hubbub.min.js; found from dist/ (the built server) and from src/ (tests, tsx).
 * Read once found; looked for again on each request until then.
 */
function clientBundle(): Buffer | undefined {
  for (const rel of ['./client/hubbub.min.js', '../dist/client/hubbub.min.js']) {
    if (bundleCache !== undefined) break;
    try {
      bundleCache = readFileSync(new URL(rel, import.meta.url));
    } catch {
      // not there: try the next place
    }
  }
  return bundleCache;
}

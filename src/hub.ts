// The hub: the one place that decides who receives what. It owns the channel -> local sessions
// index, applies namespace rules, runs every command, and receives the engine's events, which it
// encodes once and publishes to the transport's topic for the channel.

import { randomBytes } from 'node:crypto';
import { AuthGuard } from './auth/index.js';
import type { Config, NamespaceConfig } from './config/index.js';
import { BackendHooks, type Hooks, type WebhookFormat, type WebhookObserver, Webhooks } from './hooks/index.js';
import type {
  ClientInfo,
  Engine,
  EngineHandler,
  JsonValue,
  LeaderboardUpdate,
  Publication,
  PublishResult,
  StreamPosition,
} from './engine/types.js';
import { type Logger, Metrics } from './observability/index.js';
import {
  CloseCodes,
  type Command,
  type CommandOf,
  errorFrame,
  HubError,
  joinFrame,
  jsonDataProblem,
  leaveFrame,
  parseChannel,
  publicationsJson,
  replyFrame,
  resubscribeFrame,
} from './protocol/index.js';
import { type CommandHandler, type Reply, Session, type Subscription } from './session.js';
import type { Connection, HttpRequest, HttpResponse, Transport, TransportHooks, UpgradeRequest } from './transport/types.js';
import { type HttpHandler, serveHttp } from './http/endpoints.js';
import { type Channel, Delivery, joinLeaveTopic } from './hub/delivery.js';
import { initialState, notAvailable, streamOptions } from './hub/initial-state.js';
import { type OperatorDoor, Operators } from './hub/operators.js';
import { coalesceBoardUpdate, leaderboardCommand } from './hub/leaderboards.js';
import { PresenceUpkeep } from './hub/presence-upkeep.js';
import type { ProtocolDoor } from './hub/protocols.js';
import { ServerSubscriptions, serverSubscriptionOp } from './hub/server-subs.js';

export { notAvailable, type OperatorDoor, type ProtocolDoor, streamOptions };
import { type Clock, systemClock } from './util/clock.js';
import { globToRegExp } from './util/glob.js';

export const VERSION = '0.1.0';

/**
 * Hub-to-hub messages (e.g. disconnect a user everywhere) travel as publications on this channel,
 * so they reach every node through whichever engine runs. Clients cannot name it: a namespace
 * never starts with `$`.
 */
export const CONTROL_CHANNEL = '$hubbub:control';

/** What GET /api/stats reports about this node. */
export interface HubStats {
  connections: number;
  channels: number;
  subscriptions: number;
  uptimeMs: number;
}

const str = JSON.stringify;

export interface HubOptions {
  clock?: Clock;
  /** Also export process metrics (CPU, memory, event loop lag): once per process, so the CLI only. */
  processMetrics?: boolean;
  /** In-process proxy hooks (embedding); a hook given here must not also have a URL. */
  hooks?: Hooks;
  /** The webhooks' wire format; default hubbub's own (signed JSON batches). */
  webhookFormat?: WebhookFormat;
}

export class Hub implements EngineHandler, CommandHandler, TransportHooks {
  readonly metrics: Metrics;
  private transport: Transport | undefined;
  private api: HttpHandler | undefined;
  /** A second wire protocol on its own endpoint (protocols/pusher). */
  private protocol: ProtocolDoor | undefined;
  private readonly auth: AuthGuard;
  private readonly hooks: BackendHooks;
  private readonly webhooks: Webhooks;
  private readonly serverSubs: ServerSubscriptions;
  private readonly origins: RegExp[];
  private readonly clock: Clock;
  private readonly sessions = new Set<Session>();
  private readonly delivery: Delivery;
  private readonly channels: Map<string, Channel>;
  private readonly perIp = new Map<string, number>();
  private readonly presence: PresenceUpkeep;
  private readonly startedAt: number;
  private closing = false;
  private readonly interestListeners: ((channel: string, active: boolean) => void)[] = [];
  /** The operator console's connections and internal channels (hub/operators.ts). */
  readonly operators = new Operators();

  constructor(
    private readonly config: Config,
    private readonly engine: Engine,
    private readonly log: Logger,
    options: HubOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.metrics = new Metrics(this, options.processMetrics ?? false);
    this.hooks = new BackendHooks(config.hooks, options.hooks, this.metrics, log);
    this.webhooks = new Webhooks(config.webhooks, engine, this.metrics, log, options.webhookFormat);
    for (const [name, ns] of Object.entries(config.namespaces)) {
      for (const hook of ['subscribe', 'publish'] as const) {
        if (ns.hooks[hook] && !this.hooks.has(hook)) {
          throw new Error(`namespaces.${name}.hooks.${hook} is on, but no ${hook} hook is configured (hooks.${hook}.url or an in-process hook)`);
        }
      }
    }
    const personal = config.personalChannels;
    if (personal.enabled && config.namespaces[personal.namespace] === undefined) {
      throw new Error(`personalChannels.namespace: namespace ${str(personal.namespace)} is not configured in namespaces`);
    }
    this.serverSubs = new ServerSubscriptions(
      {
        serverSubscribe: (session, channel, since) => this.serverSubscribe(session, channel, since),
        serverUnsubscribe: (session, channel) => this.serverUnsubscribe(session, channel),
        localSessions: () => this.sessions,
      },
      personal,
      log,
    );
    this.auth = new AuthGuard(config.auth, this.metrics, this.clock, this.hooks, (session) => this.dropRevoked(session));
    // In an origin, `*` stands for part of a host name: it never spans a `/`.
    this.origins = config.server.allowedOrigins.map((o) => globToRegExp(o, '[^/]*', 'i'));
    if (!this.auth.enabled) {
      log.warn('auth is off (no auth key nor connect hook configured): every connection may do all that namespaces allow clients');
    }
    this.delivery = new Delivery(engine, this.metrics, log, {
      maxPendingBytes: config.server.maxBackpressureBytes,
      replayLowWater: config.server.maxBackpressureBytes / 4,
      overflowed: (session, sub) => {
        this.leave(session, sub);
        // The client resubscribes from what it has by now, so each round makes progress.
        session.send(resubscribeFrame(sub.channel, 'live publications overtook the recovery; subscribe again with since'));
      },
      interest: (channel, active) => {
        for (const listener of this.interestListeners) listener(channel, active);
      },
    });
    this.channels = this.delivery.channels;
    this.presence = new PresenceUpkeep(engine, config.limits.presenceTtlMs, log);
    this.startedAt = this.clock.now();
  }

  attach(transport: Transport): void {
    this.transport = transport;
    this.delivery.transport = transport;
  }

  /** Routes /api/ requests to the HTTP API. */
  useApi(handler: HttpHandler): void {
    this.api = handler;
  }

  /** Another webhook sender told of the same channel and member facts (protocols/pusher's). */
  observeWebhooks(observer: WebhookObserver): void {
    this.webhooks.observe(observer);
  }

  /** Serves a second wire protocol on its endpoint, on the same sessions and delivery. */
  useProtocol(door: ProtocolDoor): void {
    this.protocol = door;
    this.delivery.protocol = door;
  }

  /** Calls `listener` when this node gains its first local subscriber of a channel (true) or loses its last (false). */
  onInterest(listener: (channel: string, active: boolean) => void): void {
    this.interestListeners.push(listener);
  }

  localSubscribers(channel: string): number {
    return this.channels.get(channel)?.members.size ?? 0;
  }

  /** A message to every node's hub (this one included), through the engine. */
  async publishControl(message: Record<string, unknown>): Promise<void> {
    await this.engine.publish(CONTROL_CHANNEL, str(message));
  }

  /** Joins the control channel; call after engine.start(). */
  async start(): Promise<void> {
    await this.engine.subscribe(CONTROL_CHANNEL);
  }

  // ---- the server API (backends, over HTTP) ----

  /** The configured namespace of a channel; `invalid_channel` / `unknown_namespace` otherwise. */
  namespaceOf(channel: string): NamespaceConfig {
    return this.namespace(channel);
  }

  /** A backend's publication: no client rules (clientPublish, rate limits) apply. */
  async serverPublish(channel: string, data: JsonValue, idempotencyKey?: string): Promise<PublishResult> {
    const ns = this.namespace(channel);
    const options = { ...streamOptions(ns), ...definedOf({ idempotencyKey: scopedKey('api', idempotencyKey) }) };
    const end = this.metrics.publishLatency.startTimer({ source: 'api' });
    const json = str(data);
    const result = await this.engine.publish(channel, json, options);
    end();
    if (!result.duplicate) this.publicationEvent(channel, result, json, undefined);
    return result;
  }

  /**
   * Closes every session of `user`: here at once, on other nodes through the control channel.
   * Resolves with how many sessions this node closed.
   */
  async disconnectUser(user: string, reconnect: boolean, reason: string): Promise<number> {
    const closed = this.closeUser(user, reconnect, reason);
    // With a little history, so a node whose link to the others dropped recovers the message.
    await this.engine.publish(CONTROL_CHANNEL, str({ op: 'disconnect', user, reconnect, reason }), {
      history: { size: 100, ttlMs: 60_000 },
    });
    return closed;
  }

  /**
   * A backend subscribes (or unsubscribes) every connection of `user`, or one `client`, on the
   * server side: on every node, through the control channel.
   */
  async requestServerSubscription(op: 'subscribe' | 'unsubscribe', channel: string, target: { user: string } | { client: string }): Promise<void> {
    this.namespace(channel);
    await this.engine.publish(CONTROL_CHANNEL, str({ op, channel, ...target }), { history: { size: 100, ttlMs: 60_000 } });
  }

  /** The personal channel of `user`; `not_available` when personal channels are off. */
  personalChannel(user: string): string {
    const channel = this.serverSubs.personalChannel(user);
    if (channel === undefined) {
      throw new HubError('not_available', 'personal channels are off on this hub (personalChannels.enabled); name a channel');
    }
    return channel;
  }

  /** This node's channels with their local subscriber counts, by name. */
  channelList(): { channel: string; subscribers: number }[] {
    const list = [...this.channels.values()].map((ch) => ({ channel: ch.name, subscribers: ch.members.size }));
    return list.sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
  }

  stats(): HubStats {
    return {
      connections: this.sessions.size,
      channels: this.channels.size,
      subscriptions: this.delivery.subscriptions,
      uptimeMs: this.clock.now() - this.startedAt,
    };
  }

  /** Closes one connection by its client id (as presence and publications show it); false if not here. */
  disconnectClient(client: string, code: number, reason: string): boolean {
    for (const session of this.sessions) {
      if (session.info.client !== client) continue;
      session.close(code, reason);
      return true;
    }
    return false;
  }

  engineStats(): Promise<Record<string, number>> {
    return this.engine.stats();
  }

  private closeUser(user: string, reconnect: boolean, reason: string): number {
    let n = 0;
    for (const session of [...this.sessions]) {
      if (session.info.user !== user || !session.isOpen) continue;
      session.close(reconnect ? CloseCodes.disconnected : CloseCodes.kicked, reason);
      n++;
    }
    return n;
  }

  private onControl(data: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as Record<string, unknown>;
    if (m.op === 'disconnect' && typeof m.user === 'string') {
      this.closeUser(m.user, m.reconnect === true, typeof m.reason === 'string' ? m.reason : 'disconnected');
      return;
    }
    const op = serverSubscriptionOp(m);
    if (op !== undefined) this.serverSubs.apply(op);
    else this.operators.control(msg);
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /**
   * Shutdown: refuse new connections, tell every client why and to reconnect (possibly to another
   * node) with the shutdown code, then close the transport. Publications already acknowledged were
   * handed to the transport before their ack, so they go out ahead of the close frame.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.presence.stop();
    for (const channel of this.channels.values()) clearTimeout(channel.boardTimer);
    const reason = 'server shutting down; reconnect';
    for (const session of [...this.sessions]) session.close(CloseCodes.shutdown, reason);
    await this.transport?.close(CloseCodes.shutdown, reason);
    await this.presence.drained();
    this.hooks.close();
    await this.webhooks.close();
  }

  // ---- transport hooks ----

  onUpgrade(req: UpgradeRequest): { status: number; message: string } | undefined {
    if (this.closing) return { status: 503, message: 'this node is shutting down; connect to another' };
    const { maxConnections, maxConnectionsPerIp } = this.config.server;
    if (this.sessions.size >= maxConnections) {
      return { status: 503, message: 'this node is at its connection limit; try another node or later' };
    }
    if ((this.perIp.get(req.remoteAddress) ?? 0) >= maxConnectionsPerIp) {
      return { status: 429, message: 'too many connections from this address' };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && this.origins.length > 0 && !this.origins.some((o) => o.test(origin))) {
      return { status: 403, message: 'this origin may not connect' };
    }
    return undefined;
  }

  onOpen(conn: Connection, req: UpgradeRequest): Session {
    const door = this.protocol?.claims(req.url) === true ? this.protocol : undefined;
    const session =
      door?.open(conn, req, this, this.clock) ?? new Session(conn, newClientId(), this, this.config.limits, this.clock);
    session.headers = this.hooks.keptHeaders(req.headers);
    this.sessions.add(session);
    this.metrics.connectionsOpened.inc();
    this.log.info({ client: session.info.client, ip: req.remoteAddress }, 'connection open');
    this.perIp.set(req.remoteAddress, (this.perIp.get(req.remoteAddress) ?? 0) + 1);
    return session;
  }

  onHttp(req: HttpRequest): Promise<HttpResponse> {
    return serveHttp(req, {
      engine: this.engine,
      metrics: this.config.metrics.enabled ? this.metrics : undefined,
      api: this.api,
      pages: { demo: this.config.demo.enabled, console: this.config.console.enabled, wsPath: this.config.server.path },
      onEngineError: () => this.metrics.engineErrors.inc({ op: 'ping' }),
    });
  }

  /** A connection is connected (its connect command, or a protocol that has none, e.g. Pusher's). */
  opened(session: Session): void {
    const { client, user } = session.info;
    this.webhooks.emit({ event: 'connection_opened', client, user, remoteAddress: session.conn.remoteAddress });
  }

  closed(session: Session, code: number, reason: string): void {
    this.sessions.delete(session);
    if (session.connected) {
      const { client, user } = session.info;
      this.webhooks.emit({ event: 'connection_closed', client, user, code, reason });
    }
    this.metrics.disconnects.inc({ code: String(code) });
    this.log.info(
      { client: session.info.client, user: session.info.user, code, reason, ms: this.clock.now() - session.openedAt },
      'connection closed',
    );
    const ip = session.conn.remoteAddress;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
    for (const sub of [...session.subscriptions.values()]) this.leave(session, sub);
  }

  // ---- engine events ----

  onPublication(channel: string, publication: Publication, epoch: string): void {
    if (channel === CONTROL_CHANNEL) return this.onControl(publication.data);
    this.delivery.publication(channel, publication, epoch);
  }

  onJoin(channel: string, member: ClientInfo): void {
    const ch = this.channels.get(channel);
    if (ch !== undefined) this.delivery.fanOut(ch, joinLeaveTopic(channel), joinFrame(channel, member));
  }

  onLeave(channel: string, member: ClientInfo): void {
    const ch = this.channels.get(channel);
    if (ch !== undefined) this.delivery.fanOut(ch, joinLeaveTopic(channel), leaveFrame(channel, member));
  }

  /**
   * The engine cannot feed this channel in order any more: drop every local subscription and tell
   * each client to subscribe again with `since`, so each one recovers from its own last offset (or
   * learns it cannot) instead of living with a silent gap.
   */
  onUnrecoverable(channel: string): void {
    if (channel === CONTROL_CHANNEL) {
      this.log.error('control messages from other nodes were lost (e.g. a disconnect of a user); they are not applied here');
      return;
    }
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

  /**
   * After a refresh: subscriptions the new token no longer allows are dropped. The client is told
   * to resubscribe, and its subscribe then gets `forbidden`, which ends the subscription for good.
   */
  private dropRevoked(session: Session): void {
    for (const sub of [...session.subscriptions.values()]) {
      // Where the subscribe hook decides, capabilities never did.
      if (sub.server === true || sub.namespace.hooks.subscribe || this.auth.allows(session, sub.channel, sub.namespace, 'subscribe')) continue;
      this.leave(session, sub);
      session.send(resubscribeFrame(sub.channel, 'the refreshed token no longer allows this subscription'));
    }
  }

  /** Coalesces board changes: at most one push of the top-N per board per interval. */
  onLeaderboardUpdate(board: string, _update: LeaderboardUpdate): void {
    coalesceBoardUpdate(board, this.channels, this.engine, this.delivery, this.log);
  }

  // ---- commands ----

  failed(session: Session, err: unknown): void {
    this.metrics.connectionErrors.inc();
    this.log.error(
      { err, code: 'connection_handler_failed', client: session.info.client, user: session.info.user },
      'handling a connection failed; closing it with 1011',
    );
  }

  received(bytes: number, commands: number): void {
    this.metrics.bytesIn.inc(bytes);
    this.metrics.messagesIn.inc(commands);
  }

  async handle(session: Session, command: Command): Promise<Reply> {
    const reply = await this.answer(session, command);
    this.metrics.messagesOut.inc();
    this.metrics.bytesOut.inc(reply.frame.length);
    return reply;
  }

  private async answer(session: Session, command: Command): Promise<Reply> {
    try {
      return await this.run(session, command);
    } catch (err) {
      const error = this.toHubError(err, command);
      this.metrics.errors.inc({ code: error.code });
      const frame = errorFrame(command.id, error);
      // A token refused at connect or refresh ends the connection, after the client has read why.
      const tokenCommand = command.method === 'connect' || command.method === 'refresh';
      if (tokenCommand && (error.code === 'unauthorized' || error.code === 'token_expired')) {
        const code = error.code === 'unauthorized' ? CloseCodes.unauthorized : CloseCodes.token_expired;
        return { frame, after: () => session.close(code, error.message) };
      }
      return error.code === 'rate_limited' ? { frame, rateLimited: true } : { frame };
    }
  }

  private async run(session: Session, cmd: Command): Promise<Reply> {
    if (cmd.method === 'connect') {
      if (session.connected) throw new HubError('already_connected', 'this connection is already connected');
      if (!this.operators.admit(session, cmd.token)) await this.auth.authenticate(session, cmd.token, cmd.name);
      session.connected = true;
      this.opened(session);
      const result = {
        client: session.info.client,
        user: session.info.user,
        version: VERSION,
        pingIntervalMs: this.config.server.pingIntervalMs,
        maxPayloadBytes: this.config.server.maxPayloadBytes,
        ...(session.expiresAt === undefined ? {} : { expiresAt: session.expiresAt }),
      };
      const subs = await this.serverSubs.atConnect(session, cmd.subs);
      return { frame: replyFrame(cmd.id, `${str(result).slice(0, -1)}${subs.json}}`), after: subs.after };
    }
    if (!session.connected) {
      throw new HubError('not_connected', 'send a connect command first');
    }
    switch (cmd.method) {
      case 'ping':
        return { frame: replyFrame(cmd.id, '{}') };
      case 'refresh': {
        const result = await this.auth.refresh(session, cmd.token);
        this.dropRevoked(session);
        return { frame: replyFrame(cmd.id, result) };
      }
      case 'subscribe':
        return this.subscribe(session, cmd);
      case 'unsubscribe': {
        const sub = session.subscriptions.get(cmd.channel);
        if (sub === undefined) throw new HubError('not_subscribed', `not subscribed to ${cmd.channel}`);
        if (sub.server === true) throw new HubError('forbidden', `${cmd.channel} is a server-side subscription; only the server ends it`);
        this.leave(session, sub);
        return { frame: replyFrame(cmd.id, '{}') };
      }
      case 'publish':
        return { frame: replyFrame(cmd.id, await this.publish(session, cmd)) };
      case 'rpc': {
        const { client, user } = session.info;
        const request = { client, user, method: cmd.method_name, data: (cmd.data ?? null) as JsonValue };
        const result = await this.hooks.call('rpc', request, session.headers);
        return { frame: replyFrame(cmd.id, `{"data":${str(result.data ?? null)}}`) };
      }
      case 'history': {
        const ns = this.namespace(cmd.channel);
        if (ns.history.size === 0) throw notAvailable('history', cmd.channel);
        this.mayRead(session, cmd.channel, ns, 'history');
        const options = { ...streamOptions(ns), ...definedOf({ since: cmd.since, limit: cmd.limit, reverse: cmd.reverse }) };
        const { publications, top } = await this.engine.history(cmd.channel, options);
        const json = `{"publications":${publicationsJson(publications)},"offset":${top.offset},"epoch":${str(top.epoch)}}`;
        return { frame: replyFrame(cmd.id, json) };
      }
      case 'presence': {
        const ns = this.namespace(cmd.channel);
        if (!ns.presence) throw notAvailable('presence', cmd.channel);
        this.mayRead(session, cmd.channel, ns, 'presence');
        const members = await this.engine.presence(cmd.channel);
        return { frame: replyFrame(cmd.id, str({ members })) };
      }
      case 'presence_stats': {
        const ns = this.namespace(cmd.channel);
        if (!ns.presence) throw notAvailable('presence', cmd.channel);
        this.mayRead(session, cmd.channel, ns, 'presence');
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
    // A batch may still be running when its connection closed: nothing may register a dead session.
    if (!session.isOpen) throw new HubError('not_connected', 'the connection has closed');
    // The operator console's internal channels: admitted by the console ticket, never by caps or hooks.
    const internal = this.operators.channel(session, channelName);
    const ns = internal ?? this.namespace(channelName);
    const hooked = internal === undefined && ns.hooks.subscribe;
    if (internal === undefined && !hooked) this.auth.authorize(session, channelName, ns, 'subscribe');
    this.maySubscribe(session, channelName);
    let member: ClientInfo | undefined;
    if (hooked) {
      const { client, user, info } = session.info;
      const request = { client, user, channel: channelName, ...(info === undefined ? {} : { info }) };
      const answer = await this.hooks.call('subscribe', request, session.headers);
      // The world moved while the backend thought: check again.
      if (!session.isOpen) throw new HubError('not_connected', 'the connection has closed');
      this.maySubscribe(session, channelName);
      if (answer.info !== undefined) member = { client, user, info: answer.info as JsonValue };
    }
    const { result, after } = await this.join(session, ns, cmd, member, false);
    return { frame: replyFrame(cmd.id, result), after };
  }

  /**
   * A subscription the server makes (at connect, or on a backend's request): no capability or
   * hook is asked, and the client cannot unsubscribe from it. Returns the subscribe result as JSON
   * text and what must run once it is written.
   */
  async serverSubscribe(session: Session, channel: string, since?: StreamPosition): Promise<{ result: string; after: () => void }> {
    if (!session.isOpen) throw new HubError('not_connected', 'the connection has closed');
    const ns = this.namespace(channel);
    this.maySubscribe(session, channel);
    const cmd = { id: 0, method: 'subscribe' as const, channel, ...(since === undefined ? {} : { since }) };
    return this.join(session, ns, cmd, undefined, true);
  }

  /** Ends a server-made subscription (a backend's request); false if there was none. */
  serverUnsubscribe(session: Session, channel: string): boolean {
    const sub = session.subscriptions.get(channel);
    if (sub?.server !== true) return false;
    this.leave(session, sub);
    return true;
  }

  /** Registers the subscriber, reads its initial state, and hands back the reply's result. */
  private async join(
    session: Session,
    ns: NamespaceConfig,
    cmd: CommandOf<'subscribe'>,
    member: ClientInfo | undefined,
    server: boolean,
  ): Promise<{ result: string; after: () => void }> {
    const channelName = cmd.channel;
    const existing = this.channels.get(channelName);
    if (existing !== undefined && ns.maxSubscribers > 0 && existing.members.size >= ns.maxSubscribers) {
      throw new HubError('limit_exceeded', `${channelName} has its maximum of ${ns.maxSubscribers} subscribers`);
    }
    const sub: Subscription = {
      // The channel's own name string where it exists: one copy for all its subscribers.
      channel: existing?.name ?? channelName,
      namespace: ns,
      pending: [],
      pendingBytes: 0,
      floor: undefined,
      present: false,
      joinLeave: cmd.joinLeave ?? true,
      ...(member === undefined ? {} : { member }),
      ...(server ? { server } : {}),
    };
    session.subscriptions.set(channelName, sub);
    const isNew = !this.channels.has(channelName);
    const ch = this.delivery.add(session, channelName, ns);
    if (isNew) this.webhooks.channelHere(channelName, true);
    const stillSubscribed = () => {
      if (session.subscriptions.get(channelName) !== sub) {
        throw new HubError('not_subscribed', `unsubscribed from ${channelName} while subscribing`);
      }
    };
    try {
      await ch.interest;
      const { result, top, replay } = await initialState(this.engine, this.config.recovery, channelName, ns, cmd);
      stillSubscribed();
      // Join/leave pushes may come ahead of the reply: they carry no offset, so nothing is lost
      // or repeated, and the subscriber hears its own join.
      if (ns.joinLeave && sub.joinLeave) session.conn.subscribe(joinLeaveTopic(channelName));
      // Present before the reply, so a presence read right after `subscribed` includes itself.
      if (ns.presence) {
        await this.engine.addPresence(channelName, member ?? session.info, {
          ttlMs: this.config.limits.presenceTtlMs,
          joinLeave: ns.joinLeave,
        });
        this.presence.added(session, sub);
        this.webhooks.member('member_added', channelName, member ?? session.info);
        stillSubscribed();
      }
      const after =
        replay === undefined
          ? () => this.delivery.goLive(session, ch, sub, top)
          : () => void this.delivery.replay(session, ch, sub, replay, top).catch((err: unknown) => this.failed(session, err));
      return { result, after };
    } catch (err) {
      if (sub.present && session.subscriptions.get(channelName) !== sub) {
        this.webhooks.member('member_removed', channelName, member ?? session.info);
        this.presence.remove(session, sub);
      }
      if (session.subscriptions.get(channelName) === sub) this.leave(session, sub);
      throw err;
    }
  }

  private maySubscribe(session: Session, channel: string): void {
    if (session.subscriptions.has(channel)) {
      throw new HubError('already_subscribed', `already subscribed to ${channel}`);
    }
    if (session.subscriptions.size >= this.config.limits.maxChannels) {
      throw new HubError('limit_exceeded', `a connection may subscribe to at most ${this.config.limits.maxChannels} channels`);
    }
  }

  /** Where the subscribe hook admits subscribers, being subscribed is what lets a client read. */
  private mayRead(session: Session, channel: string, ns: NamespaceConfig, cap: 'history' | 'presence'): void {
    if (ns.hooks.subscribe && session.subscriptions.has(channel)) return;
    this.auth.authorize(session, channel, ns, cap);
  }

  private leave(session: Session, sub: Subscription): void {
    const name = sub.channel;
    session.subscriptions.delete(name);
    if (session.isOpen) {
      session.conn.unsubscribe(name);
      session.conn.unsubscribe(joinLeaveTopic(name));
    }
    // Member removed before the channel is vacated, as they happen.
    if (sub.present) this.webhooks.member('member_removed', name, sub.member ?? session.info);
    const wasHere = this.channels.has(name);
    this.delivery.remove(session, name);
    if (sub.present) this.presence.remove(session, sub);
    if (wasHere && !this.channels.has(name)) this.webhooks.channelHere(name, false);
  }

  private async publish(session: Session, cmd: CommandOf<'publish'>): Promise<string> {
    const ns = this.namespace(cmd.channel);
    if (!ns.clientPublish) {
      throw new HubError('forbidden', `clients may not publish to ${cmd.channel}; publish through the server API`);
    }
    if (!ns.hooks.publish) this.auth.authorize(session, cmd.channel, ns, 'publish');
    const { namespace } = parseChannel(cmd.channel);
    if (!session.publishAllowed(namespace, ns.publishRate)) {
      this.metrics.rateLimited.inc({ scope: 'publish' });
      throw new HubError('rate_limited', `publish limit reached in ${namespace}`, {
        retryAfterMs: session.publishRetryAfterMs(namespace),
      });
    }
    const who = session.info.user === '' ? `c:${session.info.client}` : `u:${session.info.user}`;
    if (ns.userPublishRate !== undefined) {
      const limit = await this.engine.rateLimit(`publish:${namespace}:${who}`, ns.userPublishRate);
      if (!limit.allowed) {
        this.metrics.rateLimited.inc({ scope: 'user_publish' });
        throw new HubError('rate_limited', `publish limit for this user reached in ${namespace}`, {
          retryAfterMs: limit.retryAfterMs,
        });
      }
    }
    let data = str(cmd.data);
    if (ns.hooks.publish) data = await this.askPublish(session, cmd);
    const idempotencyKey = scopedKey(who, cmd.idempotencyKey);
    const from = ns.publisherInfo ? session.info : undefined;
    const options = { ...streamOptions(ns), ...definedOf({ from, idempotencyKey }) };
    const end = this.metrics.publishLatency.startTimer({ source: 'client' });
    const r = await this.engine.publish(cmd.channel, data, options);
    end();
    if (!r.duplicate) this.publicationEvent(cmd.channel, r, data, session.info);
    return `{"offset":${r.offset},"epoch":${str(r.epoch)}}`;
  }

  private publicationEvent(channel: string, at: PublishResult, data: string, from: ClientInfo | undefined): void {
    if (!this.webhooks.wants('publication')) return;
    const { offset, epoch } = at;
    this.webhooks.emit({ event: 'publication', channel, offset, epoch, data, ...(from === undefined ? {} : { from }) });
  }

  /**
   * The publish hook sees the publication before anything is stored: a refusal throws (so nothing
   * is stored or delivered), and an answer with `data` replaces it. Returns the JSON to publish.
   */
  private async askPublish(session: Session, cmd: CommandOf<'publish'>): Promise<string> {
    const { client, user } = session.info;
    const request = { client, user, channel: cmd.channel, data: cmd.data as JsonValue };
    const answer = await this.hooks.call('publish', request, session.headers);
    if (answer.data === undefined) return str(cmd.data);
    const problem = jsonDataProblem(answer.data, this.config.limits.maxDepth);
    if (problem !== undefined) {
      this.log.warn({ hook: 'publish', channel: cmd.channel, problem }, 'the publish hook replaced data with data that cannot be published');
      throw new HubError('backend_unavailable', "the application's backend answered data that cannot be published; retry later");
    }
    return str(answer.data);
  }

  private leaderboard(session: Session, cmd: CommandOf<'top' | 'rank' | 'around' | 'incr'>): Promise<string> {
    const ns = this.namespace(cmd.channel);
    return leaderboardCommand(this.engine, session, cmd, ns, () => this.auth.authorize(session, cmd.channel, ns, 'incr'));
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


/**
 * Idempotency keys are the publisher's own: a client's key can never answer (and so swallow) a
 * backend's publish with the same key, nor another user's.
 */
function scopedKey(who: string, key: string | undefined): string | undefined {
  return key === undefined ? undefined : `${who}|${key}`;
}

/** Copies the fields that are not undefined (exactOptionalPropertyTypes forbids explicit undefined). */
/**
 * A connection's id: 128 random bits as 22 base64url characters (a UUID's 36 spend 14 more bytes
 * in every publication's `from`, and in memory per connection, for 6 fewer random bits).
 */
function newClientId(): string {
  return randomBytes(16).toString('base64url');
}

function definedOf<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}

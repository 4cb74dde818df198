// Starts one hubbub node: the engine the configuration names, the hub, and a transport listening
// on the configured port. Returns a handle whose close() shuts all of it down in order.

import { hostname } from 'node:os';
import type { Config } from './config/index.js';
import { HttpApi } from './api/index.js';
import { OperatorConsole } from './console/index.js';
import { DemoChannels, DemoFeed, withDemo } from './demo/index.js';
import { createEngine } from './engine/index.js';
import type { Engine } from './engine/types.js';
import type { Hooks } from './hooks/index.js';
import { Hub, streamOptions } from './hub.js';
import { createLogger, type Logger } from './observability/index.js';
import { CloseCodes } from './protocol/index.js';
import { PusherClose, PusherHttpApi, PusherProtocol, PusherWebhooks, withPusher } from './protocols/pusher/index.js';
import { createTransport } from './transport/index.js';
import type { Transport, TransportOptions } from './transport/types.js';
import { systemClock } from './util/clock.js';

/** Connections beyond the WebSocket limits that may be in their handshake (HTTP requests). */
const HANDSHAKE_HEADROOM = 32;

export interface RunningHub {
  readonly port: number;
  readonly hub: Hub;
  readonly engine: Engine;
  readonly transport: Transport;
  readonly api: HttpApi;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Export process metrics too (once per process: the CLI). */
  processMetrics?: boolean;
  /** An engine built by the caller instead of the one the configuration names. */
  engine?: Engine;
  /** In-process proxy hooks: functions of the same shape as the HTTP hooks (docs/hooks.md). */
  hooks?: Hooks;
}

/** How an application embedding hubbub starts it: `startHub(config, { hooks, logger })`. */
export interface EmbedOptions extends StartOptions {
  /** Where hubbub logs; default: a pino logger at `config.logLevel` on stdout. */
  logger?: Logger;
}

function isLogger(x: Logger | EmbedOptions): x is Logger {
  return typeof (x as Partial<Logger>).info === 'function' && typeof (x as Partial<Logger>).child === 'function';
}

/**
 * Starts a node. Two forms: `startHub(config, { hooks, logger })` for applications embedding it,
 * and `startHub(config, logger, options)` as the CLI and the tests call it.
 */
export async function startHub(config: Config, options?: EmbedOptions): Promise<RunningHub>;
export async function startHub(config: Config, log: Logger, options?: StartOptions): Promise<RunningHub>;
export async function startHub(configured: Config, second: Logger | EmbedOptions = {}, third: StartOptions = {}): Promise<RunningHub> {
  const config = withPusher(withDemo(configured));
  const [log, options] = isLogger(second) ? [second, third] : [second.logger ?? createLogger(config.logLevel), second];
  const engine = options.engine ?? createEngine(config.engine, undefined, log);
  const hub = new Hub(config, engine, log, {
    processMetrics: options.processMetrics ?? false,
    ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
  });
  await engine.start(hub);
  await hub.start();
  const api = new HttpApi(config, hub, engine, log);
  const pusherApi = config.pusher.apps.length > 0 ? pusherHttpApi(config, hub, engine, log) : undefined;
  hub.useApi((req) => (req.url.startsWith('/apps/') ? (pusherApi?.handle(req) ?? Promise.resolve(undefined)) : api.handle(req)));
  if (config.pusher.apps.length > 0) {
    const webhooks = new PusherWebhooks(config, engine, hub.metrics, log);
    if (webhooks.enabled) hub.observeWebhooks(webhooks);
    hub.useProtocol(new PusherProtocol(config, log, webhooks.enabled ? webhooks : undefined));
  }
  const feed = config.demo.enabled ? demoFeed(config, engine, log) : undefined;
  if (feed !== undefined) hub.onInterest((channel, active) => feed.interest(channel, active));
  // The node's name is known once it listens; the console only reads it when it publishes.
  const node = { name: hostname() };
  const operators = config.console.enabled
    ? new OperatorConsole(hub, engine, log, systemClock, { statsIntervalMs: config.console.statsIntervalMs, node })
    : undefined;
  if (operators !== undefined) hub.operators.use(operators);
  const { server } = config;
  let transport: Transport;
  let port: number;
  try {
    transport = createTransport(server.transport, transportOptions(config, hub), log);
    hub.attach(transport);
    port = await transport.listen();
  } catch (err) {
    feed?.stop();
    operators?.close();
    await hub.close();
    await engine.close();
    throw err;
  }
  node.name = `${hostname()}:${port}`;
  log.info({ port, transport: transport.name, engine: engine.kind, path: server.path }, 'hubbub listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    hub,
    engine,
    transport,
    api,
    close() {
      closing ??= (async () => {
        feed?.stop();
        operators?.close();
        await hub.close();
        await engine.close();
      })();
      return closing;
    },
  };
}

function transportOptions({ server, pusher }: Config, hub: Hub): TransportOptions {
  return {
    host: server.host,
    port: server.port,
    path: server.path,
    maxPayloadBytes: server.maxPayloadBytes,
    maxHttpBodyBytes: server.maxHttpBodyBytes,
    maxBackpressureBytes: server.maxBackpressureBytes,
    slowConsumerCode: CloseCodes.slow_consumer,
    pingIntervalMs: server.pingIntervalMs,
    noPongCode: CloseCodes.no_pong,
    handshakeTimeoutMs: server.handshakeTimeoutMs,
    // Handshakes count toward the limits too, with a little room above them so that /health,
    // /ready and the API still answer on a node full of WebSockets (the hub refuses the upgrades).
    maxConnections: server.maxConnections + HANDSHAKE_HEADROOM,
    maxConnectionsPerIp: server.maxConnectionsPerIp + HANDSHAKE_HEADROOM,
    trustProxy: server.trustProxy,
    secondEndpoint: pusher.apps.length === 0 ? undefined : {
      prefix: pusher.path,
      slowConsumerCode: PusherClose.overCapacity,
      noPongCode: PusherClose.pongNotReceived,
    },
    hooks: hub,
  };
}

function pusherHttpApi(config: Config, hub: Hub, engine: Engine, log: Logger): PusherHttpApi {
  const door = {
    serverPublish: hub.serverPublish.bind(hub),
    channelList: hub.channelList.bind(hub),
    disconnectUser: hub.disconnectUser.bind(hub),
    localSubscribers: hub.localSubscribers.bind(hub),
    presenceMembers: (channel: string) => engine.presence(channel),
  };
  return new PusherHttpApi(config, door, log);
}

function demoFeed(config: Config, engine: Engine, log: Logger): DemoFeed {
  const ns = config.namespaces[DemoChannels.feed.split(':')[0] as string];
  const options = ns === undefined ? {} : streamOptions(ns);
  return new DemoFeed(engine, DemoChannels.feed, config.demo.feedIntervalMs, options, log, systemClock);
}

// The seam between sockets and the hub: a transport turns WebSocket connections into
// `Connection`s and hands their events to the hub. Two implementations: `ws` on node:http
// (portable) and uWebSockets.js (fast). Nothing outside src/transport/ imports ws or uWS.

export interface UpgradeRequest {
  /** The client's address: the TCP peer, or the hop X-Forwarded-For names when the peer is a trusted proxy. */
  remoteAddress: string;
  /** Path and query, e.g. `/ws?token=...`. */
  url: string;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string>>;
}

/** One accepted WebSocket. Text frames only: the protocol is JSON. */
export interface Connection {
  readonly remoteAddress: string;
  /**
   * Queues one text frame. `frame` may be a string or its UTF-8 bytes (pre-encoded once for a
   * fan-out). Returns false once the socket has backpressure (the frame is still queued).
   */
  send(frame: string | Buffer): boolean;
  /** Bytes queued in user space and not yet written to the socket. */
  bufferedAmount(): number;
  /** Joins a topic: `Transport.publish(topic, ...)` reaches this connection from now on. */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Sends a close frame with this code and reason, then closes. Idempotent. */
  close(code: number, reason: string): void;
  /** Drops the socket at once, without a close handshake. Idempotent. */
  terminate(): void;
}

export interface ConnectionListener {
  onText(frame: string): void;
  /** A binary frame arrived; the protocol has no binary frames. */
  onBinary(): void;
  /** Backpressure is gone: queued bytes were written. */
  onDrain(): void;
  /** Called exactly once, however the connection ended. */
  onClose(code: number, reason: string): void;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers: Readonly<Record<string, string>>;
  body: Buffer;
  /** As UpgradeRequest.remoteAddress. */
  remoteAddress: string;
}

export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
}

export interface TransportHooks {
  /** Refuses an upgrade with an HTTP status (e.g. 403, 503), or accepts it (undefined). */
  onUpgrade(req: UpgradeRequest): { status: number; message: string } | undefined;
  onOpen(conn: Connection, req: UpgradeRequest): ConnectionListener;
  /** Every plain HTTP request (health, API, the client bundle). */
  onHttp(req: HttpRequest): Promise<HttpResponse>;
}

export interface TransportOptions {
  host: string;
  /** 0 picks a free port; `listen` returns the one bound. */
  port: number;
  /** The WebSocket endpoint path. */
  path: string;
  /** Largest inbound frame; bigger ones close the socket with 1009. */
  maxPayloadBytes: number;
  /** Largest HTTP request body; bigger ones get 413. */
  maxHttpBodyBytes: number;
  /** A connection holding more unsent bytes than this is closed with the slow-consumer code. */
  maxBackpressureBytes: number;
  /** Close code used for slow consumers. */
  slowConsumerCode: number;
  /** Server pings this often; a connection silent for two intervals is closed (half-open sockets). */
  pingIntervalMs: number;
  /** Close code used when a connection stopped answering pings. */
  noPongCode: number;
  /**
   * A TCP connection that has not completed its HTTP request or WebSocket upgrade within this is
   * destroyed (default 10 s). uWS only shows a connection once its request headers are in: before
   * that its own fixed HTTP idle timeout applies (10 s, on 4 s ticks: 8-12 s).
   */
  handshakeTimeoutMs?: number;
  /**
   * Open WebSockets plus connections still in their handshake; past it a new connection is refused
   * (503). The hub's own check at upgrade sees open ones only. Default: no limit here.
   */
  maxConnections?: number;
  /** As maxConnections, per client address (429). Default: no limit here. */
  maxConnectionsPerIp?: number;
  /** Proxies whose X-Forwarded-For names the client: exact IPs, CIDRs, or `loopback`. Default none. */
  trustProxy?: readonly string[];
  /**
   * A second WebSocket endpoint: every path starting with `prefix` (the Pusher protocol's
   * `/app/:key`), whose protocol reads close codes differently. Default: none.
   */
  secondEndpoint?: SecondEndpoint | undefined;
  hooks: TransportHooks;
}

export interface SecondEndpoint {
  /** Paths starting with this (e.g. `/app/`). */
  prefix: string;
  slowConsumerCode: number;
  noPongCode: number;
}

/** The close codes a connection gets for what the transport itself decides. */
export interface EndpointCodes {
  slowConsumer: number;
  noPong: number;
}

export interface Transport {
  readonly name: 'ws' | 'uws';
  listen(): Promise<number>;
  /** Sends one frame to every connection subscribed to `topic`, encoded once. */
  publish(topic: string, frame: string | Buffer): void;
  /** Number of open connections. */
  readonly connections: number;
  /** TCP connections admitted and still in their handshake (counted toward the connection limits). */
  readonly handshakes: number;
  /** Stops accepting, closes every connection with `code`, and releases the port. */
  close(code: number, reason: string): Promise<void>;
}

// The portable transport: `ws` on node:http. Upgrades are handled by hand so the hub can refuse
// them with a status; topics are a Map of subscriber sets; one ping sweep per transport detects
// half-open sockets; slow consumers are closed before their queues can grow without bound. Every
// TCP connection is admitted against the connection limits and timed until its handshake completes.

import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import { ConnectionLedger, isRefusal, type Slot } from './admission.js';
import { settleSend } from './backpressure.js';
import { canonicalAddress, ClientAddresses } from './client-address.js';
import { endpointCodes, payloadTooLarge, type ResolvedOptions, resolveOptions } from './options.js';
import { consultUpgrade } from './upgrade.js';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../observability/logger.js';
import type { Connection, ConnectionListener, EndpointCodes, Transport, TransportOptions, UpgradeRequest } from './types.js';

/** Hoisted so publish and send allocate no options object of their own per frame. */
const TEXT = { binary: false } as const;
/** Grace for a close handshake before the socket is dropped; a closing socket still holds its queue. */
const CLOSE_GRACE_MS = 1000;
/** What the peer is told for a receiver error, keyed by ws's error code (ws itself sends these). */
const RECEIVER_CLOSE: Readonly<Record<string, number>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_INVALID_UTF8: 1007,
};

/** A TCP connection admitted but not yet through its first request or upgrade. */
interface Handshake {
  slot: Slot;
  timer: NodeJS.Timeout;
}

export class WsTransport implements Transport {
  readonly name = 'ws' as const;
  /** Connections by topic; a publish walks one set. */
  readonly topics = new Map<string, Set<WsConnection>>();
  readonly options: ResolvedOptions;
  private readonly conns = new Set<WsConnection>();
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly addresses: ClientAddresses;
  private readonly ledger: ConnectionLedger;
  private readonly pending = new Map<Socket, Handshake>();
  private pingTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private onEmpty: () => void = ignore;

  constructor(
    options: TransportOptions,
    private readonly log: Logger,
  ) {
    this.options = resolveOptions(options);
    this.addresses = new ClientAddresses(this.options.trustProxy);
    this.ledger = new ConnectionLedger(this.options);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPayloadBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    // Later requests on a kept-alive connection are not admitted again; node's own timers bound them.
    const timeout = this.options.handshakeTimeoutMs;
    this.server = createServer({ headersTimeout: timeout, requestTimeout: timeout }, (req, res) => this.onRequest(req, res));
    this.server.on('connection', (socket: Socket) => this.onSocket(socket));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
  }

  get connections(): number {
    return this.conns.size;
  }

  get handshakes(): number {
    return this.ledger.handshakes;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        this.pingTimer = setInterval(() => this.sweepPings(), this.options.pingIntervalMs);
        this.pingTimer.unref();
        resolve(typeof address === 'object' && address !== null ? address.port : this.options.port);
      });
    });
  }

  publish(topic: string, frame: string | Buffer): void {
    const subscribers = this.topics.get(topic);
    if (subscribers === undefined) return;
    // Frame once: every subscriber gets the same header + payload buffer in one socket write, as
    // engine.io does with pre-encoded frames (ws.send would build a header per subscriber).
    const payload = typeof frame === 'string' ? Buffer.from(frame) : frame;
    const framed = textFrame(payload);
    const limit = this.options.maxBackpressureBytes;
    for (const conn of subscribers) {
      const ws = conn.ws;
      // Closing (e.g. the peer's close frame came in): ws would count the frame as buffered and we
      // would mistake a closing socket for a slow consumer.
      if (ws.readyState !== WebSocket.OPEN) continue;
      // A connection waiting for drain needs a write callback to learn when its queue empties.
      const socket = idleSocket(ws);
      if (socket === undefined) {
        if (conn.waitingDrain) ws.send(payload, TEXT, conn.afterWrite);
        else ws.send(payload, TEXT);
      } else if (conn.waitingDrain) socket.write(framed, conn.afterWrite);
      else socket.write(framed);
      if (ws.bufferedAmount > limit) conn.close(conn.codes.slowConsumer, 'slow consumer');
    }
  }


  close(code: number, reason: string): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      clearInterval(this.pingTimer);
      const serverClosed = new Promise<void>((done) => this.server.close(() => done()));
      this.server.closeIdleConnections();
      const allClosed = new Promise<void>((done) => (this.onEmpty = done));
      for (const socket of this.pending.keys()) socket.destroy();
      for (const conn of this.conns) conn.close(code, reason);
      if (this.conns.size === 0) this.onEmpty();
      // Connections that did not finish their close handshake are terminated by their own timers;
      // this catches HTTP requests still in flight so the port is released.
      const stragglers = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS + 100);
      // Resolve once every listener has heard its onClose, not just when the port is free.
      void Promise.all([serverClosed, allClosed]).then(() => {
        clearTimeout(stragglers);
        resolve();
      });
    });
    return this.closing;
  }

  /** Called by a connection as it closes or starts closing: it leaves every topic. */
  detach(conn: WsConnection): void {
    for (const topic of conn.topics) this.leave(conn, topic);
    conn.topics.clear();
  }

  leave(conn: WsConnection, topic: string): void {
    const subscribers = this.topics.get(topic);
    if (subscribers === undefined) return;
    subscribers.delete(conn);
    if (subscribers.size === 0) this.topics.delete(topic);
  }

  forget(conn: WsConnection): void {
    this.conns.delete(conn);
    if (this.conns.size === 0) this.onEmpty();
  }

  /**
   * Counts a new TCP connection against the limits before it has sent a byte, by its peer address
   * (a trusted proxy carries many clients: it counts in the total only), and gives it
   * handshakeTimeoutMs to finish its first request or upgrade.
   */
  private onSocket(socket: Socket): void {
    const peer = canonicalAddress(socket.remoteAddress ?? '');
    const admitted = this.ledger.admit(this.addresses.isTrusted(peer) ? undefined : peer);
    if (isRefusal(admitted)) {
      this.log.debug({ ip: peer, status: admitted.status }, 'connection refused at accept');
      socket.on('error', ignore);
      return refuseRaw(socket, admitted.status, admitted.message);
    }
    const timer = setTimeout(() => {
      this.log.debug({ ip: peer }, 'handshake timed out');
      socket.destroy();
    }, this.options.handshakeTimeoutMs);
    timer.unref();
    this.pending.set(socket, { slot: admitted, timer });
    socket.once('close', () => this.endHandshake(socket)?.release());
  }

  /** The handshake is over (request read, upgrade taken, socket gone): stops its clock; hands back its slot. */
  private endHandshake(socket: Socket): Slot | undefined {
    const handshake = this.pending.get(socket);
    if (handshake === undefined) return undefined;
    clearTimeout(handshake.timer);
    this.pending.delete(socket);
    return handshake.slot;
  }

  private sweepPings(): void {
    for (const conn of this.conns) {
      if (conn.awaitingPong) {
        // Silent since the previous sweep's ping: half-open or hung. Tell it why, then drop it.
        conn.close(conn.codes.noPong, 'no pong');
        conn.terminate();
      } else if (conn.ws.readyState === WebSocket.OPEN) {
        conn.awaitingPong = true;
        conn.ws.ping();
      }
    }
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // An error on a socket we refuse must not become an uncaught exception.
    socket.on('error', ignore);
    const url = req.url ?? '/';
    if (this.closing !== undefined) return refuseRaw(socket, 503, 'shutting down');
    const codes = endpointCodes(this.options, pathOf(url));
    if (codes === undefined) return refuseRaw(socket, 404, 'not found');
    const headers = flattenHeaders(req);
    const upgrade: UpgradeRequest = {
      remoteAddress: this.addresses.resolve(req.socket.remoteAddress ?? '', headers['x-forwarded-for']),
      url,
      headers,
    };
    // An upgrade after a kept-alive HTTP request: that request's slot is over, this one is admitted anew.
    const admitted = this.endHandshake(req.socket) ?? this.ledger.admit(upgrade.remoteAddress);
    if (isRefusal(admitted)) return refuseRaw(socket, admitted.status, admitted.message);
    // Held until the socket is gone, whether ws takes it, refuses it (bad key) or we do.
    socket.once('close', () => admitted.release());
    const refusal = consultUpgrade(this.options.hooks, upgrade, this.log);
    if (refusal !== undefined) return refuseRaw(socket, refusal.status, refusal.message);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', ignore);
      this.accept(ws, upgrade, admitted, codes);
    });
  }

  private accept(ws: WebSocket, upgrade: UpgradeRequest, slot: Slot, codes: EndpointCodes): void {
    slot.opened(upgrade.remoteAddress);
    const conn = new WsConnection(this, ws, slot.address ?? upgrade.remoteAddress, codes);
    this.conns.add(conn);
    let listener: ConnectionListener;
    try {
      listener = this.options.hooks.onOpen(conn, upgrade);
    } catch (err) {
      this.log.error({ err }, 'onOpen failed');
      conn.close(1011, 'internal error');
      return;
    }
    conn.attach(listener);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.closing !== undefined) return respond(res, 503, {}, 'shutting down');
    const max = this.options.maxHttpBodyBytes;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return tooLarge(req, res, max);
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        // Stop buffering at once; Node discards what is still in flight and closes the socket.
        req.off('data', onData);
        req.off('end', onEnd);
        chunks.length = 0;
        tooLarge(req, res, max);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      // The request is complete: the connection no longer counts as a handshake.
      this.endHandshake(req.socket)?.release();
      const body = chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks);
      const headers = flattenHeaders(req);
      this.options.hooks
        .onHttp({
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers,
          body,
          remoteAddress: this.addresses.resolve(req.socket.remoteAddress ?? '', headers['x-forwarded-for']),
        })
        .then(
          (out) => respond(res, out.status, out.headers ?? {}, out.body),
          (err: unknown) => {
            this.log.error({ err, url: req.url }, 'onHttp failed');
            respond(res, 500, {}, 'internal error');
          },
        );
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', ignore);
  }
}

class WsConnection implements Connection {
  readonly topics = new Set<string>();
  /** A ping went out and neither a pong nor a message came back yet. */
  awaitingPong = false;
  /** send() reported backpressure; onDrain is owed once the queue is empty. */
  waitingDrain = false;
  /** Bound once so sends under backpressure pass a callback without allocating one per frame. */
  readonly afterWrite = (): void => this.maybeDrain();
  private listener: ConnectionListener | undefined;
  /** Why we closed it; reported instead of whatever the peer echoes or 1006 after a terminate. */
  private ending: { code: number; reason: string } | undefined;
  private ended: { code: number; reason: string } | undefined;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly transport: WsTransport,
    readonly ws: WebSocket,
    readonly remoteAddress: string,
    readonly codes: EndpointCodes,
  ) {
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.awaitingPong = false;
      if (this.listener === undefined) return;
      if (isBinary) this.listener.onBinary();
      else this.listener.onText(toBuffer(data).toString('utf8'));
    });
    ws.on('pong', () => {
      this.awaitingPong = false;
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // Receiver errors (too big, bad UTF-8): ws has already sent the matching close frame.
      if (err.code?.startsWith('WS_ERR_') !== true) return;
      this.startClosing(RECEIVER_CLOSE[err.code] ?? 1002, err.message);
    });
    ws.on('close', (code: number, reason: Buffer) => this.onClosed(code, reason.toString('utf8')));
    // ws has no per-socket drain event; the net.Socket underneath has one.
    const raw = (ws as unknown as { _socket: Socket | null })._socket;
    raw?.on('drain', this.afterWrite);
  }

  /** ws reports closes asynchronously, so this always comes before the close it would miss. */
  attach(listener: ConnectionListener): void {
    this.listener = listener;
  }

  send(frame: string | Buffer): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(frame, TEXT, this.afterWrite);
    return settleSend(this, this.ws.bufferedAmount, this.transport.options);
  }

  bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  subscribe(topic: string): void {
    if (this.ending !== undefined || this.ws.readyState !== WebSocket.OPEN) return;
    let subscribers = this.transport.topics.get(topic);
    if (subscribers === undefined) {
      subscribers = new Set();
      this.transport.topics.set(topic, subscribers);
    }
    subscribers.add(this);
    this.topics.add(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.topics.delete(topic)) return;
    this.transport.leave(this, topic);
  }

  close(code: number, reason: string): void {
    if (!this.startClosing(code, reason)) return;
    try {
      this.ws.close(code, truncateReason(reason));
    } catch {
      // An invalid close code (e.g. 1006) cannot go on the wire: drop the socket instead.
      this.ws.terminate();
    }
  }

  terminate(): void {
    if (this.ended !== undefined) return;
    this.ending ??= { code: 1006, reason: 'terminated' };
    this.transport.detach(this);
    this.ws.terminate();
  }

  /** Records why, leaves all topics and bounds the close handshake; false if already closing. */
  private startClosing(code: number, reason: string): boolean {
    if (this.ending !== undefined || this.ended !== undefined) return false;
    this.ending = { code, reason };
    // Publishing to a closing socket would only grow a queue nobody reads.
    this.transport.detach(this);
    // ws would wait 30 s for the peer's close frame; a slow or dead peer must not hold memory that long.
    this.closeTimer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    this.closeTimer.unref();
    return true;
  }

  private maybeDrain(): void {
    if (this.waitingDrain && this.ws.bufferedAmount === 0 && this.ws.readyState === WebSocket.OPEN) {
      this.waitingDrain = false;
      this.listener?.onDrain();
    }
  }

  private onClosed(code: number, reason: string): void {
    clearTimeout(this.closeTimer);
    this.transport.detach(this);
    this.transport.forget(this);
    this.ended = this.ending ?? { code, reason };
    this.listener?.onClose(this.ended.code, this.ended.reason);
  }
}

function ignore(): void {}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** A close reason must fit the 123 bytes a close frame allows. */
function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  return Buffer.from(reason).subarray(0, 123).toString('utf8').replace(/\uFFFD+$/, '');
}

/** Answers an upgrade we will not take with a plain HTTP response on the raw socket. */
function refuseRaw(socket: Duplex, status: number, message: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(message)}\r\n\r\n${message}`,
  );
}

function respond(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, headers);
  res.end(body);
}

function tooLarge(req: IncomingMessage, res: ServerResponse, maxBytes: number): void {
  // Connection: close makes Node end the socket after the reply instead of reading the rest.
  const answer = payloadTooLarge(maxBytes);
  respond(res, answer.status, answer.headers, answer.body);
  req.on('error', ignore);
}

/** An unmasked, final text frame (server to client): header and payload in one buffer. */
export function textFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = 0x81;
  if (n < 126) out[1] = n;
  else if (n < 65536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  payload.copy(out, head);
  return out;
}

/** ws internals a pre-framed write relies on (engine.io relies on the same ones). */
interface WsInternals {
  _socket?: Socket | null;
  _sender?: { _state?: unknown; _bufferedBytes?: unknown } | null;
}

/**
 * The socket a pre-framed write may go to directly: only while ws's sender is idle (state 0: not
 * compressing or reading a Blob, so it has queued nothing a direct write could overtake). Any other
 * shape of ws internals: undefined, and the caller falls back to ws.send.
 */
function idleSocket(ws: WebSocket): Socket | undefined {
  const internals = ws as unknown as WsInternals;
  const sender = internals._sender;
  if (sender?._state !== 0 || sender._bufferedBytes !== 0) return undefined;
  return internals._socket ?? undefined;
}

// The fast transport: uWebSockets.js. Topics fan out natively (app.publish); this file adds what
// uWS lacks for the hub: refusals with a status, our close codes for slow consumers, idle peers
// and oversized frames, connection limits that count handshakes, and guards against touching a
// socket uWS has already closed (that throws).
//
// What uWS does natively and JS cannot change (both bundled builds, uWS 20.30 and 20.57, unless
// said): a protocol error (reserved bits, unknown opcode, bad fragmentation,
// control frame > 125 bytes, invalid UTF-8, a frame over maxPayloadLength) drops the TCP connection
// without a close frame, so the client sees 1006; an unmasked client frame is not detected (it is
// read as masked and the socket waits for bytes that never come, until idleTimeout); a close frame
// with an invalid code, a 1-byte payload or a non-UTF-8 reason is answered with an empty close
// frame (1005) instead of 1002/1007, and valid 1012-1014 and 3000-3999 are refused the same way; a
// Content-Length of ten digits or more (>= 1 GB) is closed by 20.30's HTTP parser before any
// handler runs, with no answer (20.57 parses it: 413 as on ws); a TCP connection is invisible to JS
// until its request headers are in, so it cannot be counted or timed before that: uWS's own HTTP
// idle timeout is its bound (20.30: 8-12 s; 20.57: 26-34 s). 20.57 answers request heads over
// UWS_HTTP_MAX_HEADERS_SIZE with 431 (index.ts raises its 4 KB default to node:http's 16 KB). The
// listener still hears our codes for what JS sees; test/unit/transport/conformance.test.ts lists
// each case.

import { STATUS_CODES } from 'node:http';
import { createServer } from 'node:net';
import type * as uws from '@btc-vision/uwebsockets.js';
import { ConnectionLedger, isRefusal, type Slot } from './admission.js';
import { settleSend } from './backpressure.js';
import { ClientAddresses } from './client-address.js';
import { endpointCodes, payloadTooLarge, type ResolvedOptions, resolveOptions } from './options.js';
import { consultUpgrade } from './upgrade.js';
import type { Logger } from '../observability/logger.js';
import type {
  Connection,
  ConnectionListener,
  EndpointCodes,
  HttpRequest,
  Transport,
  TransportOptions,
  UpgradeRequest,
} from './types.js';

export type UwsModule = typeof uws;
type UwsSocket = uws.WebSocket<UserData>;

/**
 * uWS copies these onto its socket object, so every property costs each connection: what open
 * needs from the upgrade travels in `opening`, dropped once open.
 */
interface UserData {
  opening: { upgrade: UpgradeRequest; slot: Slot; codes: EndpointCodes } | undefined;
  conn: UwsConnection | undefined;
}

/** An HTTP request whose body is still coming: it counts as a handshake until then. */
interface PendingRequest {
  readonly res: uws.HttpResponse;
  readonly slot: Slot;
  readonly ip: string;
  readonly deadline: number;
}

/** How often buffered amounts are checked; native publishes are only visible this way. */
const SWEEP_MS = 50;
/** Reasons uWS gives when it closes a socket itself (always with code 1006 and no close frame). */
const UWS_TIMEOUT = 'WebSocket timed out from inactivity';
/**
 * 20.57's reason for a socket that ended without a close frame (20.30 gives none). Its hard
 * backpressure stop shuts the socket's read side, so it ends this way too.
 */
const UWS_TCP_FIN = 'Received TCP FIN before WebSocket close frame';
const UWS_TOO_BIG = 'Received too big message';
const UWS_BAD_UTF8 = 'Received invalid UTF-8';
/** Largest WebSocket frame header a server writes; keeps the byte estimate an upper bound. */
const FRAME_HEADER_MAX = 10;
/** uWS.send result for a frame dropped over maxBackpressure (uWS then closes the socket). */
const SEND_DROPPED = 2;
/** uSockets' listen option: no SO_REUSEPORT, so a port another process holds is refused. */
const LISTEN_EXCLUSIVE_PORT: uws.ListenOptions = 1;

declare module '@btc-vision/uwebsockets.js' {
  interface TemplatedApp {
    /** The native listen also takes a host before port and options; the typings leave it out. */
    listen(host: RecognizedString, port: number, options: ListenOptions, cb: (listenSocket: us_listen_socket | false) => void): TemplatedApp;
  }
}

export class UwsTransport implements Transport {
  readonly name = 'uws' as const;
  /**
   * Bytes published per topic in this sweep window and the one before: explains closes uWS makes on
   * its own. Two windows, because a small frame waits in uWS's topic tree until its loop drains it,
   * which can be after the next sweep has sampled the socket's buffer.
   */
  private topicBytes = new Map<string, number>();
  private previousTopicBytes = new Map<string, number>();
  readonly hardLimit: number;
  readonly options: ResolvedOptions;
  private readonly conns = new Set<UwsConnection>();
  private readonly app: uws.TemplatedApp;
  private readonly addresses: ClientAddresses;
  private readonly ledger: ConnectionLedger;
  private readonly pendingRequests = new Set<PendingRequest>();
  private listenSocket: uws.us_listen_socket | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /**
   * Something was written (a publish or a direct send) in this sweep window / the one before. A
   * socket's buffered amount only grows when something is written, so after two quiet windows the
   * sweep has nothing to find and skips the sockets: an idle hub does no work per connection.
   */
  private wroteNow = false;
  private wroteBefore = false;
  private closing = false;
  /** Publications waiting for the next flush (parallel arrays: no object per publication). */
  private readonly queuedTopics: string[] = [];
  private readonly queuedFrames: (string | Buffer)[] = [];
  private flushScheduled = false;

  constructor(
    options: TransportOptions,
    private readonly log: Logger,
    private readonly uws: UwsModule,
  ) {
    this.options = resolveOptions(options);
    this.addresses = new ClientAddresses(this.options.trustProxy);
    this.ledger = new ConnectionLedger(this.options);
    // uWS's own limits sit at twice ours: below them we close with our codes (a close frame the peer
    // can read); above them uWS drops the socket without one, which the listener still learns as ours.
    this.hardLimit = 2 * options.maxBackpressureBytes;
    this.app = uws.App();
    const behavior: uws.WebSocketBehavior<UserData> = {
      maxPayloadLength: 2 * options.maxPayloadBytes,
      maxBackpressure: this.hardLimit,
      // Without it uWS silently skips frames for a socket over the limit, leaving a gap the client
      // never learns about.
      closeOnBackpressureLimit: true,
      idleTimeout: idleTimeoutSeconds(options.pingIntervalMs),
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => this.onUpgrade(res, req, context),
      open: (ws) => this.onOpen(ws),
      message: (ws, message, isBinary) => ws.getUserData().conn?.onMessage(message, isBinary),
      drain: (ws) => ws.getUserData().conn?.onDrain(),
      // 20.57 says when it drops a frame (a publish too) over maxBackpressure; 20.30 ignores this.
      dropped: (ws) => ws.getUserData().conn?.onDropped(),
      close: (ws, code, message) => ws.getUserData().conn?.onClosed(code, Buffer.from(message).toString('utf8')),
    };
    this.app.ws<UserData>(options.path, behavior);
    // The second endpoint (Pusher's /app/:key) is the same socket handling on more paths.
    if (options.secondEndpoint !== undefined) this.app.ws<UserData>(`${options.secondEndpoint.prefix}*`, behavior);
    this.app.any('/*', (res, req) => this.onRequest(res, req));
  }

  get connections(): number {
    return this.conns.size;
  }

  get handshakes(): number {
    return this.ledger.handshakes;
  }

  /**
   * Binds exclusively: by default uSockets sets SO_REUSEPORT, and a second hub on the same port
   * would bind it too and the kernel would split clients between two unrelated hubs. Rejects with
   * node:net's own error for the address (e.g. code EADDRINUSE), as WsTransport does.
   */
  listen(): Promise<number> {
    const { host, port } = this.options;
    return new Promise<uws.us_listen_socket | false>((resolve) => {
      // With an empty host the native code would read the port from the host's slot.
      if (host === '') this.app.listen(port, LISTEN_EXCLUSIVE_PORT, resolve);
      else this.app.listen(host, port, LISTEN_EXCLUSIVE_PORT, resolve);
    }).then(async (socket) => {
      if (socket === false) throw await listenFailure(host, port);
      this.listenSocket = socket;
      this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
      this.sweepTimer.unref();
      return this.uws.us_socket_local_port(socket);
    });
  }

  publish(topic: string, frame: string | Buffer): void {
    if (this.closing) return;
    this.wroteNow = true;
    this.queuedTopics.push(topic);
    this.queuedFrames.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushQueued);
    }
  }

  /**
   * Hands queued publications to uWS. Called from setImmediate, where no socket holds uWS's cork
   * buffer, and before anything whose order against them matters (a subscribe, an unsubscribe, a
   * close). Publishing inside a uWS handler instead (the publisher's socket corked) makes uWS write
   * each of a subscriber's frames with its own syscall once 32 are queued for it: 0.07x the
   * deliveries/s of a bare uWS server when measured, against 0.93-0.99x from here (bench:compare).
   */
  flush(): void {
    const topics = this.queuedTopics;
    const frames = this.queuedFrames;
    for (let i = 0; i < topics.length; i++) {
      const topic = topics[i] as string;
      const frame = frames[i] as string | Buffer;
      // One native call fans out to every subscriber (uWS encodes the frame once).
      this.app.publish(topic, frame, false);
      const bytes = (typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length) + FRAME_HEADER_MAX;
      this.topicBytes.set(topic, (this.topicBytes.get(topic) ?? 0) + bytes);
    }
    topics.length = 0;
    frames.length = 0;
  }

  private readonly flushQueued = (): void => {
    this.flushScheduled = false;
    if (!this.closing) this.flush();
  };

  close(code: number, reason: string): Promise<void> {
    if (this.closing) return Promise.resolve();
    // What was published before the close still reaches its subscribers, ahead of the close frame.
    this.flush();
    this.closing = true;
    clearInterval(this.sweepTimer);
    // end() writes the close frame and reports the close synchronously.
    for (const conn of this.conns) conn.close(code, reason);
    for (const pending of [...this.pendingRequests]) pending.res.close();
    if (this.listenSocket !== undefined) this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    // app.close() (uWS >= 20.30) also drops idle keep-alive HTTP sockets, which would otherwise
    // hold the process open until uWS's HTTP idle timeout.
    return new Promise((resolve) => {
      setImmediate(() => {
        this.app.close();
        resolve();
      });
    });
  }

  forget(conn: UwsConnection): void {
    this.conns.delete(conn);
  }

  /** A socket was written to directly: the next two sweeps look at every socket. */
  noteWrite(): void {
    this.wroteNow = true;
  }

  /** Closes connections over our backpressure limit and requests past their deadline; starts a new window. */
  private sweep(): void {
    if (this.wroteNow || this.wroteBefore) {
      const limit = this.options.maxBackpressureBytes;
      for (const conn of this.conns) {
        const buffered = conn.sample();
        if (buffered > limit) conn.close(conn.codes.slowConsumer, 'slow consumer');
      }
    }
    this.wroteBefore = this.wroteNow;
    this.wroteNow = false;
    const older = this.previousTopicBytes;
    older.clear();
    this.previousTopicBytes = this.topicBytes;
    this.topicBytes = older;
    if (this.pendingRequests.size === 0) return;
    const now = Date.now();
    for (const pending of this.pendingRequests) {
      if (pending.deadline > now) continue;
      this.log.debug({ ip: pending.ip }, 'http request timed out');
      // onAborted runs from inside close() and releases the slot.
      pending.res.close();
    }
  }

  /** Bytes handed to uWS for `topic` in the last two sweep windows. */
  recentTopicBytes(topic: string): number {
    return (this.topicBytes.get(topic) ?? 0) + (this.previousTopicBytes.get(topic) ?? 0);
  }

  private onUpgrade(res: uws.HttpResponse, req: uws.HttpRequest, context: uws.us_socket_context_t): void {
    // req is stack-allocated by uWS: copy everything out before doing anything else.
    const headers = copyHeaders(req);
    const upgrade: UpgradeRequest = {
      remoteAddress: this.remoteAddress(res, headers),
      url: fullUrl(req),
      headers,
    };
    if (this.closing) return refuse(res, 503, 'shutting down');
    const codes = endpointCodes(this.options, pathOf(upgrade.url));
    if (codes === undefined) return refuse(res, 404, 'not found');
    // Requests still sending their bodies count here, as half-open sockets do on ws.
    const slot = this.ledger.admit(upgrade.remoteAddress);
    if (isRefusal(slot)) return refuse(res, slot.status, slot.message);
    const refusal = consultUpgrade(this.options.hooks, upgrade, this.log);
    if (refusal !== undefined) {
      slot.release();
      return refuse(res, refusal.status, refusal.message);
    }
    const data: UserData = { opening: { upgrade, slot, codes }, conn: undefined };
    res.upgrade(
      data,
      headers['sec-websocket-key'] ?? '',
      headers['sec-websocket-protocol'] ?? '',
      headers['sec-websocket-extensions'] ?? '',
      context,
    );
    // uWS runs open inside upgrade(); a slot still pending means the socket went away first.
    if (slot.pending) slot.release();
  }

  private onOpen(ws: UwsSocket): void {
    const data = ws.getUserData();
    const { upgrade, slot, codes } = data.opening as NonNullable<UserData['opening']>;
    data.opening = undefined;
    slot.opened(upgrade.remoteAddress);
    const conn = new UwsConnection(this, ws, slot, codes);
    data.conn = conn;
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

  private onRequest(res: uws.HttpResponse, req: uws.HttpRequest): void {
    // A WebSocket upgrade on any other path lands here.
    if (req.getHeader('upgrade') !== '') return refuse(res, 404, 'not found');
    if (this.closing) return refuse(res, 503, 'shutting down');
    const headers = copyHeaders(req);
    const head = {
      method: req.getCaseSensitiveMethod(),
      url: fullUrl(req),
      headers,
      remoteAddress: this.remoteAddress(res, headers),
    };
    const max = this.options.maxHttpBodyBytes;
    // uWS's parser has already closed a Content-Length of ten digits or more before we get here.
    if (Number(headers['content-length'] ?? 0) > max) return answer(res, payloadTooLarge(max));
    const slot = this.ledger.admit(head.remoteAddress);
    if (isRefusal(slot)) return refuse(res, slot.status, slot.message);
    const pending: PendingRequest = {
      res,
      slot,
      ip: head.remoteAddress,
      deadline: Date.now() + this.options.handshakeTimeoutMs,
    };
    this.pendingRequests.add(pending);
    const settle = (): void => {
      this.pendingRequests.delete(pending);
      slot.release();
    };
    let done = false;
    res.onAborted(() => {
      done = true;
      settle();
    });
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > max) {
        // Answering with closeConnection stops uWS reading the rest of the body.
        done = true;
        chunks.length = 0;
        settle();
        return answer(res, payloadTooLarge(max));
      }
      // uWS neuters the chunk when this callback returns: keep a copy.
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      settle();
      const req: HttpRequest = { ...head, body: Buffer.concat(chunks) };
      this.options.hooks.onHttp(req).then(
        (out) => reply(res, () => done, out.status, out.headers ?? {}, out.body),
        (err: unknown) => {
          this.log.error({ err, url: head.url }, 'onHttp failed');
          reply(res, () => done, 500, {}, 'internal error');
        },
      );
    });
  }

  private remoteAddress(res: uws.HttpResponse, headers: Readonly<Record<string, string>>): string {
    return this.addresses.resolve(Buffer.from(res.getRemoteAddressAsText()).toString(), headers['x-forwarded-for']);
  }
}

export class UwsConnection implements Connection {
  /**
   * Mirrors uWS's subscriptions: the topics whose publishes count towards this socket's estimate.
   * One topic is held as itself, more in an array (most sockets hold one; a Set costs ~200 B).
   */
  private topics: string | string[] | undefined;
  private listener: ConnectionListener | undefined;
  /** uWS invalidates the socket object at close; any call after that throws. */
  private closed = false;
  private ending: { code: number; reason: string } | undefined;
  waitingDrain = false;
  /** uWS dropped a frame over its hard limit: the close it is about to make is a slow consumer. */
  private dropped = false;
  private lastBuffered = 0;
  /** Bytes queued for this socket alone (sends, and topics it left) in this sweep window and the one before. */
  private charged = 0;
  private chargedBefore = 0;

  constructor(
    private readonly transport: UwsTransport,
    private readonly ws: UwsSocket,
    private readonly slot: Slot,
    readonly codes: EndpointCodes,
  ) {}

  /** The open slot's address: one string shared by every connection from it. */
  get remoteAddress(): string {
    return this.slot.address ?? '';
  }

  attach(listener: ConnectionListener): void {
    this.listener = listener;
  }

  send(frame: string | Buffer): boolean {
    if (this.closed) return false;
    if (this.ws.send(frame, false) === SEND_DROPPED) this.dropped = true;
    this.transport.noteWrite();
    this.charged += (typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length) + FRAME_HEADER_MAX;
    return settleSend(this, this.ws.getBufferedAmount(), this.transport.options);
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  subscribe(topic: string): void {
    if (this.closed) return;
    // Publications queued before the subscribe must not reach this socket (the hub has already
    // delivered or replayed them), and those after it must.
    this.transport.flush();
    this.ws.subscribe(topic);
    const topics = this.topics;
    if (topics === undefined) this.topics = topic;
    else if (typeof topics === 'string') {
      if (topics !== topic) this.topics = [topics, topic];
    } else if (!topics.includes(topic)) topics.push(topic);
  }

  unsubscribe(topic: string): void {
    if (this.closed) return;
    this.transport.flush();
    this.ws.unsubscribe(topic);
    // What this topic queued may still sit in the socket's buffer: the estimate keeps counting it.
    const topics = this.topics;
    if (topics === topic) this.topics = undefined;
    else {
      const i = typeof topics === 'object' ? topics.indexOf(topic) : -1;
      if (i < 0) return;
      (topics as string[]).splice(i, 1);
    }
    this.charged += this.transport.recentTopicBytes(topic);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ending = { code, reason };
    this.transport.flush();
    // uWS queues the close frame behind any backlog and closes the socket itself if it never drains.
    this.ws.end(code, truncateReason(reason));
  }

  terminate(): void {
    if (this.closed) return;
    this.ending ??= { code: 1006, reason: 'terminated' };
    this.ws.close();
  }

  /** For the sweep: the buffered amount now, which also starts a new estimate window. */
  sample(): number {
    this.lastBuffered = this.closed ? 0 : this.ws.getBufferedAmount();
    this.chargedBefore = this.charged;
    this.charged = 0;
    return this.lastBuffered;
  }

  onMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (message.byteLength > this.transport.options.maxPayloadBytes) {
      this.close(1009, 'message too big');
      return;
    }
    if (this.listener === undefined) return;
    if (isBinary) this.listener.onBinary();
    // toString copies: uWS reuses the ArrayBuffer after this callback.
    else this.listener.onText(Buffer.from(message).toString('utf8'));
  }

  onDropped(): void {
    this.dropped = true;
  }

  onDrain(): void {
    // uWS reports every partial drain; the hub wants to hear when the queue is empty.
    if (this.waitingDrain && this.ws.getBufferedAmount() === 0) {
      this.waitingDrain = false;
      this.listener?.onDrain();
    }
  }

  onClosed(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.slot.release();
    this.transport.forget(this);
    const ended = this.ending ?? this.explain(code, reason);
    // uWS calls this synchronously inside end()/close(). Deferring keeps onClose out of the caller's
    // stack (as with ws) and lets it reach a listener that onOpen had not returned yet.
    queueMicrotask(() => this.listener?.onClose(ended.code, ended.reason));
  }

  /** Turns a close uWS made on its own (1006, no close frame) into the code the hub expects. */
  private explain(code: number, reason: string): { code: number; reason: string } {
    const { codes } = this;
    if (reason === UWS_TIMEOUT) return { code: codes.noPong, reason: 'no pong' };
    if (reason === UWS_TOO_BIG) return { code: 1009, reason: 'message too big' };
    if (reason === UWS_BAD_UTF8) return { code: 1007, reason: 'invalid UTF-8' };
    const noCloseFrame = reason === '' || reason === UWS_TCP_FIN;
    if (code === 1006 && noCloseFrame && (this.dropped || this.estimate() > this.transport.hardLimit)) {
      // uWS's hard backpressure stop looks exactly like the peer vanishing. If the bytes queued for
      // this socket could have crossed the hard limit since it was last sampled, it was the stop.
      return { code: codes.slowConsumer, reason: 'slow consumer' };
    }
    return { code, reason };
  }

  /**
   * Upper bound on this socket's buffered bytes: the last sample plus everything handed to uWS for it
   * in the two windows around that sample (what was queued just before it may not have been in it).
   */
  private estimate(): number {
    let bytes = this.lastBuffered + this.charged + this.chargedBefore;
    const topics = this.topics;
    if (typeof topics === 'string') bytes += this.transport.recentTopicBytes(topics);
    else for (const topic of topics ?? []) bytes += this.transport.recentTopicBytes(topic);
    return bytes;
  }
}

/**
 * uWS closes a socket idle for idleTimeout seconds, pinging it (sendPingsAutomatically) a few
 * seconds before. Twice our ping interval matches "silent for two intervals"; uWS aborts the process
 * on values outside 8..960, and its timers tick every 4 s.
 */
export function idleTimeoutSeconds(pingIntervalMs: number): number {
  return Math.min(960, Math.max(8, Math.ceil((2 * pingIntervalMs) / 1000)));
}

/**
 * uWS reports a failed listen as `false`, without the errno. Binding the same address with node:net
 * at once tells why (taken, not a local address, a privileged port) in node's own error shape.
 */
function listenFailure(host: string, port: number): Promise<Error> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', resolve);
    probe.listen({ host: host === '' ? undefined : host, port, exclusive: true }, () => {
      probe.close(() => {
        const err = new Error(`uWS could not listen on ${host}:${port}`) as NodeJS.ErrnoException;
        err.code = 'UWS_LISTEN_FAILED';
        resolve(err);
      });
    });
  });
}

function copyHeaders(req: uws.HttpRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  req.forEach((name, value) => {
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  });
  return headers;
}

function fullUrl(req: uws.HttpRequest): string {
  // getQuery() returns undefined (not '') when there is no query string.
  const query = req.getQuery() as string | undefined;
  return query ? `${req.getUrl()}?${query}` : req.getUrl();
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`;
}

/** A close reason must fit the 123 bytes a close frame allows. */
function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  return Buffer.from(reason).subarray(0, 123).toString('utf8').replace(/\uFFFD+$/, '');
}

/** Synchronous answer from inside a uWS handler (already corked there); closes the connection. */
function refuse(res: uws.HttpResponse, status: number, message: string): void {
  res
    .writeStatus(statusLine(status))
    .writeHeader('content-type', 'text/plain; charset=utf-8')
    .end(message, true);
}

/** As refuse, with the answer's own headers (uWS writes Connection: close itself). */
function answer(res: uws.HttpResponse, out: { status: number; headers: Record<string, string>; body: string }): void {
  res.writeStatus(statusLine(out.status));
  for (const [name, value] of Object.entries(out.headers)) if (name !== 'connection') res.writeHeader(name, value);
  res.end(out.body, true);
}

/** Asynchronous answer: outside the handler uWS needs the writes corked, and never after an abort. */
function reply(
  res: uws.HttpResponse,
  aborted: () => boolean,
  status: number,
  headers: Record<string, string>,
  body: string | Buffer,
): void {
  if (aborted()) return;
  res.cork(() => {
    res.writeStatus(statusLine(status));
    for (const [name, value] of Object.entries(headers)) {
      // uWS writes these itself; a second copy would corrupt the response.
      const lower = name.toLowerCase();
      if (lower !== 'content-length' && lower !== 'transfer-encoding') res.writeHeader(name, value);
    }
    res.end(body);
  });
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

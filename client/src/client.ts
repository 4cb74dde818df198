// The connection: one socket at a time, the connect handshake (with a deadline), command ids
// with timeouts, batching (everything queued in one tick goes out as one frame), pushes routed to
// subscriptions, half-open detection, and what to do when the socket ends (reconnect with
// backoff, refresh the token, or stop for good).

import { Emitter } from './emitter.js';
import { host } from './env.js';
import { HubError } from './errors.js';
import { Leaderboard, Subscription } from './subscription.js';
import type {
  ClientEvents,
  ClientState,
  ConnectInfo,
  DisconnectInfo,
  HubClientOptions,
  LeaderboardOptions,
  Message,
  StreamPosition,
  SubscribeOptions,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';

/** @internal Everything the server sends, replies and pushes alike, read loosely. */
export interface Frame {
  id?: number;
  result?: unknown;
  error?: { code: string; message: string; temporary: boolean; details?: Record<string, unknown> };
  push?: string;
  channel?: string;
  code?: number;
  reason?: string;
  reconnect?: boolean;
}

/** @internal Called exactly once: with the result, or with the error. */
export type Callback<R = unknown> = (err: HubError | undefined, result: R) => void;

interface Pending {
  _cmd: { id: number; method: string };
  _cb: Callback;
  _timer: unknown;
  /** Written to a socket: a drop fails it, since it may or may not have run. */
  _sent?: boolean;
  /** Belongs to one socket (connect, subscribe, ping): a drop fails it even if unsent. */
  _own?: boolean | undefined;
}

/** Close codes whose refusal would be the same next time; named for the error the app sees. */
const REFUSALS: Record<number, string> = {
  1008: 'policy_violation',
  1009: 'message_too_big',
  4100: 'bad_frame',
  4101: 'forbidden',
  4102: 'unauthorized',
  4103: 'kicked',
};
const TOKEN_EXPIRED = 4005;

/** UTF-8 bytes of a string (JSON.stringify leaves no lone surrogates unescaped). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00) {
      // A surrogate pair: one code point of 4 bytes.
      n += 4;
      i++;
    } else n += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
  }
  return n;
}

const closedError = () => new HubError('closed', 'the client was closed');
const tokenFailed = (e: unknown) => new HubError('token_failed', `the token function failed: ${String(e)}`, true);

export class HubClient extends Emitter<ClientEvents> {
  /** `connecting` -> `connected` -> `disconnected` (a reconnect is scheduled, or `connect()` is awaited) ...; `closed` is final. */
  state: ClientState = 'disconnected';
  /** The last connect reply (`expiresAt` follows token refreshes). */
  info: ConnectInfo | undefined;
  /** @internal */
  _subs = new Map<string, Subscription>();
  /** @internal */
  _o: HubClientOptions;
  /** @internal */
  _url: string;
  /** @internal */
  _WS: WebSocketConstructor;
  /** @internal */
  _ws: WebSocketLike | undefined;
  /** @internal */
  _id = 0;
  /** @internal */
  _pending = new Map<number, Pending>();
  /** @internal Commands waiting for the next flush (or for a connection). */
  _outbox: Pending[] = [];
  /** @internal */
  _flushQueued = false;
  /** @internal Reconnect attempts since the last successful connect. */
  _attempt = 0;
  /** @internal Bumped whenever a connect in progress must be abandoned (close, a newer attempt). */
  _gen = 0;
  /** @internal */
  _timer: unknown;
  /** @internal The handshake deadline while connecting, then the heartbeat: one socket timer. */
  _hb: unknown;
  /** @internal When the last frame arrived (Date.now()). */
  _rx = 0;
  /** @internal The server's `disconnect` push, read when the socket closes. */
  _dc: Frame | undefined;
  /** @internal The last position on each server-side subscription, sent at connect to recover from. */
  _pos: Record<string, StreamPosition> = {};
  /** @internal The token last sent (connect or refresh). */
  _token: string | undefined;
  /** @internal A fresh token was already tried at once after an expiry. */
  _fresh = false;
  /** @internal Why the last attempt got no socket (the token function or the URL failed): commands fail with it until the next attempt. */
  _down: HubError | undefined;
  /** @internal The failure last reported, so a retry loop reports each one once. */
  _told: string | undefined;
  /** @internal */
  _online = (): void => {
    if (this._timer !== undefined) this.connect();
  };

  constructor(url: string, options: HubClientOptions = {}) {
    super();
    const WS = options.WebSocket ?? host.WebSocket;
    if (!WS) throw new TypeError('no WebSocket here: pass options.WebSocket (e.g. the ws package on Node < 22)');
    this._url = url;
    this._o = options;
    this._WS = WS;
    host.addEventListener?.('online', this._online);
    this.connect();
  }

  /** Connects now, if disconnected (after `reconnect: false`, or to skip a backoff delay). */
  connect(): void {
    if (this.state === 'disconnected') void this._connect();
  }

  /** Subscribes to a channel; the subscription lives (and resubscribes) until `unsubscribe()`. */
  subscribe(channel: string, options: SubscribeOptions = {}): Subscription {
    return this._add(new Subscription(this, channel, options));
  }

  /** Subscribes to a leaderboard channel: a live top-N and its read and increment commands. */
  leaderboard(channel: string, options: LeaderboardOptions = {}): Leaderboard {
    return this._add(new Leaderboard(this, channel, { ...options, recover: false }));
  }

  /** Publishes without subscribing; resolves with the publication's position on the server's ack. */
  publish(channel: string, data: unknown, options: { idempotencyKey?: string } = {}): Promise<StreamPosition> {
    return this._ask('publish', { channel, data, ...options });
  }

  /** Calls the application's backend through the hub (its rpc hook); resolves with the answer's data. */
  rpc<R = unknown>(method: string, data?: unknown): Promise<R> {
    return this._ask<{ data: R }>('rpc', { method_name: method, data }).then((r) => r.data);
  }

  /** Closes for good: pending commands fail with `closed`; resolves once the socket is closed. */
  close(): Promise<void> {
    const closed = this._drop(1000);
    this._shutdown(closedError());
    return closed;
  }

  // ---- commands ----

  /** @internal Sends one command (batched with the others of this tick) and resolves with its result. */
  _ask<R>(method: string, params: object): Promise<R> {
    return new Promise((resolve, reject) => this._call(method, params, (err, result) => (err ? reject(err) : resolve(result as R))));
  }

  /** @internal The callback runs synchronously with the reply, so pushes behind it see its effects. */
  _call(method: string, params: object, cb: Callback, own?: boolean, direct?: WebSocketLike): void {
    // Nothing can be sent before a working attempt: say why now rather than time out later.
    const down = this.state === 'closed' ? closedError() : this._down;
    if (down) return cb(down, undefined);
    const id = ++this._id;
    const p: Pending = {
      _cmd: { id, method, ...params },
      _cb: cb,
      _own: own,
      _timer: host.setTimeout(
        () => this._settle(id, new HubError('timeout', `no reply to ${method} within ${this._timeout()} ms`, true)),
        this._timeout(),
      ),
    };
    this._pending.set(id, p);
    if (direct) {
      p._sent = true;
      direct.send(JSON.stringify(p._cmd));
    } else {
      this._outbox.push(p);
      if (!this._flushQueued) {
        this._flushQueued = true;
        void Promise.resolve().then(() => this._flush());
      }
    }
  }

  /** @internal */
  _timeout(): number {
    return this._o.timeoutMs ?? 10_000;
  }

  /**
   * @internal Writes the outbox: one command as an object, more as arrays of at most 100 (the
   * server's batch limit) that fit the hub's frame limit. A command that cannot fit alone fails
   * here with `message_too_big`: sent, it would only get the socket closed (and be sent again).
   */
  _flush(): void {
    this._flushQueued = false;
    const ws = this._ws;
    if (this.state !== 'connected' || !ws) return;
    const max = this.info?.maxPayloadBytes ?? Infinity;
    let batch: string[] = [];
    let size = 1;
    const send = () => {
      if (batch.length) ws.send(batch.length > 1 ? `[${batch.join(',')}]` : (batch[0] as string));
      batch = [];
      size = 1;
    };
    for (const p of this._outbox.splice(0)) {
      const text = JSON.stringify(p._cmd);
      // UTF-8 is at most 3 bytes per UTF-16 unit: only near the limit is the exact size worth counting.
      const bytes = text.length * 3 + 2 < max ? text.length : utf8Length(text);
      if (bytes + 2 > max) {
        this._settle(p._cmd.id, new HubError('message_too_big', `this command is ${bytes} bytes; the hub takes frames of at most ${max}`));
        continue;
      }
      if (batch.length === 100 || size + bytes + 1 > max) send();
      p._sent = true;
      batch.push(text);
      size += bytes + 1;
    }
    send();
  }

  /** @internal Completes a command once, whichever comes first: its reply, its timeout, a drop or close. */
  _settle(id: number, err: HubError | undefined, result?: unknown): void {
    const p = this._pending.get(id);
    if (!p) return;
    this._pending.delete(id);
    host.clearTimeout(p._timer);
    const i = this._outbox.indexOf(p);
    if (i >= 0) this._outbox.splice(i, 1);
    p._cb(err, result);
  }

  // ---- the socket ----

  /** @internal */
  async _connect(): Promise<void> {
    host.clearTimeout(this._timer);
    this._timer = undefined;
    this._down = undefined;
    const gen = ++this._gen;
    this._set('connecting');
    let token = this._o.token;
    try {
      if (typeof token === 'function') token = await token();
    } catch (e) {
      if (gen === this._gen) this._noSocket(tokenFailed(e));
      return;
    }
    if (gen !== this._gen) return;
    this._token = token;
    let ws: WebSocketLike;
    try {
      ws = new this._WS(this._url);
    } catch (e) {
      return this._noSocket(new HubError('connect_failed', `could not connect: ${String(e)}`, true));
    }
    this._ws = ws;
    const ms = this._o.handshakeTimeoutMs ?? 5000;
    // Without a deadline a hub that accepts TCP but never answers keeps the client connecting for ever.
    this._hb = host.setTimeout(() => {
      const err = new HubError('timeout', `handshake timed out after ${ms} ms`, true);
      void this._drop(4004);
      this._emit('error', err);
      this._lost(4004, err.message);
    }, ms);
    ws.onerror = () => {};
    ws.onopen = () =>
      this._call(
        'connect',
        { token, name: this._o.name, subs: this._pos },
        (err, result) => this._connected(err, result as ConnectInfo),
        true,
        ws,
      );
    ws.onmessage = (e) => this._receive(e.data);
    ws.onclose = (e) => this._lost(e.code, e.reason);
  }

  /**
   * @internal The attempt failed before any socket (the token function threw or rejected, the URL
   * is bad): likely a bug in the app, which no timeout should hide. Commands waiting, and those made
   * until the next attempt, fail with it; the SDK retries with backoff all the same, since a token
   * endpoint may be down only for a while.
   */
  _noSocket(err: HubError): void {
    this._report(err);
    this._fail(err);
    this._down = err;
    this._retry(0, err.message);
  }

  /**
   * @internal Emits `error`, or with nobody listening writes it to the console (a failure the app
   * did not see coming would otherwise leave no trace); a retry loop reports each failure once.
   */
  _report(err: HubError): void {
    if (err.message === this._told) return;
    this._told = err.message;
    // A microtask later: a token function that throws at once fails inside the constructor,
    // before the app could add its listener.
    void Promise.resolve().then(() =>
      this._l.error?.size ? this._emit('error', err) : host.console?.error(`hubbub: ${err.message}`),
    );
  }

  /** @internal Fails every command waiting for a reply or a connection. */
  _fail(err: HubError): void {
    for (const id of this._pending.keys()) this._settle(id, err);
  }

  /** @internal The connect reply. */
  _connected(err: HubError | undefined, info: ConnectInfo): void {
    host.clearTimeout(this._hb);
    if (err) {
      // The socket dropped first: _lost handles it.
      if (err.code === 'disconnected') return;
      const code =
        err.code === 'token_expired'
          ? TOKEN_EXPIRED
          : err.code === 'unauthorized'
            ? 4102
            : err.temporary
              ? 4004
              : 4100;
      void this._drop(code);
      if (code === TOKEN_EXPIRED) return this._expired(code, err.message);
      if (err.temporary) {
        this._emit('error', err);
        return this._retry(code, err.message);
      }
      return this._stop(err, code, err.message);
    }
    this._attempt = 0;
    this._fresh = false;
    this._told = undefined;
    this.info = info;
    for (const [channel, r] of Object.entries(info.subs ?? {})) {
      this._pos[channel] = { offset: r.offset, epoch: r.epoch };
      for (const m of r.publications ?? []) this._emit('publication', { ...m, channel, epoch: r.epoch });
    }
    this._set('connected');
    this._beat();
    // Subscriptions first, so commands queued while offline run against live subscriptions.
    const queued = this._outbox.splice(0);
    for (const s of this._subs.values()) s._subscribe();
    this._outbox.push(...queued);
    this._flush();
    this._emit('connected', info);
  }

  /** @internal */
  _receive(data: unknown): void {
    this._rx = Date.now();
    let frames: Frame | Frame[];
    try {
      frames = JSON.parse(String(data)) as Frame | Frame[];
    } catch {
      return;
    }
    for (const f of Array.isArray(frames) ? frames : [frames]) {
      if (typeof f.id === 'number') {
        const e = f.error;
        this._settle(f.id, e && new HubError(e.code, e.message, e.temporary, e.details), f.result);
      } else if (f.push === 'disconnect') {
        this._dc = f;
      } else if (f.push === 'expiring') {
        void this._refresh();
      } else {
        const ch = f.channel ?? '';
        const s = this._subs.get(ch);
        const p = this._pos[ch];
        const at = f as StreamPosition;
        if (s) s._push(f);
        else if (f.push === 'subscribed' || (f.push === 'pub' && (!p || p.epoch !== at.epoch || at.offset > p.offset))) {
          // Server-side: pushes after a position, or repeats of what was delivered (dropped).
          this._pos[ch] = { offset: at.offset, epoch: at.epoch };
          if (f.push === 'pub') this._emit('publication', f as unknown as Message);
        } else if (f.push === 'unsubscribed') delete this._pos[ch];
      }
    }
  }

  /** @internal The socket ended (or the SDK gave up on it): fail what it carried, then reconnect or stop. */
  _lost(code: number, reason: string): void {
    const dc = this._dc;
    this._dc = undefined;
    if (dc) {
      code = dc.code ?? code;
      reason = dc.reason ?? reason;
    }
    this._ws = undefined;
    host.clearTimeout(this._hb);
    const dropped = new HubError('disconnected', 'the connection dropped before the reply; the command may or may not have run', true);
    for (const [id, p] of this._pending) if (p._sent || p._own) this._settle(id, dropped);
    for (const s of this._subs.values()) s._reset();
    if (code === TOKEN_EXPIRED) return this._expired(code, reason);
    const name = REFUSALS[code];
    if (dc ? !dc.reconnect : name || (code >= 4100 && code < 4200)) {
      return this._stop(new HubError(name ?? 'refused', reason || `the server closed the connection with ${code}`, false, { closeCode: code }), code, reason);
    }
    this._retry(code, reason);
  }

  /** @internal The token expired: with a token function, try a fresh token at once (once), else stop. */
  _expired(code: number, reason: string): void {
    if (typeof this._o.token !== 'function') {
      return this._stop(new HubError('token_expired', reason || 'the token expired; a static token cannot be renewed'), code, reason);
    }
    const fresh = !this._fresh;
    this._fresh = true;
    this._retry(code, reason, fresh ? 0 : undefined);
  }

  /** @internal Schedules the next attempt (unless reconnect is off) and says so. */
  _retry(code: number, reason: string, delayMs?: number): void {
    const info: DisconnectInfo = { code, reason, reconnect: this._o.reconnect !== false };
    if (info.reconnect) {
      info.delayMs = delayMs ?? this._delay(this._attempt++);
      this._timer = host.setTimeout(() => this.connect(), info.delayMs);
    }
    this._set('disconnected');
    this._emit('disconnected', info);
  }

  /** @internal Full jitter: uniform in [0, min(max, min * 2^attempt)). */
  _delay(attempt: number): number {
    const r = this._o.reconnect || {};
    const cap = Math.min(r.maxDelayMs ?? 20_000, (r.minDelayMs ?? 500) * 2 ** attempt);
    return Math.floor((this._o._random ?? Math.random)() * cap);
  }

  /** @internal Refused for good: close, then tell the app why. */
  _stop(err: HubError, code: number, reason: string): void {
    this._shutdown(err);
    this._emit('disconnected', { code, reason, reconnect: false });
    this._emit('error', err);
  }

  /** @internal Releases every timer and listener; fails every command and subscription with `err`. */
  _shutdown(err: HubError): void {
    this._gen++;
    host.clearTimeout(this._timer);
    host.clearTimeout(this._hb);
    this._timer = undefined;
    host.removeEventListener?.('online', this._online);
    void this._drop();
    this._set('closed');
    this._fail(err);
    for (const s of this._subs.values()) s._end(err);
  }

  /**
   * @internal Detaches the current socket and closes it (with a code, no reason: a reason over
   * 123 bytes would throw); resolves when it is closed.
   */
  _drop(code?: number): Promise<void> {
    const ws = this._ws;
    this._ws = undefined;
    return new Promise((resolve) => {
      if (!ws || ws.readyState === 3) return resolve();
      ws.onopen = ws.onmessage = null;
      ws.onclose = () => resolve();
      ws.close(code);
    });
  }

  /**
   * @internal Half-open detection, on the hub's ping interval: a ping after one silent interval
   * (pings at the WebSocket level are invisible here, so a quiet hub sends no frames), and the
   * socket given up on after two, as the hub does on its side. Silence is measured from the last
   * frame, so the bound holds wherever in a timer's period that frame fell.
   */
  _beat(): void {
    const interval = this.info?.pingIntervalMs;
    if (!interval) return;
    const now = Date.now();
    // A clock set back would otherwise postpone the next check by as much.
    if (this._rx > now) this._rx = now;
    const silent = now - this._rx;
    if (silent >= 2 * interval) {
      void this._drop(4003);
      return this._lost(4003, 'no reply to ping');
    }
    const late = silent >= interval;
    // Its reply is the frame that counts; its own timeout adds nothing.
    if (late) this._call('ping', {}, () => {}, true);
    this._hb = host.setTimeout(() => this._beat(), (late ? 2 : 1) * interval - silent);
  }

  /** @internal The server says the token expires soon: renew it on the live connection. */
  async _refresh(): Promise<void> {
    const token = this._o.token;
    if (typeof token !== 'function') return;
    try {
      const fresh = await token();
      // The same token again would get the same warning at once: let it expire and reconnect instead.
      if (fresh === this._token) return;
      this._token = fresh;
      this._call(
        'refresh',
        { token: fresh },
        (err, result) => {
          if (!err) Object.assign(this.info ?? {}, result);
          else if (err.code !== 'disconnected') this._emit('error', err);
        },
        true,
      );
    } catch (e) {
      this._report(tokenFailed(e));
    }
  }

  /** @internal */
  _set(state: ClientState): void {
    if (this.state === state) return;
    this.state = state;
    this._emit('state', state);
  }

  /** @internal */
  _add<S extends Subscription>(sub: S): S {
    if (this._subs.has(sub.channel)) throw new Error(`already subscribed to ${sub.channel}; unsubscribe first`);
    this._subs.set(sub.channel, sub);
    if (this.state === 'closed') sub._end(closedError());
    else if (this.state === 'connected') sub._subscribe();
    return sub;
  }
}

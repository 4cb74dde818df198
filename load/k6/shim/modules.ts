// Node stand-ins for the k6 modules the scripts import, one set per VU: each VU tracks what it
// still has open (sockets, timers, requests), because in k6 an iteration ends only when its
// event loop is empty. Only the subset the scripts use is here; the rest throws saying so.

import { createHash, createHmac } from 'node:crypto';
import WebSocket from 'ws';
import type { Registry } from './metrics.js';

/** One VU's open work; `idle()` resolves when none is left, `abort()` ends it all (gracefulStop). */
export class VuLoop {
  private pending = 0;
  private waiters: (() => void)[] = [];
  private readonly aborters = new Set<() => void>();
  /** Errors thrown by this VU's callbacks (k6 would end the iteration with them). */
  errors: unknown[] = [];

  /** Counts one piece of open work; call the returned function (once) when it is done. */
  hold(abort: () => void): () => void {
    this.pending++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.aborters.delete(abort);
      this.pending--;
      if (this.pending === 0) this.settleSoon();
    };
    this.aborters.add(abort);
    return release;
  }

  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      if (this.pending === 0) this.settleSoon();
    });
  }

  /**
   * Idle only if still nothing is open after the promise jobs queued now have run: work that
   * just finished may be followed, in a continuation, by new work of the same iteration.
   */
  private settleSoon(): void {
    setImmediate(() => {
      if (this.pending === 0) for (const w of this.waiters.splice(0)) w();
    });
  }

  abort(): void {
    for (const a of [...this.aborters]) a();
  }

  /** Runs a callback of this VU, keeping a throw inside the VU instead of crashing the runner. */
  call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.errors.push(err);
      this.abort();
    }
  }
}

/** What the k6/execution module reads; the runner updates it before each iteration. */
export interface ExecState {
  vu: { idInTest: number; idInInstance: number; iterationInScenario: number; iterationInInstance: number; tags: Record<string, string> };
  scenario: { name: string; executor: string; startTime: number; iterationInTest: number; iterationInInstance: number; progress: number };
}

function unsupported(what: string): () => never {
  return () => {
    throw new Error(`${what} is not in the k6 shim (see load/k6/shim/README.md)`);
  };
}

/** ES module namespace shape for esbuild's CommonJS interop (`import x from 'k6/...'`). */
function esm<T extends object>(members: T): T & { default: T; __esModule: true } {
  return Object.assign(members, { default: members, __esModule: true as const });
}

function encodeOutput(buf: Buffer, encoding: string): string | ArrayBuffer {
  switch (encoding) {
    case 'hex':
      return buf.toString('hex');
    case 'base64':
      return buf.toString('base64');
    case 'base64url':
      return buf.toString('base64url').padEnd(Math.ceil(buf.length / 3) * 4, '=');
    case 'base64rawurl':
      return buf.toString('base64url');
    case 'binary':
      return new Uint8Array(buf).buffer; // a copy: a Buffer may be a view into a shared pool
    default:
      throw new Error(`k6 shim: unknown output encoding ${encoding}`);
  }
}

function bytes(input: string | ArrayBuffer): Buffer {
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input);
}

type Listener = (event: unknown) => void;

/** k6/websockets' WebSocket on top of `ws`: the same events, and it holds its VU open until closed. */
function webSocketClass(loop: VuLoop, registry: Registry) {
  const sessions = registry.sink('ws_sessions', 'counter');
  const connecting = registry.sink('ws_connecting', 'trend');
  return class K6WebSocket {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = 2;
    static readonly CLOSED = 3;
    readonly url: string;
    binaryType = 'arraybuffer';
    onopen: (() => void) | undefined;
    onmessage: Listener | undefined;
    onclose: (() => void) | undefined;
    onerror: Listener | undefined;
    private readonly ws: WebSocket;
    private readonly listeners = new Map<string, Listener[]>();

    constructor(url: string) {
      this.url = url;
      const started = Date.now();
      // One message per event-loop turn, promise jobs run in between, as in k6 (and browsers):
      // ws would otherwise emit every message of a TCP chunk in one go, before a reply's awaiter runs.
      this.ws = new WebSocket(url, { allowSynchronousEvents: false });
      const release = loop.hold(() => this.ws.terminate());
      sessions.add(1);
      this.ws.on('open', () => {
        connecting.add(Date.now() - started);
        this.emit('open', { type: 'open', timestamp: Date.now() });
      });
      this.ws.on('message', (data: Buffer, isBinary: boolean) => {
        const payload = isBinary ? new Uint8Array(data).buffer : data.toString('utf8');
        this.emit('message', { type: 'message', data: payload, timestamp: Date.now() });
      });
      this.ws.on('error', (err: Error) => this.emit('error', { type: 'error', error: err.message, timestamp: Date.now() }));
      this.ws.on('close', () => {
        this.emit('close', { type: 'close', timestamp: Date.now() });
        release();
      });
    }

    get readyState(): number {
      return this.ws.readyState;
    }

    get bufferedAmount(): number {
      return this.ws.bufferedAmount;
    }

    addEventListener(event: string, listener: Listener): void {
      const list = this.listeners.get(event) ?? [];
      list.push(listener);
      this.listeners.set(event, list);
    }

    send(data: string | ArrayBuffer): void {
      this.ws.send(data);
    }

    close(code?: number, reason?: string): void {
      this.ws.close(code, reason);
    }

    ping(): void {
      this.ws.ping();
    }

    private emit(event: string, payload: unknown): void {
      const handler = { open: this.onopen, message: this.onmessage, close: this.onclose, error: this.onerror }[event];
      loop.call(() => {
        handler?.(payload);
        for (const l of this.listeners.get(event) ?? []) l(payload);
      });
    }
  };
}

interface ShimResponse {
  status: number;
  body: string | null;
  headers: Record<string, string>;
  error: string;
  timings: { duration: number };
}

/** k6/http's `asyncRequest` on fetch (never rejects: a network failure is status 0, as in k6). */
function httpModule(loop: VuLoop, registry: Registry) {
  const reqs = registry.sink('http_reqs', 'counter');
  const duration = registry.sink('http_req_duration', 'trend');
  const failed = registry.sink('http_req_failed', 'rate');
  async function asyncRequest(method: string, url: string, body?: string | null, params?: { headers?: Record<string, string>; timeout?: number } | null): Promise<ShimResponse> {
    const controller = new AbortController();
    const release = loop.hold(() => controller.abort());
    const started = Date.now();
    const timeout = setTimeout(() => controller.abort(), params?.timeout ?? 60_000);
    try {
      const res = await fetch(url, { method, body: body ?? null, headers: params?.headers ?? {}, signal: controller.signal });
      const text = await res.text();
      const ms = Date.now() - started;
      reqs.add(1);
      duration.add(ms);
      failed.add(res.status >= 400);
      return { status: res.status, body: text, headers: Object.fromEntries(res.headers), error: '', timings: { duration: ms } };
    } catch (err) {
      reqs.add(1);
      failed.add(true);
      return { status: 0, body: null, headers: {}, error: err instanceof Error ? err.message : String(err), timings: { duration: Date.now() - started } };
    } finally {
      clearTimeout(timeout);
      release();
    }
  }
  const sync = unsupported('synchronous k6/http (use http.asyncRequest)');
  return esm({ asyncRequest, request: sync, get: sync, post: sync, put: sync, del: sync, batch: sync });
}

/** k6/timers, held open like k6's event loop: a pending timeout or a live interval keeps the VU busy. */
function timersModule(loop: VuLoop) {
  const releases = new Map<NodeJS.Timeout, () => void>();
  function clear(handle: NodeJS.Timeout | undefined): void {
    if (handle === undefined) return;
    clearTimeout(handle);
    releases.get(handle)?.();
    releases.delete(handle);
  }
  return esm({
    setTimeout(fn: () => void, ms = 0): NodeJS.Timeout {
      const handle: NodeJS.Timeout = setTimeout(() => {
        loop.call(fn);
        clear(handle);
      }, ms);
      releases.set(handle, loop.hold(() => clear(handle)));
      return handle;
    },
    setInterval(fn: () => void, ms = 0): NodeJS.Timeout {
      const handle: NodeJS.Timeout = setInterval(() => loop.call(fn), ms);
      releases.set(handle, loop.hold(() => clear(handle)));
      return handle;
    },
    clearTimeout: clear,
    clearInterval: clear,
  });
}

/** The modules a VU's `require` resolves, by k6 import name. */
export function k6Modules(loop: VuLoop, registry: Registry, state: ExecState, abortTest: (reason: string) => void): Record<string, object> {
  const checks = registry.sink('checks', 'rate');
  const metric = (type: 'counter' | 'gauge' | 'rate' | 'trend') =>
    class {
      private readonly sink;
      constructor(readonly name: string) {
        this.sink = registry.sink(name, type);
      }
      add(value: number | boolean): void {
        this.sink.add(value);
      }
    };
  return {
    k6: esm({
      check<T>(value: T, sets: Record<string, (v: T) => boolean>): boolean {
        let all = true;
        for (const fn of Object.values(sets)) {
          const ok = Boolean(fn(value));
          checks.add(ok);
          all &&= ok;
        }
        return all;
      },
      group<T>(_name: string, fn: () => T): T {
        return fn();
      },
      sleep: unsupported('sleep (blocking; use k6/timers)'),
      fail(message?: string): never {
        throw new Error(message ?? 'fail()');
      },
    }),
    'k6/metrics': esm({ Counter: metric('counter'), Gauge: metric('gauge'), Rate: metric('rate'), Trend: metric('trend') }),
    'k6/timers': timersModule(loop),
    'k6/websockets': esm({ WebSocket: webSocketClass(loop, registry) }),
    'k6/http': httpModule(loop, registry),
    'k6/encoding': esm({
      b64encode(input: string | ArrayBuffer, variant = 'std'): string {
        const buf = bytes(input);
        if (variant === 'url' || variant === 'rawurl') {
          const s = buf.toString('base64url');
          return variant === 'url' ? s.padEnd(Math.ceil(buf.length / 3) * 4, '=') : s;
        }
        const s = buf.toString('base64');
        return variant === 'rawstd' ? s.replace(/=+$/, '') : s;
      },
      b64decode(input: string, variant = 'std', format?: string): string | ArrayBuffer {
        const buf = Buffer.from(input, variant.includes('url') ? 'base64url' : 'base64');
        return format === 's' ? buf.toString('utf8') : encodeOutput(buf, 'binary');
      },
    }),
    'k6/crypto': esm({
      hmac(algorithm: string, secret: string | ArrayBuffer, input: string | ArrayBuffer, encoding: string): string | ArrayBuffer {
        return encodeOutput(createHmac(algorithm, bytes(secret)).update(bytes(input)).digest(), encoding);
      },
      sha256(input: string | ArrayBuffer, encoding: string): string | ArrayBuffer {
        return encodeOutput(createHash('sha256').update(bytes(input)).digest(), encoding);
      },
      randomBytes(n: number): ArrayBuffer {
        return encodeOutput(Buffer.from(crypto.getRandomValues(new Uint8Array(n))), 'binary') as ArrayBuffer;
      },
    }),
    'k6/execution': esm({
      vu: state.vu,
      scenario: state.scenario,
      test: {
        abort(reason?: string): void {
          abortTest(reason ?? 'test.abort()');
        },
        fail: unsupported('exec.test.fail'),
      },
      instance: {},
    }),
  };
}

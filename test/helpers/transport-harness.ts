// Both transports under one harness, on real sockets: ws clients on port 0, server events observed
// through the hooks. Every wait is on an event (message, close), never a sleep.

import { EventEmitter, once } from 'node:events';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, expect } from 'vitest';
import WebSocket from 'ws';
import {
  type Connection,
  createTransport,
  type Transport,
  type TransportHooks,
  type TransportOptions,
  type UpgradeRequest,
} from '../../src/transport/index.js';
import { RawWs } from './raw-ws.js';

export type Kind = 'ws' | 'uws';
export const KINDS = ['ws', 'uws'] as const;

export const SLOW = 4001;
export const NO_PONG = 4002;
export const silent = pino({ level: 'silent' });

/** Anything changed (a message, an open, a close): waiters re-check their condition. */
export const bus = new EventEmitter().setMaxListeners(0);
export function until(condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!condition()) return;
      bus.off('change', check);
      resolve();
    };
    bus.on('change', check);
    check();
  });
}

export interface Closed {
  code: number;
  reason: string;
}

export interface ServerSide {
  conn: Connection;
  req: UpgradeRequest;
  texts: string[];
  binaries: number;
  drains: number;
  closed: Closed | undefined;
}

/** Hooks that record what the server sees. Client text `sub:t` / `unsub:t` (un)subscribes, anything else echoes. */
export class Harness {
  readonly sides: ServerSide[] = [];
  readonly hooks: TransportHooks = {
    onUpgrade: (req) => (req.url.includes('deny') ? { status: 403, message: 'denied' } : undefined),
    onOpen: (conn, req) => {
      const side: ServerSide = { conn, req, texts: [], binaries: 0, drains: 0, closed: undefined };
      this.sides.push(side);
      bus.emit('change');
      return {
        onText(text) {
          side.texts.push(text);
          if (text.startsWith('sub:')) {
            conn.subscribe(text.slice(4));
            conn.send(`subscribed:${text.slice(4)}`);
          } else if (text.startsWith('unsub:')) {
            conn.unsubscribe(text.slice(6));
            conn.send(`unsubscribed:${text.slice(6)}`);
          } else {
            conn.send(`echo:${text}`);
          }
          bus.emit('change');
        },
        onBinary() {
          side.binaries++;
          bus.emit('change');
        },
        onDrain() {
          side.drains++;
          bus.emit('change');
        },
        onClose(code, reason) {
          expect(side.closed).toBeUndefined();
          side.closed = { code, reason };
          bus.emit('change');
        },
      };
    },
    async onHttp(req) {
      if (req.url === '/health') return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' };
      if (req.url === '/whoami') return { status: 200, body: req.remoteAddress };
      if (req.method === 'POST') return { status: 200, body: `got ${req.body.length} bytes` };
      return { status: 404, body: 'not found' };
    },
  };

  async side(n: number): Promise<ServerSide> {
    await until(() => this.sides.length >= n);
    return this.sides[n - 1] as ServerSide;
  }

  async closedOf(side: ServerSide): Promise<Closed> {
    await until(() => side.closed !== undefined);
    return side.closed as Closed;
  }
}

export class Client {
  readonly messages: string[] = [];
  closed: Closed | undefined;
  readonly closing: Promise<Closed>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.messages.push(data.toString('utf8'));
      bus.emit('change');
    });
    ws.on('error', () => {});
    this.closing = new Promise((resolve) =>
      ws.on('close', (code: number, reason: Buffer) => {
        this.closed = { code, reason: reason.toString() };
        bus.emit('change');
        resolve(this.closed);
      }),
    );
  }

  get socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  /** Sends a text and waits for the reply that proves the server handled it. */
  async ask(text: string, reply: string): Promise<void> {
    this.ws.send(text);
    await until(() => this.messages.includes(reply));
  }
}

export const opened: Array<{ transport: Transport; clients: Client[]; raws?: RawWs[] }> = [];
afterEach(async () => {
  for (const { transport, clients, raws = [] } of opened.splice(0)) {
    for (const c of clients) c.ws.terminate();
    for (const r of raws) r.destroy();
    await transport.close(1001, 'test over');
  }
});

export async function start(kind: Kind, overrides: Partial<TransportOptions> = {}) {
  const harness = new Harness();
  const transport = createTransport(
    kind,
    { ...baseOptions(), hooks: harness.hooks, ...overrides },
    silent,
  );
  const port = await transport.listen();
  const clients: Client[] = [];
  const raws: RawWs[] = [];
  opened.push({ transport, clients, raws });
  const connect = async (path = '/ws', options: WebSocket.ClientOptions = {}): Promise<Client> => {
    const client = new Client(new WebSocket(`ws://127.0.0.1:${port}${path}`, options));
    clients.push(client);
    await once(client.ws, 'open');
    return client;
  };
  /** A raw-frame client, upgraded. */
  const raw = async (path = '/ws', headers: Record<string, string> = {}): Promise<RawWs> => {
    const client = await RawWs.open(port, path, headers);
    raws.push(client);
    return client;
  };
  /** A TCP connection that has sent nothing. */
  const tcp = async (): Promise<RawWs> => {
    const client = await RawWs.tcp(port);
    raws.push(client);
    return client;
  };
  return { transport, harness, port, connect, raw, tcp };
}

/** Tries an upgrade the server should refuse; resolves with the HTTP status and body. */
export async function refusedUpgrade(url: string): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, NodeJS.ReadableStream & { statusCode: number }];
  let body = '';
  for await (const chunk of res) body += String(chunk);
  return { status: res.statusCode, body };
}

export function http(
  port: number,
  method: string,
  path: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function baseOptions(): Omit<TransportOptions, 'hooks'> {
  return {
    host: '127.0.0.1',
    port: 0,
    path: '/ws',
    maxPayloadBytes: 1024,
    maxHttpBodyBytes: 1024,
    maxBackpressureBytes: 64 * 1024,
    slowConsumerCode: SLOW,
    pingIntervalMs: 30_000,
    noPongCode: NO_PONG,
  };
}

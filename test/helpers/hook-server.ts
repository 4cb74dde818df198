// A real backend for hook tests: a node:http server on a free port that answers POST /<hook> with
// whatever the test's handler returns, and records every request (body and headers) it got.

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HookCall {
  hook: string;
  body: Record<string, unknown>;
  /** The body exactly as received. */
  text: string;
  headers: IncomingHttpHeaders;
}

/** What a handler answers: a JSON value (status 200), or `raw(status, text)`. */
export type HookReply = unknown;
export type HookHandler = (body: Record<string, unknown>, call: HookCall) => HookReply | Promise<HookReply>;

export function raw(status: number, text: string): { status: number; text: string; raw: true } {
  return { status, text, raw: true };
}

export class HookServer {
  readonly calls: HookCall[] = [];
  readonly handlers = new Map<string, HookHandler>();
  private readonly server: Server;
  private readonly waiters = new Set<() => void>();
  port = 0;

  private constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const hook = (req.url ?? '/').slice(1);
        const text = Buffer.concat(chunks).toString('utf8');
        const body = JSON.parse(text) as Record<string, unknown>;
        const call = { hook, body, text, headers: req.headers };
        this.calls.push(call);
        for (const w of this.waiters) w();
        const handler = this.handlers.get(hook);
        if (handler === undefined) return send(res, raw(404, 'no handler'));
        Promise.resolve(handler(body, call)).then(
          (reply) => send(res, reply),
          () => send(res, raw(500, 'handler failed')),
        );
      });
    });
  }

  static async start(): Promise<HookServer> {
    const s = new HookServer();
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.port = (s.server.address() as AddressInfo).port;
    return s;
  }

  url(hook: string): string {
    return `http://127.0.0.1:${this.port}/${hook}`;
  }

  on(hook: string, handler: HookHandler): this {
    this.handlers.set(hook, handler);
    return this;
  }

  callsOf(hook: string): HookCall[] {
    return this.calls.filter((c) => c.hook === hook);
  }

  /** Resolves once `n` calls of `hook` have arrived; rejects after timeoutMs. */
  async until(hook: string, n: number, timeoutMs = 5000): Promise<void> {
    if (this.callsOf(hook).length >= n) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${n} ${hook} calls`));
      }, timeoutMs);
      const check = () => {
        if (this.callsOf(hook).length < n) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function send(res: ServerResponse, reply: HookReply): void {
  if (typeof reply === 'object' && reply !== null && (reply as { raw?: unknown }).raw === true) {
    const { status, text } = reply as { status: number; text: string };
    res.writeHead(status, { 'content-type': 'application/json' }).end(text);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
}

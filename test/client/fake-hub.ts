// A scriptable fake hub for the SDK's unit tests: a real `ws` server on a free port whose
// connections record every command and reply, push or close only when a test says so (connect
// is answered by default), and which can leave upgrades unanswered. Waits are on frames and
// events, never on sleeps.

import { type AddressInfo, type Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { Signal } from './wait.js';

export type Cmd = { id: number; method: string } & Record<string, unknown>;

export class FakeConnection {
  /** Every frame as it arrived (an object, or an array for a batch). */
  readonly raw: unknown[] = [];
  /** Every command, batches flattened, in arrival order. */
  readonly commands: Cmd[] = [];
  /** Commands not yet taken by `next()` or answered automatically. */
  private readonly inbox: Cmd[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  isClosed = false;

  constructor(
    readonly ws: WebSocket,
    readonly index: number,
    private readonly hub: FakeHub,
  ) {
    ws.on('message', (data) => {
      const parsed = JSON.parse(String(data)) as Cmd | Cmd[];
      this.raw.push(parsed);
      for (const cmd of Array.isArray(parsed) ? parsed : [parsed]) {
        this.commands.push(cmd);
        const auto = hub.auto[cmd.method];
        if (auto === undefined || auto(cmd, this) === false) this.inbox.push(cmd);
      }
      hub.notify();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.isClosed = true;
        resolve({ code, reason: String(reason) });
        hub.notify();
      }),
    );
  }

  /** The next command not yet taken (of `method`, when given), waiting for it to arrive. */
  async next(method?: string, timeoutMs = 5000): Promise<Cmd> {
    const find = () => this.inbox.findIndex((c) => method === undefined || c.method === method);
    await this.hub.until(() => find() >= 0, timeoutMs, `a ${method ?? 'command'} on connection ${this.index}`);
    return this.inbox.splice(find(), 1)[0] as Cmd;
  }

  /** Commands of `method` received so far (taken or not). */
  sent(method: string): Cmd[] {
    return this.commands.filter((c) => c.method === method);
  }

  reply(cmd: Cmd, result: unknown = {}): void {
    this.send({ id: cmd.id, result });
  }

  fail(cmd: Cmd, code: string, temporary = false, details?: Record<string, unknown>, message = `${code} (fake)`): void {
    this.send({ id: cmd.id, error: { code, message, temporary, ...(details ? { details } : {}) } });
  }

  push(frame: Record<string, unknown>): void {
    this.send(frame);
  }

  /** One publication push on `channel`. */
  pub(channel: string, offset: number, epoch: string, data: unknown = offset): void {
    this.send({ push: 'pub', channel, offset, epoch, data });
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  close(code: number, reason = ''): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

export type AutoHandler = (cmd: Cmd, conn: FakeConnection) => boolean | void;

export class FakeHub {
  readonly connections: FakeConnection[] = [];
  /** Commands answered without the test's involvement; return false to leave one for `next()` too. */
  readonly auto: Record<string, AutoHandler> = {
    connect: (cmd, conn) => conn.reply(cmd, { client: `c${conn.index}`, user: '', version: 'fake', pingIntervalMs: 25_000 }),
  };
  /** Poked on every frame and close here; tests poke it from client events too (see watch()). */
  readonly signal = new Signal();
  /** While true, upgrade requests get no answer at all: a hub that accepted TCP and then hung. */
  holdUpgrades = false;
  /** Upgrade requests seen, answered or held. */
  upgrades = 0;
  /** The sockets of held upgrades, destroyed on close (the HTTP server would wait for them). */
  private readonly held: Socket[] = [];

  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
  ) {
    server.on('connection', (ws) => {
      this.connections.push(new FakeConnection(ws, this.connections.length, this));
      this.notify();
    });
  }

  static async start(): Promise<FakeHub> {
    // verifyClient runs only for requests to the URL, so never before `hub` exists.
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      verifyClient: (info, accept) => hub.upgrade(info.req.socket, accept),
    });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const hub = new FakeHub(server, `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`);
    return hub;
  }

  private upgrade(socket: Socket, accept: (ok: boolean) => void): void {
    this.upgrades++;
    if (this.holdUpgrades) this.held.push(socket);
    else accept(true);
    this.notify();
  }

  /** The index-th connection (0-based), waiting for it to open. */
  async connection(index: number, timeoutMs = 5000): Promise<FakeConnection> {
    await this.until(() => this.connections.length > index, timeoutMs, `connection ${index}`);
    return this.connections[index] as FakeConnection;
  }

  /** The index-th connection once its connect command has arrived (and been answered, by default). */
  async connected(index: number, timeoutMs = 5000): Promise<FakeConnection> {
    const conn = await this.connection(index, timeoutMs);
    await this.until(() => conn.sent('connect').length > 0, timeoutMs, `connect on connection ${index}`);
    return conn;
  }

  until(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    return this.signal.until(check, timeoutMs, what);
  }

  notify(): void {
    this.signal.notify();
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.terminate();
    for (const s of this.held) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

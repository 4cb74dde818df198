// A TCP proxy for chaos tests, on loopback only: it forwards between clients and a hub and, while
// chaos is on, injures connections at seeded random: kills them, half-opens them (one or both
// directions stop without a close, so only ping and handshake timeouts can notice), delays and
// splits their chunks, and refuses new connections for a while. It stops by itself at its lifetime.

import { isIP, type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/** mulberry32: a tiny seeded PRNG, so a seed replays the same sequence of decisions. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** An independent stream for the n-th thing (a connection, a client), whatever the others draw. */
  static derive(seed: number, n: number): Random {
    const r = new Random((seed ^ Math.imul(n + 1, 0x9e3779b9)) >>> 0);
    r.next();
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }
}

export interface FaultCounts {
  connections: number;
  kills: number;
  /** Links that stopped forwarding in one or both directions without a close. */
  halfOpens: number;
  delays: number;
  /** New connections reset or left hanging (accepted, never forwarded) while refusing. */
  refused: number;
}

export interface ChaosProxyOptions {
  /** The hub; must be a loopback address. */
  target: { host: string; port: number };
  seed: number;
  /** Hard stop: the proxy closes itself (and every connection) after this long. */
  lifetimeMs: number;
  /** Longest hold of a delayed chunk. */
  maxDelayMs?: number;
}

type Mode = 'flow' | 'delay' | 'drop' | 'stall';
/** up: client to hub; down: hub to client. */
export type Direction = 'up' | 'down';

export type Fault =
  | { kind: 'kill' }
  /** drop: read and discard (writes succeed and vanish); stall: stop reading (the sender's buffers fill). */
  | { kind: 'half-open'; mode: 'drop' | 'stall'; directions: Direction[] }
  | { kind: 'delay'; ms: number };

/** One direction of a link: chunks queued in order with their release times. */
class Pipe {
  mode: Mode = 'flow';
  private readonly queue: { at: number; data: Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly random: Random,
    private readonly maxDelayMs: number,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => {
      this.ended = true;
      this.pump();
    });
  }

  set(mode: Mode): void {
    this.mode = mode;
    if (mode === 'drop' || mode === 'stall') {
      this.queue.length = 0;
      clearTimeout(this.timer);
    }
    // A stalled reader lets the kernel buffers fill, so the sender sees backpressure, as on a dead
    // path; a dropped one reads and discards, so the sender sees nothing at all.
    if (mode === 'stall') this.from.pause();
    else if (mode === 'flow') this.pump();
  }

  private push(chunk: Buffer): void {
    if (this.mode === 'drop' || this.mode === 'stall') return;
    if (this.mode === 'flow') {
      this.queue.push({ at: 0, data: chunk });
    } else {
      // Later pieces never overtake earlier ones: release times only grow.
      let at = Math.max(Date.now(), this.queue.at(-1)?.at ?? 0);
      for (let i = 0; i < chunk.length; ) {
        const size = this.random.int(1, Math.max(1, chunk.length - i));
        at += this.random.int(0, this.maxDelayMs);
        this.queue.push({ at, data: chunk.subarray(i, i + size) });
        i += size;
      }
    }
    this.pump();
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.mode === 'drop' || this.mode === 'stall') return;
    const now = Date.now();
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head === undefined) break;
      if (this.mode === 'delay' && head.at > now) {
        this.timer = setTimeout(() => this.pump(), head.at - now);
        return;
      }
      this.queue.shift();
      if (this.to.destroyed) continue;
      if (!this.to.write(head.data) && !this.from.isPaused()) {
        this.from.pause();
        this.to.once('drain', () => this.mode !== 'stall' && this.from.resume());
      }
    }
    if (this.ended && !this.to.destroyed) this.to.end();
  }

  /** The source is gone (a reset, or a close without FIN): end the other side once the queue is out. */
  finish(): void {
    this.ended = true;
    this.pump();
  }

  close(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

/** A client connection and its upstream connection to the hub. */
class Link {
  readonly pipes: Record<Direction, Pipe>;
  /** Once half-open, a close on one side is not passed on: the path is dead, not closed. */
  halfOpen = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    readonly random: Random,
    maxDelayMs: number,
    onGone: (link: Link) => void,
  ) {
    this.pipes = {
      up: new Pipe(client, upstream, random, maxDelayMs),
      down: new Pipe(upstream, client, random, maxDelayMs),
    };
    const closed = (pipe: Pipe) => () => {
      if (!this.halfOpen) pipe.finish();
      if (client.destroyed && upstream.destroyed) {
        this.close();
        onGone(this);
      }
    };
    // A reset or a write after the peer left is an ordinary event here, never a crash.
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('close', closed(this.pipes.up));
    upstream.on('close', closed(this.pipes.down));
  }

  kill(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  close(): void {
    clearTimeout(this.timer);
    this.pipes.up.close();
    this.pipes.down.close();
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export class ChaosProxy {
  readonly counts: FaultCounts = { connections: 0, kills: 0, halfOpens: 0, delays: 0, refused: 0 };
  private readonly links = new Set<Link>();
  /** Sockets accepted while refusing and left hanging: they never reach the hub. */
  private readonly hanging = new Set<Socket>();
  private readonly random: Random;
  private chaosUntil = 0;
  private refusingUntil = 0;
  private refusalTimer: NodeJS.Timeout | undefined;
  private readonly lifetime: NodeJS.Timeout;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly options: Required<ChaosProxyOptions>,
  ) {
    this.random = Random.derive(options.seed, -1);
    this.lifetime = setTimeout(() => void this.close(), options.lifetimeMs);
    this.lifetime.unref();
    server.on('connection', (socket) => this.accept(socket));
  }

  static async start(options: ChaosProxyOptions): Promise<ChaosProxy> {
    const { host } = options.target;
    if (!LOOPBACK.has(host) || (isIP(host) === 0 && host !== 'localhost')) {
      throw new TypeError(`the chaos proxy forwards to loopback only, not ${host}`);
    }
    const server = createServer({ pauseOnConnect: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return new ChaosProxy(server, port, { maxDelayMs: 8, ...options });
  }

  get chaotic(): boolean {
    return Date.now() < this.chaosUntil;
  }

  /** Injures connections for `durationMs` (new and open ones), then forwards faithfully again. */
  startChaos(durationMs: number): void {
    this.chaosUntil = Date.now() + durationMs;
    for (const link of this.links) this.schedule(link);
    this.scheduleRefusal();
  }

  /** No new faults; links already injured stay so until their ends notice. */
  stopChaos(): void {
    this.chaosUntil = 0;
    this.refusingUntil = 0;
    clearTimeout(this.refusalTimer);
  }

  /** Closes the listener and destroys every connection, healthy, hanging or half-open. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.stopChaos();
      clearTimeout(this.lifetime);
      this.server.close(() => resolve());
      for (const link of this.links) {
        link.close();
        link.halfOpen = false;
        link.kill();
      }
      this.links.clear();
      for (const socket of this.hanging) socket.destroy();
      this.hanging.clear();
    });
    return this.closing;
  }

  /** Open links, for tests of the proxy itself. */
  get openLinks(): number {
    return this.links.size;
  }

  private accept(client: Socket): void {
    const n = this.counts.connections++;
    if (this.closing !== undefined) {
      client.destroy();
      return;
    }
    if (Date.now() < this.refusingUntil) {
      this.counts.refused++;
      client.on('error', () => undefined);
      // Either the port looks closed, or it accepts and never answers (only a handshake timeout
      // gets the client out).
      if (this.random.chance(0.5)) {
        client.resetAndDestroy();
      } else {
        this.hanging.add(client);
        client.on('close', () => this.hanging.delete(client));
        client.resume();
      }
      return;
    }
    client.setNoDelay(true);
    const upstream = connect({ host: this.options.target.host, port: this.options.target.port });
    upstream.setNoDelay(true);
    const link = new Link(client, upstream, Random.derive(this.options.seed, n), this.options.maxDelayMs, (l) =>
      this.links.delete(l),
    );
    this.links.add(link);
    if (this.chaotic) this.schedule(link);
  }

  /** The link's next fault; a good share land within the handshake. */
  private schedule(link: Link): void {
    clearTimeout(link.timer);
    const r = link.random;
    const wait = r.chance(0.25) ? r.int(0, 30) : r.int(50, 1500);
    link.timer = setTimeout(() => this.injure(link), wait);
  }

  private injure(link: Link): void {
    if (!this.chaotic || !this.links.has(link)) return;
    const r = link.random;
    const roll = r.next();
    if (roll < 0.35) this.apply(link, { kind: 'kill' });
    else if (roll < 0.65) {
      const mode = r.chance(0.5) ? 'drop' : 'stall';
      this.apply(link, { kind: 'half-open', mode, directions: r.pick<Direction[]>([['up'], ['down'], ['up', 'down']]) });
    } else this.apply(link, { kind: 'delay', ms: r.int(100, 1200) });
  }

  /** Injures every open link now, chaos or not (tests of the proxy itself). */
  injureAll(fault: Fault): void {
    for (const link of this.links) this.apply(link, fault);
  }

  /** Refuses new connections for `ms` from now. */
  refuse(ms: number): void {
    this.refusingUntil = Date.now() + ms;
  }

  private apply(link: Link, fault: Fault): void {
    clearTimeout(link.timer);
    if (fault.kind === 'kill') {
      this.counts.kills++;
      link.kill();
    } else if (fault.kind === 'half-open') {
      this.counts.halfOpens++;
      link.halfOpen = true;
      for (const d of fault.directions) link.pipes[d].set(fault.mode);
    } else {
      this.counts.delays++;
      link.pipes.up.set('delay');
      link.pipes.down.set('delay');
      link.timer = setTimeout(() => {
        link.pipes.up.set('flow');
        link.pipes.down.set('flow');
        if (this.chaotic) this.schedule(link);
      }, fault.ms);
    }
  }

  private scheduleRefusal(): void {
    clearTimeout(this.refusalTimer);
    if (!this.chaotic) return;
    this.refusalTimer = setTimeout(
      () => {
        if (!this.chaotic) return;
        const ms = this.random.int(100, 700);
        this.refuse(ms);
        this.refusalTimer = setTimeout(() => this.scheduleRefusal(), ms);
      },
      this.random.int(300, 1500),
    );
  }
}

// The operator console's server side: the door for its WebSocket (tickets, the internal channel)
// and the numbers each node publishes there while a console watches. A node with a console
// subscribed publishes its own numbers and, through the control channel every node hears, wakes
// the other nodes so each publishes its own too; with nobody watching, nothing runs.

import { type NamespaceConfig, namespaceSchema } from '../config/index.js';
import type { Engine } from '../engine/types.js';
import type { Hub, OperatorDoor } from '../hub.js';
import type { Logger } from '../observability/index.js';
import type { Clock } from '../util/clock.js';
import { type NodeNumbers, read, rates, type Reading } from './numbers.js';
import { Tickets } from './tickets.js';

/** The console's channel: `$` keeps it out of every client's reach (no namespace starts with it). */
export const CONSOLE_CHANNEL = '$hubbub:console';
const WATCH_OP = 'console-watch';
/** A node woken by another keeps publishing this long after the last wake-up. */
const WATCH_TTL_MS = 12_000;
const PING_TIMEOUT_MS = 1000;

export interface ConsoleOptions {
  statsIntervalMs: number;
  /** This node's name in the console (host:port), read at each publish: the port is known once listening. */
  node: { readonly name: string };
}

export class OperatorConsole implements OperatorDoor {
  readonly channels: ReadonlyMap<string, NamespaceConfig> = new Map([[CONSOLE_CHANNEL, namespaceSchema.parse({})]]);
  private readonly tickets: Tickets;
  private timer: NodeJS.Timeout | undefined;
  private watchedUntil = 0;
  private last: Reading | undefined;
  private ticks = 0;
  private busy = false;
  private readonly startedAt: number;

  constructor(
    private readonly hub: Hub,
    private readonly engine: Engine,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly options: ConsoleOptions,
  ) {
    this.tickets = new Tickets(clock);
    this.startedAt = clock.now();
    hub.onInterest((channel, active) => {
      if (channel === CONSOLE_CHANNEL && active) this.wake();
    });
  }

  admit(token: string): boolean {
    return this.tickets.take(token);
  }

  ticket(): string {
    return this.tickets.issue();
  }

  control(message: Record<string, unknown>): void {
    if (message.op !== WATCH_OP) return;
    this.watchedUntil = this.clock.now() + WATCH_TTL_MS;
    this.wake();
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private watchedHere(): boolean {
    return this.hub.localSubscribers(CONSOLE_CHANNEL) > 0;
  }

  private wake(): void {
    if (this.timer !== undefined) return;
    this.last = undefined;
    this.ticks = 0;
    this.timer = setInterval(() => void this.tick(), this.options.statsIntervalMs);
    this.timer.unref();
    void this.tick();
  }

  private async tick(): Promise<void> {
    const here = this.watchedHere();
    if (!here && this.clock.now() >= this.watchedUntil) return this.close();
    if (this.busy) return;
    this.busy = true;
    try {
      // Every few seconds, so the other nodes keep publishing while this console watches.
      if (here && this.ticks++ % 4 === 0) await this.hub.publishControl({ op: WATCH_OP });
      await this.engine.publish(CONSOLE_CHANNEL, JSON.stringify(await this.numbers()));
    } catch (err) {
      this.log.warn({ err }, 'console: publishing this node\'s numbers failed');
    } finally {
      this.busy = false;
    }
  }

  /** This node's numbers; the first reading after waking has no rates yet (zeros). */
  private async numbers(): Promise<NodeNumbers> {
    const at = this.clock.now();
    const { reading, errors, closes } = await read(this.hub.metrics, at);
    const prev = this.last;
    this.last = reading;
    const engine = await this.engineStatus();
    const stats = this.hub.stats();
    return {
      node: this.options.node.name,
      at,
      uptimeMs: at - this.startedAt,
      connections: stats.connections,
      channels: stats.channels,
      subscriptions: stats.subscriptions,
      ...(prev === undefined ? rates(reading, reading) : rates(prev, reading)),
      errors,
      slowConsumerCloses: closes['4001'] ?? 0,
      rateLimitCloses: closes['4002'] ?? 0,
      engine,
    };
  }

  private async engineStatus(): Promise<NodeNumbers['engine']> {
    const kind = this.engine.kind;
    try {
      await Promise.race([
        this.engine.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS).unref()),
      ]);
      return { kind, ok: true, stats: await this.engine.stats() };
    } catch (err) {
      return { kind, ok: false, error: err instanceof Error ? err.message : String(err), stats: {} };
    }
  }
}

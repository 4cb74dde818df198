// One connection's state: who it is, what it is subscribed to, its rate limiters. It parses and
// admits inbound frames (rate limits, batching) and hands typed commands to the hub; the hub
// decides everything about channels.

import type { NamespaceConfig } from './config/index.js';
import type { ClientInfo, StreamPosition } from './engine/types.js';
import {
  CloseCodes,
  type Command,
  disconnectFrame,
  errorFrame,
  HubError,
  parseFrame,
  shouldReconnect,
} from './protocol/index.js';
import { Capabilities } from './auth/index.js';
import { TokenBucket } from './ratelimit/index.js';
import type { Connection, ConnectionListener } from './transport/types.js';
import type { Clock } from './util/clock.js';

export interface SessionLimits {
  commands: { rate: number; periodMs: number; burst: number };
  bytes: { rate: number; periodMs: number; burst: number };
  rejectionsBeforeClose: number;
  maxDepth: number;
}

/** A reply frame, and what must happen right after it is written (a subscription going live). */
export interface Reply {
  frame: string;
  after?: () => void;
  /** Refused for rate: counts toward `rejectionsBeforeClose`. */
  rateLimited?: boolean;
}

const DRAIN_POLL_MS = 100;

/** A command let in to run, or the reply it got without running (invalid, rate limited). */
type Admitted = { command: Command; reply?: undefined } | { reply: Reply; command?: undefined };

/** What the session needs from the hub. */
export interface CommandHandler {
  /** Handles one admitted command; never rejects. */
  handle(session: Session, command: Command): Promise<Reply>;
  closed(session: Session, code: number, reason: string): void;
  /** A connection is connected without a connect command (a protocol that has none, e.g. Pusher's). */
  opened?(session: Session): void;
  /** A text frame came in (for metrics). */
  received?(bytes: number, commands: number): void;
  /** Handling this connection threw: log and count it; the session then closes with 1011. */
  failed(session: Session, err: unknown): void;
}

export interface Subscription {
  readonly channel: string;
  readonly namespace: NamespaceConfig;
  /**
   * Until the subscribe reply (and any recovery that follows it) is written, live publications
   * wait here (frame and offset), with their total size.
   */
  pending: { offset: number; epoch: string; frame: string }[] | undefined;
  pendingBytes: number;
  /**
   * Written and live, but the engine's feed has not yet passed the position the reply gave: the
   * subscriber joins the channel's topic at the first publication above it, so nothing it already
   * has is pushed again.
   */
  floor: StreamPosition | undefined;
  /** Its presence entry was added (and so must be removed). */
  present: boolean;
  /** How presence shows this subscriber, when the subscribe hook gave it its own `info`. */
  member?: ClientInfo;
  /** Made by the server (connect answer, token, personal channel, API): the client cannot end it. */
  server?: boolean;
  joinLeave: boolean;
}

export class Session implements ConnectionListener {
  info: ClientInfo;
  connected = false;
  /** What this connection may do, by channel; everything until auth says otherwise. */
  caps: Capabilities = Capabilities.all;
  /** When its token expires (ms since the epoch), and the timers that warn and then close. */
  expiresAt: number | undefined;
  readonly authTimers: NodeJS.Timeout[] = [];
  readonly openedAt: number;
  /** The upgrade request's headers that proxy hooks forward (Cookie, Authorization, ...). */
  headers: Readonly<Record<string, string>> = {};
  /** Authenticated by the connect hook: its expiry is renewed by the refresh hook, not by tokens. */
  proxied = false;
  /** Channels the server subscribes it to at connect (connect hook answer, token `channels` claim). */
  serverChannels: readonly string[] = [];
  readonly subscriptions = new Map<string, Subscription>();
  /** Per-namespace publish limiters, made on first use (most connections never publish). */
  private publishLimits: Map<string, TokenBucket> | undefined;
  private readonly commandBucket: TokenBucket;
  private readonly byteBucket: TokenBucket;
  private rejectionsInARow = 0;
  private ended = false;
  private drainWaiters: (() => void)[] | undefined;

  constructor(
    readonly conn: Connection,
    clientId: string,
    private readonly handler: CommandHandler,
    private readonly limits: SessionLimits,
    readonly clock: Clock,
  ) {
    this.info = { client: clientId, user: '' };
    this.openedAt = clock.now();
    this.commandBucket = new TokenBucket(limits.commands, clock);
    this.byteBucket = new TokenBucket(limits.bytes, clock);
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  onText(frame: string): void {
    if (this.ended) return;
    try {
      this.admit(frame);
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Limits are charged before anything is answered, so invalid or oversized frames cost what valid
   * ones do: every frame its bytes, every command in it (valid or not) one command token.
   */
  private admit(frame: string): void {
    // A frame larger than the byte burst could never pass: charge it the whole burst instead.
    const cost = Math.min(frame.length, this.limits.bytes.burst);
    const bytesOk = this.byteBucket.take(cost);
    const parsed = parseFrame(frame, this.limits.maxDepth);
    this.handler.received?.(frame.length, parsed.kind === 'close' ? 0 : parsed.items.length);
    if (parsed.kind === 'close') {
      this.close(parsed.code, parsed.reason);
      return;
    }
    // Admission is decided for the whole frame at once; running is one command at a time.
    const admitted: Admitted[] = [];
    for (const item of parsed.items) {
      if (!bytesOk || !this.commandBucket.take()) {
        this.rejectionsInARow++;
        admitted.push({ reply: { frame: this.rateLimited(item.id, bytesOk, cost) } });
      } else if ('error' in item) {
        admitted.push({ reply: { frame: errorFrame(item.id, item.error) } });
      } else {
        admitted.push({ command: item });
      }
    }
    if (this.rejectionsInARow >= this.limits.rejectionsBeforeClose) {
      this.close(CloseCodes.rate_limited, 'rate limit exceeded repeatedly; slow down and reconnect');
      return;
    }
    if (!parsed.batch) {
      const only = admitted[0] as Admitted;
      if (only.reply !== undefined) this.send(only.reply.frame);
      else this.handler.handle(this, only.command).then((reply) => this.deliver(reply)).catch((err: unknown) => this.fail(err));
      return;
    }
    this.runBatch(admitted).catch((err: unknown) => this.fail(err));
  }

  /**
   * A batch runs in order and gets one array frame with every reply; then what follows each reply.
   * It stops at the first command after its connection closed: nothing runs for a dead session.
   */
  private async runBatch(items: Admitted[]): Promise<void> {
    const replies: Reply[] = [];
    for (const item of items) {
      if (this.ended) return;
      const reply = item.reply ?? (await this.handler.handle(this, item.command));
      if (item.command !== undefined) this.counted(reply);
      replies.push(reply);
    }
    if (this.ended) return;
    this.send(`[${replies.map((r) => r.frame).join(',')}]`);
    for (const reply of replies) reply.after?.();
    this.closeIfRejectedTooOften();
  }

  private deliver(reply: Reply): void {
    this.counted(reply);
    this.send(reply.frame);
    reply.after?.();
    this.closeIfRejectedTooOften();
  }

  /** Refusals for rate (the connection's, or a namespace's publish rate) in a row close it. */
  private counted(reply: Reply): void {
    if (reply.rateLimited === true) this.rejectionsInARow++;
    else this.rejectionsInARow = 0;
  }

  private closeIfRejectedTooOften(): void {
    if (this.rejectionsInARow >= this.limits.rejectionsBeforeClose) {
      this.close(CloseCodes.rate_limited, 'rate limit exceeded repeatedly; slow down and reconnect');
    }
  }

  /** A bug while handling this connection ends this connection only, with 1011. */
  private fail(err: unknown): void {
    this.handler.failed(this, err);
    if (this.ended) return;
    try {
      this.close(CloseCodes.internal_error, 'internal error; reconnect');
    } catch {
      // The socket itself is broken: the transport's close event still ends the session.
    }
  }

  onBinary(): void {
    this.close(CloseCodes.bad_frame, 'binary frames are not supported; send JSON text frames');
  }

  onDrain(): void {
    const waiting = this.drainWaiters;
    if (waiting === undefined) return;
    this.drainWaiters = undefined;
    for (const resolve of waiting) resolve();
  }

  /**
   * Resolves when the connection's send queue drained, or after a short while (its queue may have
   * been filled by topic publications, for which no drain is owed), or when it closed.
   */
  drained(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.onDrain(), DRAIN_POLL_MS);
      (this.drainWaiters ??= []).push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  onClose(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.clearAuthTimers();
    this.onDrain();
    try {
      this.handler.closed(this, code, reason);
    } catch (err) {
      this.handler.failed(this, err);
    }
  }

  clearAuthTimers(): void {
    for (const t of this.authTimers) clearTimeout(t);
    this.authTimers.length = 0;
  }

  send(frame: string): void {
    if (!this.ended) this.conn.send(frame);
  }

  /** Tells the client why, then closes. */
  close(code: number, reason: string): void {
    if (this.ended) return;
    this.conn.send(disconnectFrame(code, reason, shouldReconnect(code)));
    this.conn.close(code, reason);
  }

  publishAllowed(namespace: string, policy: NamespaceConfig['publishRate']): boolean {
    if (policy === undefined) return true;
    this.publishLimits ??= new Map();
    let bucket = this.publishLimits.get(namespace);
    if (bucket === undefined) {
      bucket = new TokenBucket(policy, this.clock);
      this.publishLimits.set(namespace, bucket);
    }
    return bucket.take();
  }

  publishRetryAfterMs(namespace: string): number {
    return this.publishLimits?.get(namespace)?.retryAfterMs() ?? 0;
  }

  private rateLimited(id: number, bytesOk: boolean, bytes: number): string {
    const retryAfterMs = bytesOk ? this.commandBucket.retryAfterMs() : this.byteBucket.retryAfterMs(bytes);
    const what = bytesOk ? 'too many commands' : 'too many bytes';
    return errorFrame(
      id,
      new HubError('rate_limited', `${what} on this connection; retry after retryAfterMs`, { retryAfterMs }),
    );
  }
}

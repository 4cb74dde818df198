// This node's subscriptions to Redis pub/sub topics. It follows local interest (subscribe on the
// first local subscriber, unsubscribe after the last), sends the SUBSCRIBEs asked for in one tick
// as one command, and after the connection comes back it subscribes to everything again and says
// which topics it restored, because messages published meanwhile were lost and must be looked for.

import type { Redis } from 'ioredis';
import type { Logger } from '../../observability/index.js';

/** Topics per (S)SUBSCRIBE command: one command per tick, but not an unbounded one. */
const BATCH = 500;

export interface PubSubHooks {
  onMessage(topic: string, message: string): void;
  /** The connection dropped: messages are being lost from now until onResubscribed. */
  onDown(): void;
  /** These topics are subscribed again after the connection was lost: messages may have been missed. */
  onResubscribed(topics: readonly string[]): void;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
  readonly promise: Promise<void>;
}

function waiter(): Waiter {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { resolve, reject, promise };
}

export class PubSubLink {
  /** Topics with local interest. */
  private readonly wanted = new Set<string>();
  /** Topics subscribed (or being subscribed) on the current connection. */
  private readonly sent = new Set<string>();
  /** Acknowledgements not received yet, by topic. */
  private readonly acks = new Map<string, Promise<void>>();
  private readonly toAdd = new Map<string, Waiter>();
  private readonly toRemove = new Map<string, Waiter>();
  private flushQueued = false;
  private everReady = false;
  /** Resubscriptions after a reconnect not yet acknowledged: until then the link is not up. */
  private resubscribing = 0;
  private readonly subscribeCommand: (topics: string[]) => Promise<unknown>;
  private readonly unsubscribeCommand: (topics: string[]) => Promise<unknown>;

  constructor(
    private readonly redis: Redis,
    readonly sharded: boolean,
    private readonly hooks: PubSubHooks,
    private readonly log: Logger,
  ) {
    this.subscribeCommand = sharded ? (t) => redis.ssubscribe(...t) : (t) => redis.subscribe(...t);
    this.unsubscribeCommand = sharded ? (t) => redis.sunsubscribe(...t) : (t) => redis.unsubscribe(...t);
    redis.on(sharded ? 'smessage' : 'message', (topic: string, message: string) => hooks.onMessage(topic, message));
    // Subscriptions die with the connection; what was in flight is rejected by ioredis.
    redis.on('close', () => {
      this.sent.clear();
      this.acks.clear();
      hooks.onDown();
    });
    redis.on('ready', () => {
      if (this.everReady) this.resubscribeAll();
      this.everReady = true;
    });
    if (redis.status === 'ready') this.everReady = true;
  }

  /** Connected, and every topic of interest subscribed again after the last reconnect. */
  get up(): boolean {
    return this.redis.status === 'ready' && this.resubscribing === 0;
  }

  get topicCount(): number {
    return this.wanted.size;
  }

  /** Resolves once Redis acknowledged the subscription. */
  add(topic: string): Promise<void> {
    this.wanted.add(topic);
    const removal = this.toRemove.get(topic);
    if (removal !== undefined) {
      // Not sent yet: cancelled, the subscription simply stays.
      this.toRemove.delete(topic);
      removal.resolve();
    }
    const ack = this.acks.get(topic);
    if (ack !== undefined) return ack;
    if (this.sent.has(topic)) return Promise.resolve();
    let w = this.toAdd.get(topic);
    if (w === undefined) {
      w = waiter();
      this.toAdd.set(topic, w);
      this.queueFlush();
    }
    return w.promise;
  }

  /**
   * Resolves once Redis acknowledged the unsubscribe (or at once when there is nothing to undo):
   * messages received until then were published before it, and are still delivered.
   */
  remove(topic: string): Promise<void> {
    this.wanted.delete(topic);
    const w = this.toAdd.get(topic);
    if (w !== undefined) {
      // Never sent: nothing to undo.
      this.toAdd.delete(topic);
      w.resolve();
      return Promise.resolve();
    }
    if (!this.sent.has(topic)) return Promise.resolve();
    let removal = this.toRemove.get(topic);
    if (removal === undefined) {
      removal = waiter();
      this.toRemove.set(topic, removal);
      this.queueFlush();
    }
    return removal.promise;
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.toRemove.size > 0) {
      const batch = [...this.toRemove];
      this.toRemove.clear();
      for (const [topic] of batch) {
        this.sent.delete(topic);
        this.acks.delete(topic);
      }
      for (let i = 0; i < batch.length; i += BATCH) {
        const chunk = batch.slice(i, i + BATCH);
        const done = () => {
          for (const [, w] of chunk) w.resolve();
        };
        if (!this.up) {
          done();
          continue;
        }
        // Commands on one connection run in order, so a later SUBSCRIBE of the same topic wins. A
        // failure needs nothing: a dead connection has no subscriptions, and stray messages on a
        // live one are dropped for want of interest.
        this.unsubscribeCommand(chunk.map(([topic]) => topic)).then(done, (err: unknown) => {
          this.log.debug({ err }, 'Redis unsubscribe failed');
          done();
        });
      }
    }
    if (this.toAdd.size > 0) {
      const batch = [...this.toAdd];
      this.toAdd.clear();
      for (let i = 0; i < batch.length; i += BATCH) this.send(batch.slice(i, i + BATCH));
    }
  }

  private send(batch: [string, Waiter][]): void {
    const topics = batch.map(([topic]) => topic);
    for (const topic of topics) this.sent.add(topic);
    const ack = this.subscribeCommand(topics).then(() => undefined);
    for (const topic of topics) this.acks.set(topic, ack);
    ack.then(
      () => {
        for (const [topic, w] of batch) {
          if (this.acks.get(topic) === ack) this.acks.delete(topic);
          w.resolve();
        }
      },
      (err: unknown) => {
        for (const [topic, w] of batch) {
          if (this.acks.get(topic) === ack) {
            this.acks.delete(topic);
            this.sent.delete(topic);
          }
          w.reject(err);
        }
      },
    );
  }

  private resubscribeAll(): void {
    const topics = [...this.wanted].filter((t) => !this.sent.has(t) && !this.toAdd.has(t));
    if (topics.length === 0) return;
    this.log.info({ topics: topics.length }, 'resubscribing to Redis pub/sub topics');
    for (let i = 0; i < topics.length; i += BATCH) {
      const chunk = topics.slice(i, i + BATCH);
      for (const topic of chunk) this.sent.add(topic);
      this.resubscribing++;
      this.subscribeCommand(chunk).then(
        () => {
          this.resubscribing--;
          this.hooks.onResubscribed(chunk.filter((t) => this.wanted.has(t)));
        },
        (err: unknown) => {
          this.resubscribing--;
          // Usually the connection dropped again, and its next 'ready' starts over. If it is still
          // up, Redis refused: reconnect, rather than leave these topics silently unsubscribed.
          if (this.redis.status !== 'ready') return;
          this.log.warn({ err, topics: chunk.length }, 'Redis refused a resubscription; reconnecting');
          this.redis.disconnect(true);
        },
      );
    }
  }
}

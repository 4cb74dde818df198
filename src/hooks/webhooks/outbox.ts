// The webhook outbox: events queue here (bounded: when full, new events are dropped, counted and
// logged, and the hub never waits), go out in batches within a short window, one request at a
// time so the receiver sees them in order, and a batch is retried with backoff on 5xx, timeouts
// and network errors. What the request looks like is the format's business (see format.ts).

import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, Metrics } from '../../observability/index.js';
import { agentFor, post } from '../http-post.js';
import type { WebhookEvent } from './events.js';
import type { WebhookFormat } from './format.js';

export interface OutboxOptions {
  url: string;
  batchWindowMs: number;
  maxBatch: number;
  maxQueued: number;
  timeoutMs: number;
  retries: number;
  retryBaseMs: number;
}

const MAX_RETRY_DELAY_MS = 30_000;
/** At most one "outbox full" log line per this long (with the count dropped meanwhile). */
const DROP_LOG_INTERVAL_MS = 5000;

export class WebhookOutbox {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private queue: WebhookEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  /** Aborts backoff sleeps and requests at close. */
  private readonly stopping = new AbortController();
  private droppedSinceLog = 0;
  private lastDropLog = 0;

  constructor(
    private readonly format: WebhookFormat,
    private readonly options: OutboxOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.url = new URL(options.url);
    this.agent = agentFor(this.url, 1);
  }

  /** Events waiting to be sent. */
  get queued(): number {
    return this.queue.length;
  }

  /** Queues an event; never blocks, never throws. */
  push(event: WebhookEvent): void {
    if (this.stopping.signal.aborted) return;
    if (this.queue.length >= this.options.maxQueued) {
      this.dropped('dropped_full', 1);
      return;
    }
    this.queue.push(event);
    this.metrics.webhookQueued.set({ format: this.format.name }, this.queue.length);
    if (this.sending === undefined && this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.options.batchWindowMs);
    }
  }

  /**
   * Sends what is queued once more, without retries, then stops: the last events (connections
   * closed by the shutdown) still go out when the receiver is up, and shutdown is never held
   * longer than one timeout per batch.
   */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopping.abort();
    await this.sending;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      if ((await this.attempt(batch, randomUUID())) !== true) {
        this.dropped('dropped_failed', batch.length + this.queue.length);
        this.queue = [];
      }
    }
    this.agent.destroy();
  }

  private flush(): void {
    this.timer = undefined;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      if (this.queue.length > 0 && !this.stopping.signal.aborted) {
        this.timer = setTimeout(() => this.flush(), this.options.batchWindowMs);
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.stopping.signal.aborted) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.metrics.webhookQueued.set({ format: this.format.name }, this.queue.length);
      await this.deliver(batch);
    }
  }

  /** One batch, retried with exponential backoff (full jitter) until it is taken or attempts run out. */
  private async deliver(batch: WebhookEvent[]): Promise<void> {
    const batchId = randomUUID();
    let delay = this.options.retryBaseMs;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(batch, batchId);
      if (outcome === true) return;
      if (outcome === 'permanent' || attempt >= this.options.retries || this.stopping.signal.aborted) {
        if (this.stopping.signal.aborted && outcome !== 'permanent') {
          // Shutting down: close() sends it once more.
          this.queue.unshift(...batch);
          return;
        }
        this.dropped('dropped_failed', batch.length);
        return;
      }
      try {
        await sleep(Math.random() * delay, undefined, { signal: this.stopping.signal });
      } catch {
        this.queue.unshift(...batch);
        return;
      }
      delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
    }
  }

  /** True when the receiver took it; false to retry; 'permanent' for a 4xx (retrying would not help). */
  private async attempt(batch: WebhookEvent[], batchId: string): Promise<true | false | 'permanent'> {
    const { body, headers } = this.format.encode(batch, batchId, Date.now());
    headers['content-length'] = String(Buffer.byteLength(body));
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    const name = this.format.name;
    try {
      const { status } = await post(this.url, this.agent, headers, body, signal);
      if (status >= 200 && status < 300) {
        this.metrics.webhookRequests.inc({ format: name, result: 'ok' });
        this.metrics.webhookEvents.inc({ format: name, outcome: 'sent' }, batch.length);
        return true;
      }
      const retry = status >= 500 || status === 408 || status === 429;
      this.metrics.webhookRequests.inc({ format: name, result: retry ? 'retry' : 'failed' });
      this.log.warn({ webhook: name, status, events: batch.length, batchId }, 'webhook receiver refused a batch');
      return retry ? false : 'permanent';
    } catch (err) {
      this.metrics.webhookRequests.inc({ format: name, result: 'retry' });
      this.log.warn({ webhook: name, reason: String(err), events: batch.length, batchId }, 'webhook request failed');
      return false;
    }
  }

  private dropped(outcome: 'dropped_full' | 'dropped_failed', n: number): void {
    this.metrics.webhookEvents.inc({ format: this.format.name, outcome }, n);
    if (outcome === 'dropped_failed') {
      this.log.error({ webhook: this.format.name, events: n }, 'webhook events dropped: every attempt to deliver them failed');
      return;
    }
    this.droppedSinceLog += n;
    const now = Date.now();
    if (now - this.lastDropLog >= DROP_LOG_INTERVAL_MS) {
      this.log.error(
        { webhook: this.format.name, events: this.droppedSinceLog, maxQueued: this.options.maxQueued },
        'webhook outbox full: events dropped (the receiver is slow or down)',
      );
      this.droppedSinceLog = 0;
      this.lastDropLog = now;
    }
  }
}

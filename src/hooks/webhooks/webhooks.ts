// The hub's side of webhooks: it reports what happened (a connection opened, a member joined, its
// own first or last local subscriber of a channel), and this decides which events are wanted and
// queues them. channel_occupied / channel_vacated are cluster-wide facts: with an engine shared by
// several nodes they come from its atomic count of nodes holding subscribers, so exactly one node
// sees the count reach 1 (or 0) and sends the event.

import { randomUUID } from 'node:crypto';
import type { WebhookEventName, WebhooksConfig } from '../../config/index.js';
import type { ClientInfo, Engine } from '../../engine/types.js';
import type { Logger, Metrics } from '../../observability/index.js';
import type { WebhookEvent } from './events.js';
import { HubbubWebhookFormat, type WebhookFormat } from './format.js';
import { WebhookOutbox } from './outbox.js';

type EventFields = Omit<WebhookEvent, 'id' | 'time'>;

/** Another webhook sender (protocols/pusher's, in Pusher's format) told the same channel and member facts. */
export interface WebhookObserver {
  member(event: 'member_added' | 'member_removed', channel: string, member: ClientInfo): void;
  channelHere(channel: string, present: boolean): void;
  close(): Promise<void>;
}

export class Webhooks {
  private readonly outbox: WebhookOutbox | undefined;
  private readonly wanted: ReadonlySet<WebhookEventName>;
  private readonly observers: WebhookObserver[] = [];

  constructor(
    config: WebhooksConfig,
    private readonly engine: Engine,
    metrics: Metrics,
    private readonly log: Logger,
    format?: WebhookFormat,
  ) {
    const { url, secret } = config;
    if (url === undefined || secret === undefined) {
      this.wanted = new Set();
      return;
    }
    this.wanted = new Set(config.events);
    this.outbox = new WebhookOutbox(format ?? new HubbubWebhookFormat(secret), { ...config, url }, metrics, log);
  }

  observe(observer: WebhookObserver): void {
    this.observers.push(observer);
  }

  wants(event: WebhookEventName): boolean {
    return this.wanted.has(event);
  }

  emit(fields: EventFields): void {
    if (this.outbox === undefined || !this.wanted.has(fields.event)) return;
    this.outbox.push({ id: randomUUID(), time: Date.now(), ...fields });
  }

  member(event: 'member_added' | 'member_removed', channel: string, member: ClientInfo): void {
    for (const observer of this.observers) observer.member(event, channel, member);
    if (!this.wanted.has(event)) return;
    this.emit({ event, channel, client: member.client, user: member.user, ...(member.info === undefined ? {} : { info: member.info }) });
  }

  /** This node got its first local subscriber of `channel` (present) or lost its last one. */
  channelHere(channel: string, present: boolean): void {
    for (const observer of this.observers) observer.channelHere(channel, present);
    const event = present ? 'channel_occupied' : 'channel_vacated';
    if (!this.wanted.has('channel_occupied') && !this.wanted.has('channel_vacated')) return;
    if (this.engine.occupancy === undefined) {
      this.emit({ event, channel });
      return;
    }
    this.engine.occupancy(channel, present ? 1 : -1).then(
      (nodes) => {
        if (nodes === (present ? 1 : 0)) this.emit({ event, channel });
      },
      (err: unknown) => this.log.error({ err, channel, event }, 'occupancy count failed; the webhook event is not sent'),
    );
  }

  /** Sends what is queued once more (bounded), then stops. */
  async close(): Promise<void> {
    await Promise.all([this.outbox?.close(), ...this.observers.map((o) => o.close())]);
  }
}

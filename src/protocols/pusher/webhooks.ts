// Pusher's webhooks, through the hub's webhook outbox (batching, bounded queue, retries): one
// outbox per app that has a URL, Pusher's body and signature. Told of channels and members by the
// hub's webhooks (as an observer) and of client events by the Pusher sessions. Members are users:
// member_added when a user's first connection joins a channel, member_removed after its last.

import { createHmac } from 'node:crypto';
import type { Config, PusherAppConfig, WebhookEventName } from '../../config/index.js';
import type { ClientInfo, Engine } from '../../engine/types.js';
import { type WebhookEvent, type WebhookFormat, type WebhookObserver, type WebhookRequest, Webhooks } from '../../hooks/index.js';
import type { Logger, Metrics } from '../../observability/index.js';
import { appPrefixes, pusherChannel } from './names.js';

type PusherEventName = PusherAppConfig['webhooks']['events'][number];

/** Client events travel through the outbox as `publication` events (the outbox's own vocabulary). */
const OUTBOX_NAME: Record<PusherEventName, WebhookEventName> = {
  channel_occupied: 'channel_occupied',
  channel_vacated: 'channel_vacated',
  member_added: 'member_added',
  member_removed: 'member_removed',
  client_event: 'publication',
};

/** `{"time_ms": ..., "events": [...]}`, signed with the app secret over the body (X-Pusher-Signature). */
export class PusherWebhookFormat implements WebhookFormat {
  readonly name = 'pusher';

  constructor(private readonly app: PusherAppConfig) {}

  encode(events: readonly WebhookEvent[], _batchId: string, now: number): WebhookRequest {
    const body = JSON.stringify({ time_ms: now, events: events.map(pusherEvent) });
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'x-pusher-key': this.app.key,
        'x-pusher-signature': createHmac('sha256', this.app.secret).update(body).digest('hex'),
      },
    };
  }
}

function pusherEvent(e: WebhookEvent): Record<string, unknown> {
  const channel = e.channel ?? '';
  switch (e.event) {
    case 'member_added':
    case 'member_removed':
      return { name: e.event, channel, user_id: e.user };
    case 'publication': {
      const { event, data } = JSON.parse(e.data ?? '{}') as { event?: string; data?: unknown };
      const user = e.from?.user;
      return {
        name: 'client_event',
        channel,
        event,
        data: typeof data === 'string' ? data : JSON.stringify(data ?? null),
        socket_id: e.from?.client,
        ...(user !== undefined && user !== '' && channel.startsWith('presence-') ? { user_id: user } : {}),
      };
    }
    default:
      return { name: e.event, channel };
  }
}

export class PusherWebhooks implements WebhookObserver {
  /** Each app with webhooks, by the hub namespaces its channels live in. */
  private readonly byNamespace = new Map<string, Webhooks>();
  private readonly all: Webhooks[] = [];
  /** Facts are reported in the order they happened, though some need an engine read first. */
  private order: Promise<void> = Promise.resolve();

  constructor(
    config: Config,
    private readonly engine: Engine,
    metrics: Metrics,
    private readonly log: Logger,
  ) {
    for (const app of config.pusher.apps) {
      const { url, events } = app.webhooks;
      if (url === undefined) continue;
      const outbox = { ...config.webhooks, url, secret: app.secret, events: events.map((e) => OUTBOX_NAME[e]) };
      const hooks = new Webhooks(outbox, engine, metrics, log, new PusherWebhookFormat(app));
      this.all.push(hooks);
      for (const prefix of appPrefixes(app.id)) this.byNamespace.set(prefix.slice(0, -1), hooks);
    }
  }

  get enabled(): boolean {
    return this.all.length > 0;
  }

  channelHere(channel: string, present: boolean): void {
    const hooks = this.hooksOf(channel);
    const event = present ? 'channel_occupied' : 'channel_vacated';
    if (hooks === undefined || !hooks.wants(event)) return;
    const fields = { event, channel: pusherChannel(channel) } as const;
    const { occupancy } = this.engine;
    // Across nodes, only the node that takes the count to 1 (or 0) sends it: a count of its own,
    // apart from the hub's (which counts only when the hub's webhooks want these events).
    const count = occupancy === undefined ? undefined : occupancy.call(this.engine, `pusher-webhooks|${channel}`, present ? 1 : -1);
    // Awaited in turn below; handled now, so a failure waiting its turn is not an unhandled rejection.
    count?.catch(ignore);
    this.inOrder(async () => {
      if (count === undefined || (await count) === (present ? 1 : 0)) hooks.emit(fields);
    }, `${event} not sent: the occupancy count failed`);
  }

  /**
   * The hub reports connections; Pusher reports users. A join is the user's first when no other
   * connection of theirs is present, a leave its last when none remains.
   */
  member(event: 'member_added' | 'member_removed', channel: string, member: ClientInfo): void {
    const hooks = this.hooksOf(channel);
    if (hooks === undefined || !hooks.wants(event) || member.user === '') return;
    const read = this.engine.presence(channel);
    read.catch(ignore);
    this.inOrder(async () => {
      const others = (await read).filter((m) => m.user === member.user && m.client !== member.client).length;
      if (others === 0) hooks.emit({ event, channel: pusherChannel(channel), user: member.user });
    }, `${event} not sent: the presence read failed`);
  }

  /** A client event was published (by `from`) on a hub channel of an app. */
  clientEvent(channel: string, event: string, data: unknown, from: ClientInfo): void {
    const hooks = this.hooksOf(channel);
    if (hooks === undefined || !hooks.wants('publication')) return;
    const payload = JSON.stringify({ event, data });
    this.inOrder(() => hooks.emit({ event: 'publication', channel: pusherChannel(channel), data: payload, from: { client: from.client, user: from.user } }), 'client_event not sent');
  }

  async close(): Promise<void> {
    await this.order;
    await Promise.all(this.all.map((h) => h.close()));
  }

  /** Runs after everything reported before it; a failure is logged and skips this one event only. */
  private inOrder(step: () => Promise<void> | void, failure: string): void {
    this.order = this.order.then(step).catch((err: unknown) => this.log.error({ err }, `pusher webhook: ${failure}`));
  }

  private hooksOf(channel: string): Webhooks | undefined {
    return this.byNamespace.get(channel.slice(0, channel.indexOf(':')));
  }
}

function ignore(): void {}

// Prometheus metrics (prom-client), one registry per node so several hubs in one process (tests)
// never share counters. Gauges that describe current state are read when scraped (collect), so
// the hot path only ever increments counters.

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricsSource {
  stats(): { connections: number; channels: number; subscriptions: number };
  /** The engine's own counters (streams, evictions, gap fills, resubscribes, ...). */
  engineStats(): Promise<Record<string, number>>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly connectionsOpened: Counter;
  readonly disconnects: Counter<'code'>;
  readonly messagesIn: Counter;
  readonly messagesOut: Counter;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly publishLatency: Histogram<'source'>;
  readonly errors: Counter<'code'>;
  readonly connectionErrors: Counter;
  readonly forbidden: Counter<'action'>;
  readonly rateLimited: Counter<'scope'>;
  readonly engineErrors: Counter<'op'>;
  readonly httpRequests: Counter<'route' | 'status'>;
  readonly hookDuration: Histogram<'hook'>;
  readonly hookCalls: Counter<'hook' | 'outcome'>;
  readonly hookInFlight: Gauge<'hook'>;
  readonly webhookEvents: Counter<'format' | 'outcome'>;
  readonly webhookRequests: Counter<'format' | 'result'>;
  readonly webhookQueued: Gauge<'format'>;

  constructor(source: MetricsSource, defaults = true) {
    const registers = [this.registry];
    if (defaults) collectDefaultMetrics({ register: this.registry, prefix: 'hubbub_' });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('hubbub_connections', 'Open WebSocket connections.', () => source.stats().connections);
    gauge('hubbub_channels', 'Channels with at least one local subscriber.', () => source.stats().channels);
    gauge('hubbub_subscriptions', 'Local subscriptions across all channels.', () => source.stats().subscriptions);
    new Gauge({
      name: 'hubbub_engine',
      help: "The engine's own numbers by name (memory: streams, entries, evictions; redis: gap fills, unrecoverable, resubscribes, link up).",
      labelNames: ['stat'],
      registers,
      async collect() {
        this.reset();
        let stats: Record<string, number>;
        try {
          stats = await source.engineStats();
        } catch {
          return; // engine down: /ready says so; the scrape still answers
        }
        for (const [stat, value] of Object.entries(stats)) if (Number.isFinite(value)) this.set({ stat }, value);
      },
    });
    this.connectionsOpened = new Counter({ name: 'hubbub_connections_opened_total', help: 'Connections accepted.', registers });
    this.disconnects = new Counter({
      name: 'hubbub_disconnects_total',
      help: 'Connections closed, by close code (4001 slow consumer, 4002 rate limited, 1006 dropped, ...).',
      labelNames: ['code'],
      registers,
    });
    this.messagesIn = new Counter({ name: 'hubbub_messages_in_total', help: 'Commands received.', registers });
    this.messagesOut = new Counter({
      name: 'hubbub_messages_out_total',
      help: 'Frames sent: replies, and publications and events times their local subscribers.',
      registers,
    });
    this.bytesIn = new Counter({ name: 'hubbub_bytes_in_total', help: 'Bytes of text frames received.', registers });
    this.bytesOut = new Counter({ name: 'hubbub_bytes_out_total', help: 'Bytes of frames sent (payload).', registers });
    this.publishLatency = new Histogram({
      name: 'hubbub_publish_duration_seconds',
      help: 'Time for the engine to accept a publication, by source (client, api).',
      labelNames: ['source'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.errors = new Counter({ name: 'hubbub_errors_total', help: 'Error replies, by code.', labelNames: ['code'], registers });
    this.connectionErrors = new Counter({
      name: 'hubbub_connection_failures_total',
      help: 'Connections closed with 1011 because handling them threw (a bug; each is logged).',
      registers,
    });
    this.forbidden = new Counter({
      name: 'hubbub_forbidden_total',
      help: 'Actions refused for want of a capability or namespace permission, by action.',
      labelNames: ['action'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'hubbub_rate_limited_total',
      help: 'Requests refused by a rate limit, by scope (connection, publish, api).',
      labelNames: ['scope'],
      registers,
    });
    this.engineErrors = new Counter({
      name: 'hubbub_engine_errors_total',
      help: 'Engine calls that failed (unavailable, timeouts), by operation.',
      labelNames: ['op'],
      registers,
    });
    this.httpRequests = new Counter({
      name: 'hubbub_http_requests_total',
      help: 'HTTP requests, by route and status.',
      labelNames: ['route', 'status'],
      registers,
    });
    this.hookDuration = new Histogram({
      name: 'hubbub_hook_duration_seconds',
      help: "Time from asking a proxy hook to its answer (or the hub giving up), by hook.",
      labelNames: ['hook'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.hookCalls = new Counter({
      name: 'hubbub_hook_calls_total',
      help: 'Proxy hook calls by hook and outcome: ok, refused (the backend said no), unavailable (timeout, failure, malformed answer).',
      labelNames: ['hook', 'outcome'],
      registers,
    });
    this.hookInFlight = new Gauge({
      name: 'hubbub_hook_in_flight',
      help: 'Proxy hook calls in flight (waiting for a slot included), by hook.',
      labelNames: ['hook'],
      registers,
    });
    this.webhookEvents = new Counter({
      name: 'hubbub_webhook_events_total',
      help: 'Webhook events by outcome: sent, dropped_full (the outbox was full), dropped_failed (every attempt failed).',
      labelNames: ['format', 'outcome'],
      registers,
    });
    this.webhookRequests = new Counter({
      name: 'hubbub_webhook_requests_total',
      help: 'Webhook requests (attempts) by result: ok, retry (5xx, timeout, network), failed (no retry left, or a 4xx).',
      labelNames: ['format', 'result'],
      registers,
    });
    this.webhookQueued = new Gauge({
      name: 'hubbub_webhook_queued',
      help: 'Webhook events waiting in the outbox.',
      labelNames: ['format'],
      registers,
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

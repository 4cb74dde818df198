// The coordinator's own traffic: an HTTP API publisher (dashboard, notify, churn, reconnect-storm,
// soak) and the sample of hubbub-client SDK subscribers that measure latency end to end.

import { HubClient } from 'hubbub-client';
import WebSocket from 'ws';
import { monoMs as now, sleep } from '../lib/proc.js';
import { Histogram } from './histogram.js';
import type { Position } from './messages.js';

/** At most this many publishes in flight, so a slow hub slows the publisher instead of piling up requests. */
const MAX_IN_FLIGHT = 128;

export class HttpPublisher {
  readonly acked = new Map<string, Position>();
  readonly errors: Record<string, number> = {};
  published = 0;
  acks = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly api: string,
    private readonly apiKey: string,
    private readonly channels: string[],
    private readonly rate: number,
    private readonly payload: number,
  ) {}

  start(): void {
    let due = 0;
    let last = performance.now();
    this.timer = setInterval(() => {
      const t = performance.now();
      due += (this.rate * (t - last)) / 1000;
      last = t;
      while (due >= 1 && this.inFlight < MAX_IN_FLIGHT) {
        due--;
        void this.publishOne(this.channels[Math.floor(Math.random() * this.channels.length)] as string);
      }
      due = Math.min(due, MAX_IN_FLIGHT);
    }, 10);
  }

  /** Stops publishing and waits for the answers still due (at most 5 s). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    const deadline = Date.now() + 5000;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(20);
  }

  private async publishOne(channel: string): Promise<void> {
    this.inFlight++;
    this.published++;
    try {
      const r = await fetch(`${this.api}/api/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel, data: { t: now(), p: 'x'.repeat(this.payload) } }),
      });
      const body = (await r.json()) as { offset?: number; epoch?: string; error?: { code: string } };
      if (!r.ok || body.offset === undefined || body.epoch === undefined) {
        this.count(`http publish: ${body.error?.code ?? r.status}`);
        return;
      }
      this.acks++;
      const had = this.acked.get(channel);
      if (had === undefined || had[0] !== body.epoch || had[1] < body.offset) this.acked.set(channel, [body.epoch, body.offset]);
    } catch (err) {
      // Refused or reset while the hub restarts: not acknowledged, so not expected by anyone.
      const cause = (err as { cause?: { code?: string } }).cause;
      this.count(`http publish: ${cause?.code ?? 'network error'}`);
    } finally {
      this.inFlight--;
    }
  }

  private count(what: string): void {
    this.errors[what] = (this.errors[what] ?? 0) + 1;
  }
}

/** SDK subscribers: latency from the payload's send time to the `message` event, through the SDK. */
export class SdkSample {
  readonly hist = new Histogram();
  readonly errors: Record<string, number> = {};
  received = 0;
  reportedGaps = 0;
  private readonly clients: HubClient[] = [];

  constructor(url: string, channels: string[]) {
    for (const channel of channels) {
      const client = new HubClient(url, { WebSocket });
      const sub = client.subscribe(channel);
      // Publications up to the offset a (re)subscribe answered are replays, as old as the outage:
      // not the hub's latency. (The SDK marks replays in the reply with `time`, not those pushed after it.)
      let replayTo = 0;
      let subscribedOnce = false;
      sub.on('message', (m) => {
        this.received++;
        const t = (m.data as { t?: unknown } | null)?.t;
        if (typeof t === 'number' && m.time === undefined && m.offset > replayTo) this.hist.add(now() - t);
      });
      sub.on('subscribed', (info) => {
        replayTo = info.offset;
        if (subscribedOnce && !info.recovered) this.reportedGaps++;
        subscribedOnce = true;
      });
      sub.on('error', (e) => this.count(`sdk: ${e.code}`));
      this.clients.push(client);
    }
  }

  /** Resolves when every SDK subscription is confirmed (or after `timeoutMs`). */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.clients.some((c) => c.state !== 'connected') && Date.now() < deadline) await sleep(50);
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }

  private count(what: string): void {
    this.errors[what] = (this.errors[what] ?? 0) + 1;
  }
}

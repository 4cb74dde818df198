// How a batch of events becomes an HTTP request. The outbox only queues, batches and retries; a
// format decides the body and the signature, so another wire shape (e.g. Pusher's webhooks) plugs
// into the same outbox with its own format.

import { createHmac } from 'node:crypto';
import { eventJson, type WebhookEvent } from './events.js';

export interface WebhookRequest {
  body: string;
  headers: Record<string, string>;
}

export interface WebhookFormat {
  /** The format's name, as metrics and logs show it. */
  readonly name: string;
  /**
   * The request for one batch. Called again for each attempt, so a retry carries a fresh
   * timestamp and signature; `batchId` stays the same across a batch's attempts.
   */
  encode(events: readonly WebhookEvent[], batchId: string, now: number): WebhookRequest;
}

/**
 * hubbub's own format: `{"events":[...]}`, signed with HMAC-SHA256 over `timestamp + "." + body`
 * (hex, in `X-Hubbub-Signature: sha256=...`), the timestamp (ms) in `X-Hubbub-Timestamp`, the
 * batch id in `X-Hubbub-Delivery`.
 */
export class HubbubWebhookFormat implements WebhookFormat {
  readonly name = 'hubbub';

  constructor(private readonly secret: string) {}

  encode(events: readonly WebhookEvent[], batchId: string, now: number): WebhookRequest {
    let body = '{"events":[';
    for (let i = 0; i < events.length; i++) body += (i === 0 ? '' : ',') + eventJson(events[i] as WebhookEvent);
    body += ']}';
    const timestamp = String(now);
    const signature = createHmac('sha256', this.secret).update(`${timestamp}.${body}`).digest('hex');
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'x-hubbub-timestamp': timestamp,
        'x-hubbub-signature': `sha256=${signature}`,
        'x-hubbub-delivery': batchId,
      },
    };
  }
}

// What webhooks report. One event is one fact about this hub (a channel got its first subscriber
// in the cluster, a member joined, a connection closed, ...), with an id unique to it, so a
// receiver can drop what a retried batch delivers twice.

import type { WebhookEventName } from '../../config/index.js';
import type { JsonValue } from '../../engine/types.js';

export type { WebhookEventName };

export interface WebhookEvent {
  /** Unique per event. */
  id: string;
  event: WebhookEventName;
  /** When it happened, ms since the epoch. */
  time: number;
  channel?: string;
  client?: string;
  user?: string;
  info?: JsonValue;
  /** connection_opened. */
  remoteAddress?: string;
  /** connection_closed: the WebSocket close code and reason. */
  code?: number;
  reason?: string;
  /** publication: its position and author. */
  offset?: number;
  epoch?: string;
  from?: { client: string; user: string; info?: JsonValue };
  /** publication: the payload, as JSON text already (spliced in, never re-encoded). */
  data?: string;
}

/** One event as JSON text: `data` is already JSON, so it is spliced in rather than re-stringified. */
export function eventJson(e: WebhookEvent): string {
  if (e.data === undefined) return JSON.stringify(e);
  const { data, ...rest } = e;
  return `${JSON.stringify(rest).slice(0, -1)},"data":${data}}`;
}

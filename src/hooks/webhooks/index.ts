// Signed event webhooks: events from the hub, a bounded retrying outbox, pluggable wire formats.

export { eventJson, type WebhookEvent, type WebhookEventName } from './events.js';
export { HubbubWebhookFormat, type WebhookFormat, type WebhookRequest } from './format.js';
export { type OutboxOptions, WebhookOutbox } from './outbox.js';
export { type WebhookObserver, Webhooks } from './webhooks.js';

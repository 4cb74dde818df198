// The Pusher Channels protocol (v7) on its own endpoint: pusher-js and Laravel Echo connect to
// `/app/<key>` and run on the same hub, engines, limits and metrics as native clients.

import type { Config } from '../../config/index.js';
import { appNamespaces } from './names.js';

export { PusherHttpApi } from './http-api.js';
export { PusherProtocol } from './protocol.js';
export { PusherWebhookFormat, PusherWebhooks } from './webhooks.js';
export { hubChannel, PusherClose, pusherChannel } from './names.js';
export { sign } from './signature.js';

/** The configuration with every Pusher app's namespaces added (none when no app is configured). */
export function withPusher(config: Config): Config {
  if (config.pusher.apps.length === 0) return config;
  return { ...config, namespaces: { ...config.namespaces, ...appNamespaces(config.pusher.apps) } };
}

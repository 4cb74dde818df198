// The namespaces the demo pages use. They are added to the configured ones only while the demo is
// on, so a deployment's configuration never carries them; a namespace the configuration names
// itself wins over the demo's of the same name.

import { type Config, type NamespaceConfig, namespaceSchema } from '../config/index.js';

/** The channels the pages use, by page. */
export const DemoChannels = {
  chatNamespace: 'demo-chat',
  typingNamespace: 'demo-typing',
  board: 'demo-board:main',
  feed: 'demo-feed:metrics',
} as const;

const demoNamespaces: Record<string, NamespaceConfig> = {
  // A room: history for recovery and for newcomers, presence with join/leave, clients publish.
  'demo-chat': namespaceSchema.parse({
    public: true,
    history: { size: 200, ttlMs: 60 * 60 * 1000 },
    presence: true,
    joinLeave: true,
    clientPublish: true,
    publishRate: { rate: 5, burst: 10 },
  }),
  // Short-lived signals (typing, names): no history, so nothing of them is kept or replayed.
  'demo-typing': namespaceSchema.parse({ public: true, clientPublish: true, publishRate: { rate: 5, burst: 10 } }),
  'demo-board': namespaceSchema.parse({ public: true, leaderboard: { clientIncr: true, top: 10, maxMembers: 100 } }),
  // A little history, so a dashboard opened mid-stream draws the last minute at once.
  'demo-feed': namespaceSchema.parse({ public: true, history: { size: 240, ttlMs: 5 * 60 * 1000 } }),
};

/** The configuration the hub runs with: the demo's namespaces added when the demo is on. */
export function withDemo(config: Config): Config {
  if (!config.demo.enabled) return config;
  return { ...config, namespaces: { ...demoNamespaces, ...config.namespaces } };
}

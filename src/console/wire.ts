// What each node publishes on the console's internal channel, about once a second: described once
// here and imported type-only by the console page (src/web/console), whose bundle stays free of
// server code.

export interface NodeNumbers {
  node: string;
  /** When these were read (ms since the epoch). */
  at: number;
  uptimeMs: number;
  connections: number;
  channels: number;
  subscriptions: number;
  /** Commands received per second since the previous reading. */
  inPerSec: number;
  /** Frames sent per second (replies, and publications times their local subscribers). */
  outPerSec: number;
  /** Publications accepted per second (clients and the HTTP API). */
  publishesPerSec: number;
  /** Mean and 99th percentile (bucket bound) of the engine's publish time since the previous reading, ms; null without publications. */
  publishMeanMs: number | null;
  publishP99Ms: number | null;
  /** Error replies since start, by code. */
  errors: Record<string, number>;
  /** Connections closed as slow consumers (4001) and for rate limits (4002), since start. */
  slowConsumerCloses: number;
  rateLimitCloses: number;
  engine: { kind: string; ok: boolean; error?: string; stats: Record<string, number> };
}

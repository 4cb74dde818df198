// What the coordinator (run.ts) and its worker processes (worker.ts) say to each other over the
// fork IPC channel.

import type { HistogramDelta } from './histogram.js';

/** A channel's newest acknowledged publication: [epoch, offset]. */
export type Position = [string, number];

export interface WorkerInit {
  host: string;
  port: number;
  path: string;
  localAddress: string;
  /** One channel per client: client i subscribes to channels[i]. */
  channels: string[];
  /** Clients 0..publishers-1 publish over their socket, `rate` publications/s in all. */
  publishers: number;
  rate: number;
  payload: number;
  /** Clients churnable..end never disconnect on purpose (the stayers); the others may. */
  churnable: number;
  /** Planned disconnect + reconnect cycles per second in this worker. */
  churnPerSec: number;
  /** Reconnect after an unplanned close within this (all clients at once, give or take). */
  reconnectJitterMs: number;
}

/** A tally of one group of clients. */
export interface Tally {
  clients: number;
  expected: number;
  received: number;
  lost: number;
  silentGaps: number;
  reportedGaps: number;
  resumed: number;
  duplicates: number;
}

export interface WorkerStats {
  type: 'stats';
  connected: number;
  /** Deliveries counted so far (live, replayed and duplicate). */
  deliveries: number;
  published: number;
  /** Publishes the hub acknowledged. */
  acks: number;
  errors: Record<string, number>;
  retries: number;
  unplannedCloses: number;
  hist: HistogramDelta;
}

export interface WorkerFinal {
  type: 'final';
  /** Clients that never disconnected on purpose nor were cut off. */
  stayed: Tally;
  /** Clients that reconnected at least once (churn or a hub restart). */
  reconnected: Tally;
  /** Clients that never got a subscription. */
  neverSubscribed: number;
  /** Clients whose stream epoch differs from the channel's final one (the epoch changed under them). */
  epochMismatch: number;
}

export type ToWorker =
  | { type: 'init'; init: WorkerInit }
  | { type: 'start' }
  | { type: 'stats' }
  | { type: 'stop-load' }
  | { type: 'final'; finals: Record<string, Position> }
  | { type: 'exit' };

export type FromWorker =
  | { type: 'ready'; subscribed: number; failed: number }
  | WorkerStats
  | { type: 'stopped'; acked: Record<string, Position> }
  | WorkerFinal;

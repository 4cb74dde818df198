// The one rule both transports apply after queueing a frame: a connection holding more unsent
// bytes than the limit is closed as a slow consumer; one with a smaller backlog waits for drain.

import type { EndpointCodes, TransportOptions } from './types.js';

export interface DrainTracking {
  waitingDrain: boolean;
  /** Its endpoint's close codes. */
  readonly codes: EndpointCodes;
  close(code: number, reason: string): void;
}

/** True when nothing is left queued after the send. */
export function settleSend(conn: DrainTracking, buffered: number, options: TransportOptions): boolean {
  if (buffered === 0) return true;
  if (buffered > options.maxBackpressureBytes) conn.close(conn.codes.slowConsumer, 'slow consumer');
  else conn.waitingDrain = true;
  return false;
}

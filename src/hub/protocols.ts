// The seam for wire protocols other than the native one (protocols/pusher): each has its own
// endpoint, wraps the connection the hub's Session writes to, reads the client's frames itself,
// and gets every fan-out to encode once more in its own shape for its own subscribers.

import type { CommandHandler, Session } from '../session.js';
import type { Connection, Transport, UpgradeRequest } from '../transport/types.js';
import type { Clock } from '../util/clock.js';
import type { Channel } from './delivery.js';

export interface ProtocolDoor {
  /** Whether an upgrade's URL is this protocol's endpoint. */
  claims(url: string): boolean;
  /** A session speaking this protocol on `conn`: a Session whose frames it reads and writes itself. */
  open(conn: Connection, req: UpgradeRequest, hub: CommandHandler, clock: Clock): Session;
  /** A frame the hub publishes to a transport topic: the protocol's own subscribers get its encoding, once. */
  fanOut(ch: Channel, topic: string, frame: string, transport: Transport): void;
}

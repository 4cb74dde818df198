// The connection limits as both transports apply them: WebSockets that are open and TCP connections
// still in their handshake (HTTP request or upgrade not complete) count together, in total and per
// client address, so half-open sockets cannot hold descriptors past the limits the hub sets.

import type { Refusal } from './upgrade.js';

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
}

/** The hub's own words for these refusals (src/hub.ts onUpgrade), so a client cannot tell who refused. */
const FULL: Refusal = { status: 503, message: 'this node is at its connection limit; try another node or later' };
const TOO_MANY: Refusal = { status: 429, message: 'too many connections from this address' };

const PENDING = 0;
const OPEN = 1;
const RELEASED = 2;

/** One admitted connection: pending until it opens as a WebSocket or is released. Idempotent. */
export class Slot {
  private state = PENDING;

  constructor(
    private readonly ledger: ConnectionLedger,
    /**
     * The client's address; undefined behind a trusted proxy until the headers are read. Once open,
     * the one string every connection from this address shares.
     */
    public address: string | undefined,
  ) {}

  get pending(): boolean {
    return this.state === PENDING;
  }

  /** The handshake became a WebSocket of `address` (the client, X-Forwarded-For applied). */
  opened(address: string): void {
    if (this.state !== PENDING) return;
    this.state = OPEN;
    this.address = this.ledger.move(this.address, address);
  }

  /** The handshake ended another way (request complete, refused, socket gone), or the WebSocket closed. */
  release(): void {
    if (this.state === RELEASED) return;
    this.ledger.remove(this.state === OPEN, this.address);
    this.state = RELEASED;
  }
}

export class ConnectionLedger {
  private pendingCount = 0;
  private openCount = 0;
  /**
   * Pending and open connections per client address; an address leaves the map at zero. Open
   * connections share the address string the entry keeps (one per address, not per connection).
   */
  private readonly byAddress = new Map<string, { n: number; readonly address: string }>();

  constructor(private readonly limits: ConnectionLimits) {}

  /** Connections in their handshake now. */
  get handshakes(): number {
    return this.pendingCount;
  }

  get open(): number {
    return this.openCount;
  }

  /** Counts one more handshake from `address` in, or says why not (the status and message to answer). */
  admit(address: string | undefined): Slot | Refusal {
    if (this.pendingCount + this.openCount >= this.limits.maxConnections) return FULL;
    if (address !== undefined && (this.byAddress.get(address)?.n ?? 0) >= this.limits.maxConnectionsPerIp) return TOO_MANY;
    this.pendingCount++;
    if (address !== undefined) this.increment(address);
    return new Slot(this, address);
  }

  /**
   * @internal A pending slot opened, perhaps under the client address its proxy named; returns
   * the address string to keep.
   */
  move(from: string | undefined, to: string): string {
    this.pendingCount--;
    this.openCount++;
    if (from !== undefined) this.decrement(from);
    return this.increment(to);
  }

  private increment(address: string): string {
    const entry = this.byAddress.get(address);
    if (entry === undefined) this.byAddress.set(address, { n: 1, address });
    else entry.n++;
    return entry?.address ?? address;
  }

  /** @internal */
  remove(open: boolean, address: string | undefined): void {
    if (open) this.openCount--;
    else this.pendingCount--;
    if (address !== undefined) this.decrement(address);
  }

  private decrement(address: string): void {
    const entry = this.byAddress.get(address);
    if (entry === undefined) return;
    if (--entry.n <= 0) this.byAddress.delete(address);
  }
}

export function isRefusal(admitted: Slot | Refusal): admitted is Refusal {
  return !(admitted instanceof Slot);
}

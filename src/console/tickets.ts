// One-use tickets for the console's WebSocket. The console page holds the API key and trades it
// over HTTP (Authorization header, never a URL) for a ticket, which its WebSocket sends as the
// connect token: the key itself never travels on the socket, and a ticket that leaks is dead
// after one use or a few seconds.

import { randomBytes } from 'node:crypto';
import type { Clock } from '../util/clock.js';

const TICKET_TTL_MS = 30_000;
/** Unused tickets kept at once; the oldest go first, so minting in a loop cannot grow memory. */
const MAX_TICKETS = 1000;

export class Tickets {
  private readonly live = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  issue(): string {
    const ticket = `op_${randomBytes(24).toString('base64url')}`;
    if (this.live.size >= MAX_TICKETS) {
      const oldest = this.live.keys().next().value;
      if (oldest !== undefined) this.live.delete(oldest);
    }
    this.live.set(ticket, this.clock.now() + TICKET_TTL_MS);
    return ticket;
  }

  /** True once for a ticket issued less than 30 s ago. */
  take(ticket: string): boolean {
    if (!ticket.startsWith('op_')) return false;
    const expires = this.live.get(ticket);
    if (expires === undefined) return false;
    this.live.delete(ticket);
    return expires > this.clock.now();
  }
}

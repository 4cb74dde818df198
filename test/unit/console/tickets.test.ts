// The console's WebSocket tickets: each admits one connection, within 30 s of being issued.

import { describe, expect, it } from 'vitest';
import { Tickets } from '../../../src/console/tickets.js';
import { ManualClock } from '../../../src/util/clock.js';

describe('console tickets', () => {
  it('admit one connection each, within 30 s, and nothing else', () => {
    const clock = new ManualClock(1000);
    const tickets = new Tickets(clock);
    const a = tickets.issue();
    const b = tickets.issue();
    expect(a).not.toBe(b);
    expect(tickets.take(a)).toBe(true);
    expect(tickets.take(a)).toBe(false);
    expect(tickets.take('op_made-up')).toBe(false);
    expect(tickets.take('eyJhbGciOiJIUzI1NiJ9.e30.x')).toBe(false);
    clock.advance(30_001);
    expect(tickets.take(b)).toBe(false);
  });

  it('keep at most 1000 unused tickets, forgetting the oldest', () => {
    const tickets = new Tickets(new ManualClock(0));
    const first = tickets.issue();
    const rest = Array.from({ length: 1000 }, () => tickets.issue());
    expect(tickets.take(first)).toBe(false);
    expect(tickets.take(rest[0] as string)).toBe(true);
    expect(tickets.take(rest[999] as string)).toBe(true);
  });
});

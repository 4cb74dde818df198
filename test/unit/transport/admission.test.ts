// The ledger both transports admit connections through: open WebSockets and handshakes count
// together, in total and per address, and every place is given back exactly once.

import { describe, expect, it } from 'vitest';
import { ConnectionLedger, isRefusal, type Slot } from '../../../src/transport/admission.js';

function slot(admitted: ReturnType<ConnectionLedger['admit']>): Slot {
  if (isRefusal(admitted)) throw new Error(`refused: ${admitted.status}`);
  return admitted;
}

describe('ConnectionLedger', () => {
  it('refuses past maxConnections with 503 and past maxConnectionsPerIp with 429', () => {
    const ledger = new ConnectionLedger({ maxConnections: 3, maxConnectionsPerIp: 2 });
    const a = slot(ledger.admit('192.0.2.1'));
    slot(ledger.admit('192.0.2.1'));
    expect(ledger.admit('192.0.2.1')).toMatchObject({ status: 429 });
    a.opened('192.0.2.1');
    expect(ledger.admit('192.0.2.1')).toMatchObject({ status: 429 });
    slot(ledger.admit(undefined));
    expect(ledger.admit('198.51.100.1')).toMatchObject({ status: 503 });
    expect({ handshakes: ledger.handshakes, open: ledger.open }).toEqual({ handshakes: 2, open: 1 });
  });

  it('moves a proxied handshake to its client address when it opens', () => {
    const ledger = new ConnectionLedger({ maxConnections: 10, maxConnectionsPerIp: 1 });
    const proxied = slot(ledger.admit(undefined));
    slot(ledger.admit(undefined));
    proxied.opened('203.0.113.5');
    expect(ledger.admit('203.0.113.5')).toMatchObject({ status: 429 });
    proxied.release();
    slot(ledger.admit('203.0.113.5'));
  });

  it('gives a place back exactly once, however often it is released', () => {
    const ledger = new ConnectionLedger({ maxConnections: 1, maxConnectionsPerIp: 1 });
    const s = slot(ledger.admit('192.0.2.1'));
    s.opened('192.0.2.1');
    s.opened('192.0.2.1');
    s.release();
    s.release();
    s.opened('192.0.2.1');
    expect({ handshakes: ledger.handshakes, open: ledger.open }).toEqual({ handshakes: 0, open: 0 });
    slot(ledger.admit('192.0.2.1')).release();
  });
});

// What idle connections cost the hub over time: nothing per connection. No timer per connection on
// either transport, and no periodic pass over the sockets on uWS while nothing is written (uWS's
// native idle timeout and ping handle liveness; the backpressure sweep wakes up on writes).

import { afterEach, describe, expect, it, vi } from 'vitest';
import { UwsConnection } from '../../src/transport/uws-transport.js';
import { HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';

const IDLE = 40;
let hub: TestHub | undefined;
const clients: HubTestClient[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of clients.splice(0)) c.ws.terminate();
  await hub?.close();
  hub = undefined;
});

async function subscribed(h: TestHub, n: number): Promise<void> {
  const opened = await Promise.all(Array.from({ length: n }, () => HubTestClient.open(h.url)));
  clients.push(...opened);
  await Promise.all(opened.map((c) => c.call('subscribe', { channel: 'chat:idle' })));
}

/** Timers created while `work` runs that are still pending (neither fired nor cleared) once it is done. */
async function timersLeftBy(work: () => Promise<void>): Promise<number> {
  const made: NodeJS.Timeout[] = [];
  const record = <T>(t: T): T => {
    made.push(t as NodeJS.Timeout);
    return t;
  };
  const realTimeout = globalThis.setTimeout;
  const realInterval = globalThis.setInterval;
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((...args: Parameters<typeof setTimeout>) => record(realTimeout(...args))) as typeof setTimeout);
  vi.spyOn(globalThis, 'setInterval').mockImplementation(((...args: Parameters<typeof setInterval>) => record(realInterval(...args))) as typeof setInterval);
  await work();
  vi.restoreAllMocks();
  // Node marks a timer destroyed once it has fired (one-shot) or was cleared.
  return made.filter((t) => !(t as unknown as { _destroyed: boolean })._destroyed).length;
}

describe.each(['ws', 'uws'] as const)('idle connections on %s', (transport) => {
  it('hold no timer each: opening 40 subscribed connections leaves no timer per connection pending', async () => {
    const h = await startTestHub(transport);
    hub = h;
    await subscribed(h, 1);
    const left = await timersLeftBy(() => subscribed(h, IDLE));
    expect(h.hub.stats().connections).toBe(IDLE + 1);
    expect(left).toBeLessThan(IDLE / 4);
  });
});

describe('idle connections on uws', () => {
  it('are not swept while nothing is written, and are all looked at again after a publication', async () => {
    hub = await startTestHub('uws');
    await subscribed(hub, IDLE);
    const transport = hub.transport as unknown as { sweep(): void };
    const sweep = vi.spyOn(transport, 'sweep');
    const sample = vi.spyOn(UwsConnection.prototype, 'sample');
    // Two windows drain what the subscribe replies wrote; from then on the hub is idle.
    await vi.waitFor(() => expect(sweep.mock.calls.length).toBeGreaterThanOrEqual(2), { timeout: 5000, interval: 10 });
    sample.mockClear();
    const quietFrom = sweep.mock.calls.length;
    await vi.waitFor(() => expect(sweep.mock.calls.length).toBeGreaterThanOrEqual(quietFrom + 6), { timeout: 5000, interval: 10 });
    expect(sample).not.toHaveBeenCalled();

    const publisher = clients[0] as HubTestClient;
    await publisher.call('publish', { channel: 'chat:idle', data: 'wake up' });
    await vi.waitFor(() => expect(sample.mock.calls.length).toBeGreaterThanOrEqual(IDLE), { timeout: 5000, interval: 10 });
    for (const c of clients) await c.until(() => c.pushesOf('pub').length === 1);
  });
});

// Presence entries live as long as their subscriptions: the hub refreshes them before they expire
// (every third of presenceTtlMs) and stops with the subscription, so a member that left does not
// come back with the next refresh. Waits real time (a few TTLs); asserts membership, not timing.

import { afterEach, describe, expect, it } from 'vitest';
import { type Frame, HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';

const TTL_MS = 3000;
let hub: TestHub | undefined;
const clients: HubTestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await hub?.close();
  hub = undefined;
});

async function client(h: TestHub): Promise<HubTestClient> {
  const c = await HubTestClient.open(h.url);
  clients.push(c);
  return c;
}

async function members(c: HubTestClient, channel: string): Promise<string[]> {
  const reply = await c.call('presence', { channel });
  return (reply.members as Frame[]).map((m) => String(m.client)).sort();
}

describe('presence upkeep', () => {
  it('keeps subscribed members present past several TTLs, and does not bring back one that left', async () => {
    hub = await startTestHub('uws', {
      namespaces: { room: { presence: true, joinLeave: true } },
      limits: { presenceTtlMs: TTL_MS },
    });
    const stays = await client(hub);
    const leaves = await client(hub);
    const quiet = await client(hub);
    await stays.call('subscribe', { channel: 'room:a' });
    await leaves.call('subscribe', { channel: 'room:a' });
    // Subscribed elsewhere: its subscription to a presence-less channel is nothing to refresh.
    await quiet.call('subscribe', { channel: 'room:b' });
    const both = await members(stays, 'room:a');
    expect(both).toHaveLength(2);
    await leaves.call('unsubscribe', { channel: 'room:a' });
    const [stayer] = await members(stays, 'room:a');
    expect(both).toContain(stayer);
    // Two and a half TTLs: unrefreshed, the entry would have expired twice over.
    await new Promise((resolve) => setTimeout(resolve, 2.5 * TTL_MS));
    expect(await members(stays, 'room:a')).toEqual([stayer]);
    expect(await members(quiet, 'room:b')).toHaveLength(1);
  }, 20_000);
});

// Pusher's webhooks from hubbub, received by an HTTP server here and checked with the `pusher`
// SDK's own webhook validation (X-Pusher-Key, X-Pusher-Signature), over both transports.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP, next, type PusherHub, startPusherHub, until } from '../helpers/pusher.js';

interface Received {
  valid: boolean;
  wrongSecretValid: boolean;
  events: Record<string, unknown>[];
}

describe.each(['ws', 'uws'] as const)('Pusher webhooks over %s', (transport) => {
  let h: PusherHub;
  let receiver: Server;
  const received: Received[] = [];
  const events = () => received.flatMap((r) => r.events);

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let rawBody = '';
      req.on('data', (d: Buffer) => (rawBody += d.toString()));
      req.on('end', () => {
        const request = { headers: req.headers as Record<string, string>, rawBody };
        const hook = h.sdk().webhook(request);
        const forged = h.sdk({ ...APP, secret: 'some-other-secret-0123' }).webhook(request);
        received.push({ valid: hook.isValid(), wrongSecretValid: forged.isValid(), events: hook.isValid() ? (hook.getEvents() as unknown as Record<string, unknown>[]) : [] });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/pusher-hooks`;
    h = await startPusherHub(transport, { webhooks: { batchWindowMs: 10 } }, { webhooks: { url } });
  }, 40_000);
  afterAll(async () => {
    await h?.close();
    receiver?.close();
  });

  it('sends channel_occupied, member_added, client_event, member_removed and channel_vacated, signed with the app secret', async () => {
    const alice = await h.client('alice');
    const bob = await h.client('bob');
    const chA = alice.subscribe('presence-hooked');
    await next(chA, 'pusher:subscription_succeeded');
    await until(() => events().some((e) => e.name === 'channel_occupied'), 'channel_occupied');
    const chB = bob.subscribe('presence-hooked');
    await next(chB, 'pusher:subscription_succeeded');
    // A second tab of bob's is no new member: no second member_added for him.
    const bob2 = await h.client('bob');
    await next(bob2.subscribe('presence-hooked'), 'pusher:subscription_succeeded');
    chB.trigger('client-wave', { hello: 'alice' });
    await until(() => events().some((e) => e.name === 'client_event'), 'client_event');
    bob.disconnect();
    bob2.disconnect();
    await until(() => events().some((e) => e.name === 'member_removed' && e.user_id === 'bob'), 'bob removed');
    alice.disconnect();
    await until(() => events().some((e) => e.name === 'channel_vacated'), 'channel_vacated');
    expect(received.every((r) => r.valid && !r.wrongSecretValid)).toBe(true);
    const mine = events().filter((e) => e.channel === 'presence-hooked');
    expect(mine.map((e) => `${String(e.name)}${e.user_id === undefined ? '' : `:${String(e.user_id)}`}`)).toEqual([
      'channel_occupied',
      'member_added:alice',
      'member_added:bob',
      'client_event:bob',
      'member_removed:bob',
      'member_removed:alice',
      'channel_vacated',
    ]);
    const clientEvent = mine.find((e) => e.name === 'client_event');
    expect(clientEvent).toMatchObject({ event: 'client-wave', socket_id: expect.stringMatching(/^\d+\.\d+$/) });
    expect(JSON.parse(String(clientEvent?.data))).toEqual({ hello: 'alice' });
  });
});

// Pusher's end-to-end encrypted channels, cache channels and user sign-in, with pusher-js and the
// `pusher` SDK against a hubbub process, over both transports.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { APP, next, OTHER_APP, type PusherHub, startPusherHub, until } from '../helpers/pusher.js';

interface Frame {
  event: string;
  channel?: string;
  data: string;
  hubbub?: { offset: number; epoch: string };
}

/** A bare Pusher socket of the history app, subscribed to `channel` (resuming from `since`). */
async function historyClient(port: number, channel: string, since?: { offset: number; epoch: string }) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${OTHER_APP.key}?protocol=7`);
  const frames: Frame[] = [];
  ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString()) as Frame));
  await until(() => frames.length === 1, 'connection_established');
  ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, ...(since === undefined ? {} : { hubbub_since: since }) } }));
  await until(() => frames.some((f) => f.event === 'pusher_internal:subscription_succeeded'), 'subscribed');
  const succeeded = frames.find((f) => f.event === 'pusher_internal:subscription_succeeded') as Frame;
  const events = () => frames.filter((f) => f.event === 'n');
  return { ws, succeeded: JSON.parse(succeeded.data) as { hubbub: { offset: number; epoch: string; recovered?: boolean } }, events };
}

describe.each(['ws', 'uws'] as const)('Pusher encrypted, cache and user channels over %s', (transport) => {
  let h: PusherHub;
  beforeAll(async () => {
    h = await startPusherHub(transport);
  }, 40_000);
  afterAll(async () => {
    await h?.close();
  });

  it('round-trips an encrypted event from the SDK to pusher-js, relaying only ciphertext', async () => {
    const p = await h.client();
    const ch = p.subscribe('private-encrypted-vault');
    await next(ch, 'pusher:subscription_succeeded');
    // A bare socket authorized for the same channel sees what hubbub relays: nonce and ciphertext.
    const spy = new WebSocket(`ws://127.0.0.1:${h.port}/app/${APP.key}?protocol=7`);
    const raw: string[] = [];
    spy.on('message', (d: Buffer) => raw.push(d.toString()));
    await until(() => raw.length === 1, 'spy connected');
    const socketId = (JSON.parse((JSON.parse(raw[0] as string) as { data: string }).data) as { socket_id: string }).socket_id;
    const { auth } = h.sdk().authorizeChannel(socketId, 'private-encrypted-vault');
    spy.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'private-encrypted-vault', auth } }));
    await until(() => raw.some((m) => m.includes('subscription_succeeded')), 'spy subscribed');
    const got = next(ch, 'secret');
    await h.sdk().trigger('private-encrypted-vault', 'secret', { pin: 'plain-text-1234' });
    expect(await got).toEqual({ pin: 'plain-text-1234' });
    await until(() => raw.some((m) => m.includes('"secret"')), 'spy got the event');
    const relayed = raw.find((m) => m.includes('"secret"')) as string;
    expect(relayed).toContain('ciphertext');
    expect(relayed).not.toContain('plain-text-1234');
    spy.close();
    p.disconnect();
  });

  it('refuses client events on encrypted channels', async () => {
    const p = await h.client();
    const ch = p.subscribe('private-encrypted-chat');
    await next(ch, 'pusher:subscription_succeeded');
    const error = next(p.connection, 'error');
    // pusher-js itself refuses to trigger on an encrypted channel, so the message is sent raw.
    p.send_event('client-x', { a: 1 }, 'private-encrypted-chat');
    expect(JSON.stringify(await error)).toMatch(/private and presence channels only/);
    p.disconnect();
  });

  it('gives a new cache channel subscriber the last event, or pusher:cache_miss', async () => {
    const first = await h.client();
    const missed = first.subscribe('cache-weather');
    const miss = next(missed, 'pusher:cache_miss');
    await next(missed, 'pusher:subscription_succeeded');
    await miss;
    await h.sdk().trigger('cache-weather', 'forecast', { sky: 'cloudy' });
    await h.sdk().trigger('cache-weather', 'forecast', { sky: 'sunny' });
    const late = await h.client('late');
    const ch = late.subscribe('cache-weather');
    expect(await next(ch, 'forecast')).toEqual({ sky: 'sunny' });
    first.disconnect();
    late.disconnect();
  });

  it('resumes from a position: a client that knows the extension gets what it missed, in order; pusher-js ignores it', async () => {
    const sdk = h.sdk(OTHER_APP);
    const stock = h.raw(OTHER_APP.key);
    await until(() => stock.connection.state === 'connected', 'stock pusher-js connected');
    const stockCh = stock.subscribe('feed');
    await next(stockCh, 'pusher:subscription_succeeded');
    const stockGot: unknown[] = [];
    stockCh.bind('n', (d: unknown) => stockGot.push(d));
    const first = await historyClient(h.port, 'feed');
    expect(first.succeeded.hubbub).toMatchObject({ offset: expect.any(Number), epoch: expect.any(String) });
    await sdk.trigger('feed', 'n', 1);
    await sdk.trigger('feed', 'n', 2);
    await until(() => first.events().length === 2, 'two live events');
    const last = first.events()[1]?.hubbub as { offset: number; epoch: string };
    expect(last.offset).toBe((first.events()[0]?.hubbub?.offset ?? 0) + 1);
    first.ws.close();
    for (const n of [3, 4, 5]) await sdk.trigger('feed', 'n', n);
    const resumed = await historyClient(h.port, 'feed', last);
    expect(resumed.succeeded.hubbub.recovered).toBe(true);
    await sdk.trigger('feed', 'n', 6);
    await until(() => resumed.events().length === 4, `missed and live events (${resumed.events().length})`);
    expect(resumed.events().map((f) => JSON.parse(f.data) as number)).toEqual([3, 4, 5, 6]);
    expect(resumed.events().map((f) => f.hubbub?.offset)).toEqual([1, 2, 3, 4].map((i) => last.offset + i));
    // A position the channel never had (another epoch) is not recovered, and says so.
    const lost = await historyClient(h.port, 'feed', { offset: 1, epoch: 'not-this-epoch' });
    expect(lost.succeeded.hubbub.recovered).toBe(false);
    await until(() => stockGot.length === 6, 'stock pusher-js got all six');
    expect(stockGot).toEqual([1, 2, 3, 4, 5, 6]);
    resumed.ws.close();
    lost.ws.close();
    stock.disconnect();
  });

  it('signs a user in, delivers sendToUser to every connection of theirs, and terminates them', async () => {
    const [tab1, tab2, other] = await Promise.all([h.client('erin'), h.client('erin'), h.client('frank')]);
    for (const p of [tab1, tab2, other]) p.signin();
    await until(() => [tab1, tab2, other].every((p) => p.user.user_data !== null), 'all three signed in');
    expect(tab1.user.user_data).toMatchObject({ id: 'erin' });
    const got = Promise.all([next(tab1.user, 'note'), next(tab2.user, 'note')]);
    const frankHeard: unknown[] = [];
    other.user.bind('note', (d: unknown) => frankHeard.push(d));
    await h.sdk().sendToUser('erin', 'note', { text: 'hi erin' });
    expect(await got).toEqual([{ text: 'hi erin' }, { text: 'hi erin' }]);
    const states: string[] = [];
    tab1.connection.bind('state_change', (s: { current: string }) => states.push(s.current));
    await h.sdk().terminateUserConnections('erin');
    await until(() => tab1.connection.state !== 'connected' && tab2.connection.state !== 'connected', 'both tabs closed');
    expect(states).not.toContain('connected');
    expect(other.connection.state).toBe('connected');
    expect(frankHeard).toEqual([]);
    for (const p of [tab1, tab2, other]) p.disconnect();
  });
});

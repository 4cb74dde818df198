// Subscriptions against a scripted fake hub: positions, exactly-once in-order delivery through
// duplicates, gaps, new epochs, resubscribe pushes and reconnects; errors; join/leave; and the
// leaderboard's live top-N and commands.

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type BoardEntry,
  type ClientInfo,
  HubClient,
  type HubError,
  type Message,
  type SubscribedInfo,
  type SubscribeOptions,
} from '../../client/src/index.js';
import { type Cmd, type FakeConnection, FakeHub } from './fake-hub.js';
import { argsOf, watch } from './wait.js';

const hubs: FakeHub[] = [];
const clients: HubClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

const CH = 'chat:room';

async function setup(options: SubscribeOptions = {}) {
  const hub = await FakeHub.start();
  hubs.push(hub);
  const client = new HubClient(hub.url, { WebSocket, _random: () => 0.5, reconnect: { minDelayMs: 10, maxDelayMs: 20 } });
  clients.push(client);
  const sub = client.subscribe(CH, options);
  const events = watch(hub.signal, sub, 'message', 'subscribed', 'error', 'join', 'leave');
  const conn = await hub.connected(0);
  const messages = () => argsOf<Message>(events, 'message').map((m) => [m.epoch, m.offset]);
  const subscribed = () => argsOf<SubscribedInfo>(events, 'subscribed');
  return { hub, client, sub, events, conn, messages, subscribed };
}

function subscribeReply(conn: FakeConnection, cmd: Cmd, offset: number, epoch: string, extra: Record<string, unknown> = {}) {
  conn.reply(cmd, { offset, epoch, ...extra });
}

const pubs = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ offset: from + i, data: from + i, time: 1 }));

describe('Subscription delivery', () => {
  it('remembers the first reply as its position, and delivers live publications once, in order', async () => {
    const { hub, sub, conn, messages, subscribed } = await setup();
    const cmd = await conn.next('subscribe');
    expect(cmd).toEqual({ id: cmd.id, method: 'subscribe', channel: CH });
    subscribeReply(conn, cmd, 5, 'e1');
    expect(await sub.ready).toEqual({ recovered: false, offset: 5, epoch: 'e1' });
    expect(sub.state).toBe('subscribed');
    expect(subscribed()).toEqual([{ recovered: false, offset: 5, epoch: 'e1' }]);
    for (const offset of [5, 6, 7, 6, 7, 8]) conn.pub(CH, offset, 'e1');
    await hub.until(() => messages().length === 3);
    conn.pub(CH, 9, 'e1');
    await hub.until(() => messages().length === 4);
    expect(messages()).toEqual([
      ['e1', 6],
      ['e1', 7],
      ['e1', 8],
      ['e1', 9],
    ]);
    expect(sub.position).toEqual({ offset: 9, epoch: 'e1' });
    expect(conn.sent('subscribe')).toHaveLength(1);
  });

  it('passes the message fields through: data, offset, epoch, channel and from', async () => {
    const { hub, events, conn } = await setup();
    subscribeReply(conn, await conn.next('subscribe'), 0, 'e');
    const from: ClientInfo = { client: 'c9', user: 'alice' };
    conn.push({ push: 'pub', channel: CH, offset: 1, epoch: 'e', data: { text: 'hi' }, from });
    await hub.until(() => argsOf(events, 'message').length === 1);
    expect(argsOf<Message>(events, 'message')[0]).toMatchObject({ channel: CH, offset: 1, epoch: 'e', data: { text: 'hi' }, from });
  });

  it('delivers the newest publications asked for with last, then resumes with since (not last) after a reconnect', async () => {
    const { hub, conn, messages, subscribed } = await setup({ last: 2 });
    const cmd = await conn.next('subscribe');
    expect(cmd.last).toBe(2);
    subscribeReply(conn, cmd, 10, 'e', { publications: pubs(9, 10) });
    await hub.until(() => messages().length === 2);
    conn.terminate();
    const second = await hub.connected(1);
    const again = await second.next('subscribe');
    expect(again).toMatchObject({ since: { offset: 10, epoch: 'e' } });
    expect(again.last).toBeUndefined();
    subscribeReply(second, again, 12, 'e', { recovered: true, publications: pubs(11, 12) });
    await hub.until(() => messages().length === 4);
    expect(messages().map(([, o]) => o)).toEqual([9, 10, 11, 12]);
    expect(subscribed().map((s) => s.recovered)).toEqual([false, true]);
  });

  it('recovers a gap on a live subscription: unsubscribe and subscribe since in one frame, replay merged with racing pushes', async () => {
    const { hub, conn, messages } = await setup();
    subscribeReply(conn, await conn.next('subscribe'), 0, 'e');
    conn.pub(CH, 1, 'e');
    conn.pub(CH, 3, 'e'); // 2 was lost
    const unsub = await conn.next('unsubscribe');
    const resub = await conn.next('subscribe');
    expect(conn.raw.at(-1)).toEqual([unsub, resub]);
    expect(resub.since).toEqual({ offset: 1, epoch: 'e' });
    // Pushes of the old subscription still on the wire, then the replies.
    conn.pub(CH, 4, 'e');
    conn.reply(unsub);
    subscribeReply(conn, resub, 4, 'e', { recovered: true, publications: pubs(2, 4) });
    conn.pub(CH, 5, 'e');
    await hub.until(() => messages().length === 5);
    expect(messages().map(([, o]) => o)).toEqual([1, 2, 3, 4, 5]);
  });

  it('treats a new epoch as a gap and reports recovered: false when the stream cannot be replayed', async () => {
    const { hub, conn, messages, subscribed } = await setup();
    subscribeReply(conn, await conn.next('subscribe'), 0, 'old');
    conn.pub(CH, 1, 'old');
    conn.pub(CH, 1, 'new');
    await conn.next('unsubscribe');
    const resub = await conn.next('subscribe');
    expect(resub.since).toEqual({ offset: 1, epoch: 'old' });
    conn.pub(CH, 1, 'old'); // a duplicate from the old stream: never delivered again
    subscribeReply(conn, resub, 3, 'new', { recovered: false });
    conn.pub(CH, 4, 'new');
    await hub.until(() => messages().length === 2);
    expect(messages()).toEqual([
      ['old', 1],
      ['new', 4],
    ]);
    expect(subscribed().map((s) => [s.recovered, s.epoch, s.offset])).toEqual([
      [false, 'old', 0],
      [false, 'new', 3],
    ]);
  });

  it('resubscribes with since after a reconnect and replays what it missed, exactly once', async () => {
    const { hub, conn, messages, subscribed } = await setup();
    subscribeReply(conn, await conn.next('subscribe'), 0, 'e');
    conn.pub(CH, 1, 'e');
    conn.pub(CH, 2, 'e');
    await hub.until(() => messages().length === 2);
    conn.close(4001, 'slow consumer');
    const second = await hub.connected(1);
    const cmd = await second.next('subscribe');
    expect(cmd.since).toEqual({ offset: 2, epoch: 'e' });
    subscribeReply(second, cmd, 5, 'e', { recovered: true, publications: pubs(2, 5) });
    second.pub(CH, 6, 'e');
    await hub.until(() => messages().length === 6);
    expect(messages().map(([, o]) => o)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(subscribed().map((s) => s.recovered)).toEqual([false, true]);
  });

  it('says recovered: false after a reconnect when the missed publications are gone, and replays nothing', async () => {
    const { hub, conn, messages, subscribed } = await setup();
    subscribeReply(conn, await conn.next('subscribe'), 0, 'e');
    conn.pub(CH, 1, 'e');
    await hub.until(() => messages().length === 1);
    conn.terminate();
    const second = await hub.connected(1);
    subscribeReply(second, await second.next('subscribe'), 500, 'e', { recovered: false });
    second.pub(CH, 501, 'e');
    await hub.until(() => messages().length === 2);
    expect(messages().map(([, o]) => o)).toEqual([1, 501]);
    expect(subscribed().at(-1)).toEqual({ recovered: false, offset: 500, epoch: 'e' });
  });

  it('subscribes again from its position on a resubscribe push (no unsubscribe: the server dropped it)', async () => {
    const { hub, conn, messages } = await setup();
    subscribeReply(conn, await conn.next('subscribe'), 0, 'e');
    conn.pub(CH, 1, 'e');
    conn.push({ push: 'resubscribe', channel: CH, reason: 'publications lost on this node' });
    const cmd = await conn.next('subscribe');
    expect(cmd.since).toEqual({ offset: 1, epoch: 'e' });
    expect(conn.sent('unsubscribe')).toEqual([]);
    subscribeReply(conn, cmd, 3, 'e', { recovered: true, publications: pubs(2, 3) });
    await hub.until(() => messages().length === 3);
    expect(messages().map(([, o]) => o)).toEqual([1, 2, 3]);
  });

  it('keeps one subscribe in flight: a resubscribe push during one subscribes again after its reply', async () => {
    const { hub, conn, messages } = await setup();
    const first = await conn.next('subscribe');
    conn.push({ push: 'resubscribe', channel: CH, reason: 'lost' });
    subscribeReply(conn, first, 2, 'e');
    const unsub = await conn.next('unsubscribe');
    const second = await conn.next('subscribe');
    expect(conn.sent('subscribe')).toHaveLength(2);
    expect(second.since).toBeUndefined();
    conn.reply(unsub);
    subscribeReply(conn, second, 2, 'e');
    conn.pub(CH, 3, 'e');
    await hub.until(() => messages().length === 1);
    expect(messages()).toEqual([['e', 3]]);
  });

  it('does not recover with recover: false: fresh subscribes, gaps delivered as they come', async () => {
    const { hub, conn, messages, subscribed } = await setup({ recover: false });
    subscribeReply(conn, await conn.next('subscribe'), 0, 'e');
    conn.pub(CH, 1, 'e');
    conn.pub(CH, 3, 'e');
    await hub.until(() => messages().length === 2);
    conn.terminate();
    const second = await hub.connected(1);
    const cmd = await second.next('subscribe');
    expect(cmd.since).toBeUndefined();
    subscribeReply(second, cmd, 9, 'e');
    await hub.until(() => subscribed().length === 2);
    expect(subscribed()[1]).toEqual({ recovered: false, offset: 9, epoch: 'e' });
    expect(messages().map(([, o]) => o)).toEqual([1, 3]);
  });

  it('delivers join and leave, and sends joinLeave when asked', async () => {
    const { hub, events, conn } = await setup({ joinLeave: true });
    const cmd = await conn.next('subscribe');
    expect(cmd.joinLeave).toBe(true);
    subscribeReply(conn, cmd, 0, 'e');
    const member = { client: 'c2', user: 'bob' };
    conn.push({ push: 'join', channel: 'chat:elsewhere', member });
    conn.push({ push: 'join', channel: CH, member });
    conn.push({ push: 'leave', channel: CH, member });
    await hub.until(() => argsOf(events, 'leave').length === 1);
    expect(events.filter((e) => e.type === 'join' || e.type === 'leave').map((e) => [e.type, e.arg])).toEqual([
      ['join', member],
      ['leave', member],
    ]);
  });
});

describe('Subscription errors and lifecycle', () => {
  it('fails for good on a permanent error: error event, ready rejects, no retry', async () => {
    const { hub, client, sub, events, conn } = await setup();
    conn.fail(await conn.next('subscribe'), 'unknown_namespace');
    const err = await sub.ready.then(
      () => undefined,
      (e: HubError) => e,
    );
    expect(err?.code).toBe('unknown_namespace');
    expect(argsOf<HubError>(events, 'error').map((e) => e.code)).toEqual(['unknown_namespace']);
    expect(sub.state).toBe('unsubscribed');
    // The channel is free again, and a reconnect does not resubscribe the failed one.
    const again = client.subscribe(CH);
    subscribeReply(conn, await conn.next('subscribe'), 0, 'e');
    await again.ready;
    conn.terminate();
    const second = await hub.connected(1);
    await second.next('subscribe');
    expect(second.sent('subscribe')).toHaveLength(1);
  });

  it('retries a temporary error after a backoff delay, with since', async () => {
    const { sub, events, conn } = await setup();
    conn.fail(await conn.next('subscribe'), 'limit_exceeded', true);
    const retry = await conn.next('subscribe');
    expect(argsOf<HubError>(events, 'error').map((e) => [e.code, e.temporary])).toEqual([['limit_exceeded', true]]);
    subscribeReply(conn, retry, 0, 'e');
    expect(await sub.ready).toEqual({ recovered: false, offset: 0, epoch: 'e' });
  });

  it('stops delivering after unsubscribe and tells the server', async () => {
    const { hub, client, sub, conn, messages } = await setup();
    subscribeReply(conn, await conn.next('subscribe'), 0, 'e');
    conn.pub(CH, 1, 'e');
    await hub.until(() => messages().length === 1);
    sub.unsubscribe();
    expect(sub.state).toBe('unsubscribed');
    conn.reply(await conn.next('unsubscribe'));
    conn.pub(CH, 2, 'e');
    // A marker on another channel proves the pub before it was processed.
    const other = client.subscribe('chat:other');
    const otherMessages = watch(hub.signal, other, 'message');
    subscribeReply(conn, await conn.next('subscribe'), 0, 'e');
    conn.pub('chat:other', 1, 'e');
    await hub.until(() => otherMessages.length === 1);
    expect(messages()).toHaveLength(1);
  });

  it('refuses a second subscription to the same channel', async () => {
    const { client } = await setup();
    expect(() => client.subscribe(CH)).toThrow(/already subscribed to chat:room/);
  });

  it('rejects ready when unsubscribed before the server answered', async () => {
    const { sub } = await setup();
    sub.unsubscribe();
    await expect(sub.ready).rejects.toMatchObject({ code: 'unsubscribed' });
  });
});

describe('Subscription commands', () => {
  it('sends history, presence and presence_stats for its channel and returns what the server says', async () => {
    const { sub, conn } = await setup();
    const history = sub.history({ limit: 2, reverse: true });
    const hcmd = await conn.next('history');
    expect(hcmd).toMatchObject({ channel: CH, limit: 2, reverse: true });
    conn.reply(hcmd, { publications: pubs(4, 5), offset: 5, epoch: 'e' });
    expect((await history).publications).toEqual([
      { offset: 4, data: 4, time: 1, channel: CH, epoch: 'e' },
      { offset: 5, data: 5, time: 1, channel: CH, epoch: 'e' },
    ]);
    const presence = sub.presence();
    const members = [{ client: 'c0', user: '' }];
    conn.reply(await conn.next('presence'), { members });
    expect(await presence).toEqual(members);
  });

  it('publishes with an idempotency key when given', async () => {
    const { sub, conn } = await setup();
    const ack = sub.publish({ n: 1 }, { idempotencyKey: 'k1' });
    const cmd = await conn.next('publish');
    expect(cmd).toMatchObject({ channel: CH, data: { n: 1 }, idempotencyKey: 'k1' });
    conn.reply(cmd, { offset: 1, epoch: 'e' });
    expect(await ack).toEqual({ offset: 1, epoch: 'e' });
  });
});

describe('Leaderboard', () => {
  it('emits the top-N from the subscribe reply, then each board push, cut to its top option', async () => {
    const hub = await FakeHub.start();
    hubs.push(hub);
    const client = new HubClient(hub.url, { WebSocket });
    clients.push(client);
    const board = client.leaderboard('scores:weekly', { top: 2 });
    const updates = watch(hub.signal, board, 'update');
    const conn = await hub.connected(0);
    const cmd = await conn.next('subscribe');
    const e = (member: string, score: number, rank: number): BoardEntry => ({ member, score, rank });
    conn.reply(cmd, { offset: 0, epoch: 'b', entries: [e('a', 3, 0), e('b', 2, 1), e('c', 1, 2)] });
    conn.push({ push: 'board', channel: 'scores:weekly', entries: [e('c', 9, 0), e('a', 3, 1), e('b', 2, 2)] });
    await hub.until(() => updates.length === 2);
    expect(argsOf(updates, 'update')).toEqual([
      [e('a', 3, 0), e('b', 2, 1)],
      [e('c', 9, 0), e('a', 3, 1)],
    ]);
    expect(board.entries).toEqual([e('c', 9, 0), e('a', 3, 1)]);

    const top = board.top();
    const topCmd = await conn.next('top');
    expect(topCmd).toMatchObject({ channel: 'scores:weekly', limit: 2 });
    conn.reply(topCmd, { entries: [e('c', 9, 0)] });
    expect(await top).toEqual([e('c', 9, 0)]);

    const rank = board.rank('a');
    conn.reply(await conn.next('rank'), { rank: 1, score: 3 });
    expect(await rank).toEqual({ rank: 1, score: 3 });

    const around = board.around('a', 1);
    const aroundCmd = await conn.next('around');
    expect(aroundCmd).toMatchObject({ member: 'a', n: 1 });
    conn.reply(aroundCmd, { entries: [e('c', 9, 0), e('a', 3, 1), e('b', 2, 2)] });
    expect(await around).toHaveLength(3);

    const incr = board.incr('b', 5);
    const incrCmd = await conn.next('incr');
    expect(incrCmd).toMatchObject({ member: 'b', by: 5 });
    conn.reply(incrCmd, { score: 7 });
    expect(await incr).toBe(7);

    // A reconnect subscribes afresh (a board has no stream to recover) and re-sends the top.
    conn.terminate();
    const second = await hub.connected(1);
    const again = await second.next('subscribe');
    expect(again.since).toBeUndefined();
    second.reply(again, { offset: 0, epoch: 'b', entries: [e('b', 7, 0)] });
    await hub.until(() => updates.length === 3);
    expect(board.entries).toEqual([e('b', 7, 0)]);
  });
});

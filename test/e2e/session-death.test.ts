// A connection that drops while its batch is still running (a command awaits I/O: token
// verification, or Redis) must leave nothing behind: no ghost members in channels, no channel or
// engine subscription held for it, no buffered publications.

import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HubTestClient } from '../helpers/hub-client.js';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';
import { redisAvailable, RedisServer } from '../helpers/redis-server.js';

const SECRET = 'session-death-test-secret-32-chars!!';
const namespaces = { chat: { history: { size: 10 }, presence: true, clientPublish: true } };

async function token(): Promise<string> {
  return new SignJWT({ sub: 'ghost', caps: { 'chat:*': ['subscribe', 'publish', 'presence', 'history'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

/** Opens a socket, sends connect + 40 subscribes in one batch, and drops the socket at once. */
async function dropMidBatch(hub: TestHub, round: number): Promise<void> {
  const ws = new WebSocket(hub.url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const batch: object[] = [{ id: 1, method: 'connect', token: await token() }];
  for (let i = 0; i < 40; i++) batch.push({ id: i + 2, method: 'subscribe', channel: `chat:r${round}-${i % 8}` });
  ws.send(JSON.stringify(batch));
  ws.terminate();
}

async function expectNothingLeft(hub: TestHub): Promise<void> {
  // A watcher whose own frames prove the hub has run everything sent before it.
  const watcher = await HubTestClient.open(hub.url, { connect: false });
  await watcher.call('connect', { token: await token() });
  const settled = () => {
    const s = hub.hub.stats();
    return s.connections === 1 && s.channels === 0 && s.subscriptions === 0;
  };
  for (let i = 0; i < 200 && !settled(); i++) await watcher.call('ping');
  expect(hub.hub.stats()).toMatchObject({ connections: 1, channels: 0, subscriptions: 0 });
  // The hub's own control channel is the only interest left.
  const engine = await hub.engine.stats();
  if (engine.interest !== undefined) expect(engine.interest).toBe(1);
  // And the channels still work for a live subscriber.
  await watcher.call('subscribe', { channel: 'chat:r0-0' });
  await watcher.call('publish', { channel: 'chat:r0-0', data: 'alive' });
  await watcher.until(() => watcher.pushesOf('pub', 'chat:r0-0').length === 1);
  watcher.close();
  await watcher.closed;
}

describe('a connection that drops mid-batch, memory engine with auth', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub('ws', { namespaces, auth: { hmacSecret: SECRET } });
  });
  afterAll(() => hub.close());

  it('leaves no ghost subscriptions, channels or engine interest behind', async () => {
    for (let round = 0; round < 10; round++) await dropMidBatch(hub, round);
    await expectNothingLeft(hub);
  });
});

describe('a connection that drops mid-batch, Redis engine', () => {
  if (!redisAvailable('session death on the Redis engine')) return;
  let redis: RedisServer;
  let hub: TestHub;
  beforeAll(async () => {
    redis = await RedisServer.start();
    hub = await startTestHub('uws', {
      namespaces,
      auth: { hmacSecret: SECRET },
      engine: { type: 'redis', url: redis.url, keyPrefix: 'death:' },
    });
  });
  afterAll(async () => {
    await hub.close();
    await redis.stop();
  });

  it('leaves no ghost subscriptions or channels behind', async () => {
    for (let round = 0; round < 10; round++) await dropMidBatch(hub, round);
    await expectNothingLeft(hub);
  });
});

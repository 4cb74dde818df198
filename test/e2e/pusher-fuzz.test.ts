// Hostile input on the Pusher endpoint: attacker connections send random and mutated Pusher
// frames (well-formed events with hostile fields, forged signatures, broken JSON, binary, huge
// frames) while a pusher-js control client must receive every server event, once and in order,
// and the hub must stay up, on both transports.

import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { API_KEY, APP, next, type PusherHub, startPusherHub, until } from '../helpers/pusher.js';

const channels = ['news', 'private-a', 'presence-a', 'private-encrypted-a', 'a;b', '#server-to-user-x', '', 'x'.repeat(300), '__proto__', 'private-', 'ünï'];
const value: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...channels),
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 4 }),
  fc.constant(`${APP.key}:${'f'.repeat(64)}`),
  fc.constant('{"user_id":"u","user_info":{"__proto__":1}}'),
);
const message = fc.record(
  {
    event: fc.oneof(
      fc.constantFrom('pusher:subscribe', 'pusher:unsubscribe', 'pusher:ping', 'pusher:signin', 'client-x', 'pusher:nope', ''),
      fc.string({ maxLength: 20 }),
    ),
    channel: value,
    data: fc.oneof(
      fc.record({ channel: value, auth: value, channel_data: value }, { requiredKeys: [] }),
      value,
    ),
  },
  { requiredKeys: [] },
);
const frame: fc.Arbitrary<string | Buffer> = fc.oneof(
  { weight: 6, arbitrary: message.map((m) => JSON.stringify(m)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.constant('[' .repeat(5000)) },
);

async function attack(port: number, frames: (string | Buffer)[]): Promise<Record<string, number>> {
  const closes: Record<string, number> = {};
  let i = 0;
  const attacker = async (): Promise<void> => {
    while (i < frames.length) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${APP.key}?protocol=7`);
      ws.on('error', () => {});
      ws.on('message', () => {});
      const closed = new Promise<void>((resolve) =>
        ws.on('close', (code) => {
          closes[code] = (closes[code] ?? 0) + 1;
          resolve();
        }),
      );
      await new Promise<void>((resolve) => ws.once('open', () => resolve()).once('close', () => resolve()));
      while (i < frames.length && ws.readyState === WebSocket.OPEN) {
        const f = frames[i++] as string | Buffer;
        ws.send(f, { binary: Buffer.isBuffer(f) });
        if (i % 20 === 0) await new Promise((r) => setImmediate(r));
      }
      ws.close();
      await closed;
    }
  };
  await Promise.all([attacker(), attacker(), attacker()]);
  return closes;
}

describe.each(['ws', 'uws'] as const)('Pusher endpoint under hostile frames over %s', (transport) => {
  let h: PusherHub;
  beforeAll(async () => {
    h = await startPusherHub(transport, { limits: { commands: { rate: 100000, burst: 100000 } } }, {}, 'process');
  }, 40_000);
  afterAll(async () => {
    await h?.close();
  });

  it('keeps serving a control client every event, once and in order, while attackers send random frames', async () => {
    const control = await h.client('control');
    const ch = control.subscribe('control');
    await next(ch, 'pusher:subscription_succeeded');
    const got: number[] = [];
    ch.bind('n', (d: unknown) => got.push(d as number));
    const frames = fc.sample(frame, { numRuns: 1500, seed: 20261207 });
    const published = (async () => {
      for (let n = 0; n < 100; n++) {
        const res = await fetch(`http://127.0.0.1:${h.port}/api/publish`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ channel: 'pusher_app1:control', data: { event: 'n', data: String(n) } }),
        });
        expect(res.status).toBe(200);
      }
    })();
    const closes = await attack(h.port, frames);
    await published;
    await until(() => got.length >= 100, `100 control events (got ${got.length})`, 10_000);
    expect(got).toEqual([...Array(100).keys()]);
    expect(control.connection.state).toBe('connected');
    // The attackers were answered with Pusher's codes (or closed by themselves), never a crash.
    expect(Object.keys(closes).every((c) => ['1000', '1005', '1006', '1007', '1009', '4009', '4100'].includes(c))).toBe(true);
    const health = await fetch(`http://127.0.0.1:${h.port}/health`);
    expect(health.status).toBe(200);
    // No attacker frame reached a bug (each would log connection_handler_failed and close with 1011 -> 4200).
    expect(h.hub.output()).not.toMatch(/connection_handler_failed|command failed/);
    expect(closes['4200']).toBeUndefined();
    control.disconnect();
  }, 60_000);

  it('answers signed HTTP API requests with hostile bodies and paths with 4xx, never 500, and keeps publishing', async () => {
    const bodies = fc.sample(
      fc.oneof(
        fc.record({ name: value, data: value, channels: fc.oneof(value, fc.array(value, { maxLength: 120 })), socket_id: value }, { requiredKeys: [] }),
        fc.record({ batch: fc.oneof(value, fc.array(fc.record({ channel: value, name: value, data: value, socket_id: value }, { requiredKeys: [] }), { maxLength: 12 })) }),
        value,
      ).map((b) => (b === undefined ? '' : JSON.stringify(b))),
      { numRuns: 150, seed: 20261208 },
    );
    const paths = ['/events', '/batch_events', '/channels', '/channels/%ZZ', '/channels/a%3Bb/users', '/users/%00/terminate_connections', '/channels/presence-x', '/nope'];
    const statuses = new Map<number, number>();
    for (let i = 0; i < bodies.length; i++) {
      const body = bodies[i] as string;
      const method = i % 3 === 0 ? 'GET' : 'POST';
      const path = `/apps/${APP.id}${paths[i % paths.length] as string}`;
      const params = [`auth_key=${APP.key}`, `auth_timestamp=${Math.floor(Date.now() / 1000)}`, 'auth_version=1.0'];
      if (method === 'POST' && body !== '') params.push(`body_md5=${createHash('md5').update(body).digest('hex')}`);
      params.push('info=user_count,subscription_count');
      params.sort();
      const query = params.join('&');
      const signature = createHmac('sha256', APP.secret).update(`${method}\n${path}\n${query}`).digest('hex');
      const res = await fetch(`http://127.0.0.1:${h.port}${path}?${query}&auth_signature=${signature}`, {
        method,
        ...(method === 'POST' ? { body, headers: { 'content-type': 'application/json' } } : {}),
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
    expect([...statuses.keys()].filter((s) => s >= 500), h.hub.output().slice(-3000)).toEqual([]);
    // Some requests were valid and some refused: the fuzz reached past the signature into the routes.
    expect(statuses.get(200)).toBeGreaterThan(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
    const ok = await h.sdk().trigger('after-fuzz', 'e', {});
    expect(ok.status).toBe(200);
    expect(h.hub.output()).not.toMatch(/pusher api request failed/);
  }, 60_000);
});

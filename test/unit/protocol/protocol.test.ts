import { describe, expect, it } from 'vitest';
import {
  CloseCodes,
  errorFrame,
  HubError,
  parseChannel,
  parseFrame,
  publicationFrame,
  shouldReconnect,
} from '../../../src/protocol/index.js';

describe('parseFrame', () => {
  it('turns a command into a typed command and a batch into several', () => {
    expect(parseFrame('{"id":1,"method":"publish","channel":"chat:a","data":{"x":[1,null]}}')).toEqual({
      kind: 'commands',
      batch: false,
      items: [{ id: 1, method: 'publish', channel: 'chat:a', data: { x: [1, null] } }],
    });
    const batch = parseFrame('[{"id":1,"method":"ping"},{"id":2,"method":"subscribe","channel":"chat:a","last":5}]');
    expect(batch).toMatchObject({ kind: 'commands', batch: true, items: [{ id: 1 }, { id: 2, last: 5 }] });
  });

  it('rejects what it can reply to with a coded error per command', () => {
    const parsed = parseFrame(
      '[{"id":1,"method":"fly"},{"id":2,"method":"subscribe","channel":7},{"id":3,"method":"ping","x":1}]',
    );
    if (parsed.kind !== 'commands') throw new Error('expected commands');
    const codes = parsed.items.map((i) => ('error' in i ? [i.id, i.error.code] : [i.id, 'ok']));
    expect(codes).toEqual([
      [1, 'unknown_method'],
      [2, 'bad_request'],
      [3, 'bad_request'],
    ]);
    const first = parsed.items[1];
    expect(first && 'error' in first && first.error.message).toMatch(/^subscribe: channel: /);
  });

  it('asks to close when nothing can be replied to', () => {
    for (const text of ['nope', '{"method":"ping"}', '{"id":-1,"method":"ping"}', '[]', '5', '[1]']) {
      expect(parseFrame(text)).toMatchObject({ kind: 'close', code: CloseCodes.bad_frame });
    }
    expect(parseFrame(JSON.stringify(Array.from({ length: 101 }, (_, i) => ({ id: i + 1, method: 'ping' }))))).toMatchObject(
      { kind: 'close', reason: 'a batch holds 1 to 100 commands' },
    );
  });
});

describe('parseChannel', () => {
  it('splits namespace and name, and refuses names outside the rules', () => {
    expect(parseChannel('chat:room-1.a@b')).toEqual({ namespace: 'chat', name: 'room-1.a@b' });
    for (const bad of ['nocolon', ':x', 'Chat:x', 'chat:', 'chat:sp ace', `chat:${'x'.repeat(201)}`, 'chat:a*']) {
      expect(() => parseChannel(bad)).toThrow(expect.objectContaining({ code: 'invalid_channel' }));
    }
  });
});

describe('frames', () => {
  it('embeds the payload text as it is, encoded once, and round-trips as JSON', () => {
    const frame = publicationFrame('chat:a', { offset: 3, data: '{"t":"hi"}', time: 1, from: { client: 'c', user: 'u' } }, 'e1');
    expect(JSON.parse(frame)).toEqual({
      push: 'pub',
      channel: 'chat:a',
      offset: 3,
      epoch: 'e1',
      data: { t: 'hi' },
      from: { client: 'c', user: 'u' },
    });
    const err = JSON.parse(errorFrame(4, new HubError('rate_limited', 'slow down', { retryAfterMs: 10 })));
    expect(err).toEqual({
      id: 4,
      error: { code: 'rate_limited', message: 'slow down', temporary: true, details: { retryAfterMs: 10 } },
    });
  });

  it('tells clients to reconnect for 4000-4099 and not for 4100-4199', () => {
    expect(shouldReconnect(CloseCodes.shutdown)).toBe(true);
    expect(shouldReconnect(CloseCodes.slow_consumer)).toBe(true);
    expect(shouldReconnect(CloseCodes.bad_frame)).toBe(false);
    expect(shouldReconnect(CloseCodes.message_too_big)).toBe(false);
    expect(shouldReconnect(1006)).toBe(true);
  });
});

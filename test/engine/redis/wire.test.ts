// The Redis engine's formats on their own: the key layout (hash tags) and the messages it writes
// on pub/sub topics, including what it does with messages it did not write.

import { describe, expect, it } from 'vitest';
import { KeyLayout } from '../../../src/engine/redis/keys.js';
import { toHubError } from '../../../src/engine/redis/redis-errors.js';
import { HubError } from '../../../src/protocol/errors.js';
import { decodeEntries, decodeTopicMessage, WireError } from '../../../src/engine/redis/wire.js';

describe('KeyLayout', () => {
  const keys = new KeyLayout('hubbub:');

  it('tags every key of a channel, and its topic, with the channel', () => {
    const k = keys.channel('chat:lobby');
    expect(k.topic).toBe('hubbub:{chat:lobby}');
    for (const key of [k.meta, k.stream, k.presence, k.presenceExpiry, k.presenceUsers, k.board]) {
      expect(key.startsWith('hubbub:{chat:lobby}:')).toBe(true);
    }
    expect(keys.idempotency('chat:lobby', 'k1')).toBe('hubbub:{chat:lobby}:i:k1');
  });

  it('finds the channel of one of its topics, braces in the name included', () => {
    expect(keys.channelOfTopic(keys.channel('chat:a}b{c').topic)).toBe('chat:a}b{c');
    expect(keys.channelOfTopic('other:{chat:a}')).toBeUndefined();
    expect(keys.channelOfTopic('hubbub:chat:a')).toBeUndefined();
  });
});

describe('topic messages', () => {
  it('reads a publication with and without an author, the payload untouched', () => {
    const data = '{"text":"two\\nlines and a space"}\n raw';
    expect(decodeTopicMessage(`p12 ep0c 1700000000123\n\n${data}`)).toEqual({
      kind: 'publication',
      epoch: 'ep0c',
      publication: { offset: 12, time: 1700000000123, data },
    });
    const from = { client: 'c1', user: 'u', info: { n: 1 } };
    expect(decodeTopicMessage(`p1 e 5\n${JSON.stringify(from)}\n"x"`)).toEqual({
      kind: 'publication',
      epoch: 'e',
      publication: { offset: 1, time: 5, data: '"x"', from },
    });
  });

  it('reads joins, leaves and board updates', () => {
    expect(decodeTopicMessage('j{"client":"c","user":"u"}')).toEqual({ kind: 'join', member: { client: 'c', user: 'u' } });
    expect(decodeTopicMessage('l{"client":"c","user":"u"}')).toEqual({ kind: 'leave', member: { client: 'c', user: 'u' } });
    expect(decodeTopicMessage('b-2.5\nalice\nbob')).toEqual({ kind: 'board', update: { member: 'alice\nbob', score: -2.5 } });
    expect(decodeTopicMessage('b\nalice')).toEqual({ kind: 'board', update: { member: 'alice', score: null } });
  });

  it('refuses what it did not write', () => {
    for (const bad of ['', 'x', 'p1 e', 'j{"client":1}', 'jnot json', 'bnoline']) {
      expect(() => decodeTopicMessage(bad)).toThrow();
    }
    expect(() => decodeTopicMessage('zzz')).toThrow(WireError);
  });

  it('reads stream entries, and refuses malformed ones', () => {
    expect(decodeEntries([['7-0', ['t', '9', 'd', '"a"', 'f', '{"client":"c","user":"u"}']]])).toEqual([
      { offset: 7, time: 9, data: '"a"', from: { client: 'c', user: 'u' } },
    ]);
    expect(() => decodeEntries('nope')).toThrow(WireError);
    expect(() => decodeEntries([['1-0', ['t', '1']]])).toThrow(WireError);
  });
});

describe('Redis errors, as callers see them', () => {
  const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

  it('makes an outage, or Redis not serving for now, a temporary unavailable', () => {
    for (const err of [new Error('Connection is closed.'), new Error('Command timed out'), reply('LOADING Redis is loading'), reply('OOM command not allowed')]) {
      const hubError = toHubError(err, 'publish');
      expect(hubError.code).toBe('unavailable');
      expect(hubError.temporary).toBe(true);
    }
  });

  it('maps our script refusals to their codes, and anything else to internal', () => {
    expect(toHubError(reply('HUBBUB_INVALID_SCORE x'), 'incr').code).toBe('invalid_score');
    expect(toHubError(reply('WRONGTYPE Operation against a key holding the wrong kind of value'), 'incr').code).toBe('internal');
    expect(toHubError(new WireError('bad'), 'history').code).toBe('internal');
    const own = new HubError('bad_request', 'x');
    expect(toHubError(own, 'publish')).toBe(own);
  });
});
